//! Training a byte-level BPE tokenizer: count the pieces of a corpus (in parallel), learn
//! merges from the counts, and write a `tokenizer.json` that HF `tokenizers` loads and
//! encodes with exactly as seqpack does. The initial alphabet is all 256 bytes, so every
//! text encodes, whatever the corpus contained.

mod corpus;
mod count;
mod merge;
mod write;

use std::path::Path;

use rustc_hash::FxHashSet;

use self::count::Counts;
use super::added::{AddedToken, AddedTokens};
use super::bytes;
use super::pretokenize::{GPT2_PATTERN, LLAMA3_PATTERN, PreTokenizer, Stage};
use super::tokenizer::BpeTokenizer;
use crate::{Error, Result};

pub use self::corpus::read_documents;

/// The largest vocabulary the trainer makes (ids stay far from any limit).
pub const MAX_VOCAB_SIZE: u32 = 1 << 24;

/// How training text is cut into pieces before merging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// GPT-2's pattern (written as HF's plain `ByteLevel` pre-tokenizer).
    Gpt2,
    /// Llama 3's pattern (written as `Split` + `ByteLevel`).
    Llama3,
    /// Any other regex (`fancy-regex` syntax), written as `Split` + `ByteLevel`.
    Custom(String),
}

impl Pattern {
    /// `"gpt2"`, `"llama3"`, or else a regex.
    pub fn from_name_or_regex(spec: &str) -> Self {
        match spec {
            "gpt2" => Pattern::Gpt2,
            "llama3" => Pattern::Llama3,
            regex => Pattern::Custom(regex.to_owned()),
        }
    }

    pub fn regex(&self) -> &str {
        match self {
            Pattern::Gpt2 => GPT2_PATTERN,
            Pattern::Llama3 => LLAMA3_PATTERN,
            Pattern::Custom(regex) => regex,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TrainerOptions {
    /// Ids in the result: 256 bytes + merges + special tokens.
    pub vocab_size: u32,
    /// Given the last ids, in this order; cut out of the training text, never merged into.
    pub special_tokens: Vec<String>,
    pub pattern: Pattern,
    /// Pairs seen fewer times are not merged (training may then stop below `vocab_size`).
    pub min_frequency: u64,
}

pub struct BpeTrainer {
    options: TrainerOptions,
    pretokenizer: PreTokenizer,
    specials: AddedTokens,
    counts: Counts,
    documents: u64,
    bytes: u64,
}

impl BpeTrainer {
    pub fn new(options: TrainerOptions) -> Result<Self> {
        let specials = &options.special_tokens;
        let smallest = 256 + specials.len() as u64;
        if u64::from(options.vocab_size) < smallest || options.vocab_size > MAX_VOCAB_SIZE {
            return Err(Error::invalid_option(
                "vocab_size",
                format!(
                    "must be in {smallest}..={MAX_VOCAB_SIZE} (256 bytes + {} special tokens at least), got {}",
                    specials.len(),
                    options.vocab_size
                ),
            ));
        }
        let mut seen = FxHashSet::default();
        for (i, special) in specials.iter().enumerate() {
            let problem = if special.is_empty() {
                "is empty"
            } else if !seen.insert(special.as_str()) {
                "is listed twice"
            } else if special.chars().count() == 1
                && special.chars().all(|c| bytes::byte_of(c).is_some())
            {
                "is spelled like a byte token"
            } else {
                continue;
            };
            return Err(Error::invalid_option(
                "special_tokens",
                format!("[{i}] = {special:?} {problem}"),
            ));
        }
        let split = Stage::split(options.pattern.regex())
            .map_err(|e| Error::invalid_option("pattern", format!("is not a valid regex: {e}")))?;
        let specials = specials
            .iter()
            .map(|content| AddedToken {
                id: 0,
                content: content.clone(),
                special: true,
                single_word: false,
                lstrip: false,
                rstrip: false,
                normalized: false,
            })
            .collect();
        Ok(BpeTrainer {
            pretokenizer: PreTokenizer::new(vec![split]),
            specials: AddedTokens::new(specials),
            options,
            counts: Counts::default(),
            documents: 0,
            bytes: 0,
        })
    }

    /// Counts the pieces of `texts`, in parallel.
    pub fn feed<S: AsRef<str> + Sync>(&mut self, texts: &[S]) -> Result<()> {
        count::count(texts, &self.specials, &self.pretokenizer, &mut self.counts)?;
        self.documents += texts.len() as u64;
        self.bytes += texts.iter().map(|t| t.as_ref().len() as u64).sum::<u64>();
        Ok(())
    }

    /// Feeds the documents of a file: JSON Lines (`.jsonl`/`.ndjson`, the `"text"` field of
    /// each line) or, under any other name, UTF-8 text that is one document. `progress`
    /// hears the bytes of the file read so far, after each batch; its error stops the feed
    /// (what was fed before stays counted).
    pub fn feed_file(
        &mut self,
        path: &Path,
        progress: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<()> {
        corpus::for_each_batch(path, &mut |docs| self.feed(docs), progress)
    }

    /// Documents fed so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// UTF-8 bytes of text fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Learns the merges and returns the tokenizer (its `to_json` is the file to save).
    pub fn train(self) -> Result<BpeTokenizer> {
        let TrainerOptions {
            vocab_size,
            special_tokens,
            pattern,
            min_frequency,
        } = self.options;
        let merges_wanted = vocab_size as usize - 256 - special_tokens.len();
        // A merged token spelled like a special token would share its string in the file.
        let reserved = special_tokens
            .iter()
            .filter_map(|s| bytes::from_token_string(s))
            .collect();
        let learned = merge::learn(self.counts, merges_wanted, min_frequency.max(1), &reserved);
        let json = write::tokenizer_json(&learned, &special_tokens, pattern.regex());
        BpeTokenizer::from_json_named(&json, "trained tokenizer")
    }
}

#[cfg(test)]
mod tests;

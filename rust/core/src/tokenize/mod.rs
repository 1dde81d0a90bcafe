//! Tokenizers: text to token ids and back. One interface, [`Tokenizer`], three
//! implementations, and one [`load`] that reads a `tokenizer.json` once and picks the
//! implementation for it:
//!
//! - [`bpe`]: byte-level BPE (GPT-2, Llama 3 and their kin), seqpack's own encoder, identical
//!   to HF `tokenizers` and faster; also the trainer.
//! - [`ast`]: byte-level AST-BPE for source code and SQL (merges follow the parse); also the
//!   text2sql research reproduction, [`ast::sql`].
//! - [`hf`]: any other `tokenizer.json` (WordPiece, Unigram, WordLevel, BPE with other
//!   normalizers or pre-tokenizers), through the HF `tokenizers` crate.
//!
//! Everything above this module (`preprocess`, the bindings) sees only the trait.

pub mod ast;
pub mod bpe;
pub mod hf;
mod load;
pub(crate) mod pattern;

use std::path::Path;

pub use load::{from_json, load};

use crate::{Result, parallel};

/// Which implementation encodes: recorded in dataset manifests next to the fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Implementation {
    /// seqpack's byte-level BPE ([`bpe::BpeTokenizer`]).
    Bpe,
    /// seqpack's byte-level AST-BPE ([`ast::AstTokenizer`]).
    AstBpe,
    /// The HF `tokenizers` crate ([`hf::HfTokenizer`]).
    Hf,
}

impl Implementation {
    pub const ALL: [Implementation; 3] = [
        Implementation::Bpe,
        Implementation::AstBpe,
        Implementation::Hf,
    ];

    /// The name in manifests and in the Python API.
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Bpe => "bpe",
            Implementation::AstBpe => "ast-bpe",
            Implementation::Hf => "hf",
        }
    }

    /// Whether seqpack encodes itself (else the `tokenizers` crate does).
    pub fn is_native(self) -> bool {
        self != Implementation::Hf
    }
}

impl std::str::FromStr for Implementation {
    type Err = crate::Error;
    fn from_str(name: &str) -> Result<Self> {
        Implementation::ALL
            .into_iter()
            .find(|i| i.name() == name)
            .ok_or_else(|| {
                crate::Error::invalid_option(
                    "implementation",
                    format!("{name:?} is not one of \"bpe\", \"ast-bpe\", \"hf\""),
                )
            })
    }
}

/// A tokenizer: what every implementation offers, and all that the rest of seqpack uses.
pub trait Tokenizer: Send + Sync {
    fn implementation(&self) -> Implementation;

    /// The ids of `text`, as HF's `encode(text, add_special_tokens=...)`: added tokens found
    /// in the text become their ids; `add_special_tokens` adds what the file's post-processor
    /// puts around the text (nothing without one).
    fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>>;

    /// The ids of `text` without special tokens added, appended to `ids` (which saves a
    /// vector per document where an implementation can).
    fn encode_into(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        ids.extend(self.encode(text, false)?);
        Ok(())
    }

    /// [`Tokenizer::encode_into`], and where each token starts and ends in `text` (in bytes)
    /// appended to `starts` and `ends`, as the implementation aligns its tokens with the text
    /// it normalized (HF's offsets). `None` where it keeps no alignment: its tokens are
    /// placed by the bytes each decodes to.
    fn encode_aligned_into(
        &self,
        _text: &str,
        _ids: &mut Vec<u32>,
        _starts: &mut Vec<usize>,
        _ends: &mut Vec<usize>,
    ) -> Option<Result<()>> {
        None
    }

    /// [`Tokenizer::encode`] over many texts, in parallel.
    fn encode_batch(&self, texts: &[&str], add_special_tokens: bool) -> Result<Vec<Vec<u32>>> {
        parallel::try_map(
            texts,
            |text| text.len(),
            |text| self.encode(text, add_special_tokens),
        )
    }

    /// The bytes `ids` stand for (a slice of a longer encoding may cut a character, hence
    /// bytes). An id that stands for nothing is an error naming its index, on every
    /// implementation: decoding never drops an id silently.
    fn decode(&self, ids: &[u32]) -> Result<Vec<u8>>;

    /// Whether every encoding decodes, id by id, to the very text it was made from, byte for
    /// byte (a byte-level BPE: each id stands for the bytes it was merged from, an added
    /// token for its content). Where it does, a token's place in the text follows from the
    /// lengths of the tokens before it.
    fn decodes_to_its_text(&self) -> bool {
        false
    }

    /// The number of ids: one more than the largest, added tokens included.
    fn vocab_size(&self) -> u32;

    /// 16 hex digits that change whenever the ids of some text could.
    fn fingerprint(&self) -> &str;

    /// The id of a token spelled as in `tokenizer.json` (`"Ġthe"`), or of an added or
    /// special token's content.
    fn token_to_id(&self, token: &str) -> Option<u32>;

    /// The `tokenizer.json` spelling of an id; `None` if no token has it.
    fn id_to_token(&self, id: u32) -> Option<String>;

    /// The `tokenizer.json` text (as read, or as written by training).
    fn to_json(&self) -> &str;

    /// Writes the `tokenizer.json` atomically.
    fn save(&self, path: &Path) -> Result<()> {
        crate::shard::write_atomically(path, self.to_json().as_bytes())
    }

    /// The language whose parse guides merging (AST-BPE only).
    fn language(&self) -> Option<ast::Language> {
        None
    }

    /// Documents encoded so far that did not parse and were encoded as plain byte-level BPE
    /// (AST-BPE only).
    fn parse_fallbacks(&self) -> Option<u64> {
        None
    }
}

/// An id that stands for nothing, at `index` of the ids being decoded.
pub(crate) fn unknown_id(index: usize, id: u32, vocab_size: u32) -> crate::Error {
    crate::Error::UnknownTokenId {
        index,
        id,
        vocab_size,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod mutations;

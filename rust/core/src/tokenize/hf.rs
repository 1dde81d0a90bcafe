//! Tokenizers that seqpack does not encode itself (WordPiece, Unigram, WordLevel, or BPE with
//! normalizers and pre-tokenizers other than byte-level) run through the HuggingFace
//! `tokenizers` crate, so any `tokenizer.json` works with `preprocess` and the Python API.
//! Byte-level BPE files take the faster native path in [`super::bpe`].
//!
//! The crate reads regex patterns with `fancy-regex`, as seqpack does, where HF's Python
//! `tokenizers` uses Oniguruma: the crate is handed the file with each pattern rewritten to
//! Oniguruma's meaning ([`super::pattern`]), and a pattern that cannot be is refused.

use crate::tokenize::load::sparse_ids;
use crate::tokenize::{Implementation, Tokenizer, pattern, unknown_id};
use crate::{Error, Result, contained};

pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    json: String,
    fingerprint: String,
}

fn invalid(message: impl std::fmt::Display) -> Error {
    Error::Format {
        path: "tokenizer.json".into(),
        message: format!("the tokenizers library cannot use it: {message}"),
    }
}

/// Runs a call into the `tokenizers` crate. Its code asserts some things its reader does not
/// check (a template naming a special token the file lacks panics while encoding): such a
/// panic is reported as the inconsistent file it comes from.
fn guarded<T>(call: impl FnOnce() -> Result<T>) -> Result<T> {
    contained::contain(call).unwrap_or_else(|| {
        Err(invalid(
            "its contents are inconsistent (an internal check of the library failed)",
        ))
    })
}

impl HfTokenizer {
    pub fn from_json(json: &str) -> Result<Self> {
        guarded(|| Self::read(json))
    }

    fn read(json: &str) -> Result<Self> {
        let rewritten =
            pattern::rewrite_document(json).map_err(|what| Error::UnsupportedTokenizer {
                path: "tokenizer JSON".into(),
                at: "pattern".into(),
                what,
            })?;
        let inner: tokenizers::Tokenizer = rewritten
            .as_deref()
            .unwrap_or(json)
            .parse()
            .map_err(invalid)?;
        // Re-serialising walks every id up to the largest: a sparse one is refused first.
        let vocab = inner.get_vocab(true);
        if let Some(message) = vocab
            .values()
            .max()
            .and_then(|&largest| sparse_ids(largest, vocab.len()))
        {
            return Err(invalid(message));
        }
        // The fingerprint hashes the file as the library re-serialises it, so formatting and
        // key order of the input do not change it.
        let canonical = inner.to_string(false).map_err(invalid)?;
        let fingerprint = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(canonical.as_bytes()));
        Ok(HfTokenizer {
            inner,
            json: json.to_string(),
            fingerprint,
        })
    }
}

impl Tokenizer for HfTokenizer {
    fn implementation(&self) -> Implementation {
        Implementation::Hf
    }

    fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        guarded(|| {
            let encoding = self
                .inner
                .encode(text, add_special_tokens)
                .map_err(invalid)?;
            Ok(encoding.get_ids().to_vec())
        })
    }

    /// Tokens lie where the library's offsets say. Neither starts nor ends go back (the
    /// byte tokens of one character, and SentencePiece's `▁` before one, share its offsets).
    fn encode_aligned_into(
        &self,
        text: &str,
        ids: &mut Vec<u32>,
        starts: &mut Vec<usize>,
        ends: &mut Vec<usize>,
    ) -> Option<Result<()>> {
        Some(guarded(|| {
            let encoding = self.inner.encode(text, false).map_err(invalid)?;
            ids.extend_from_slice(encoding.get_ids());
            let (mut start, mut end) = (0, 0);
            for &(token_start, token_end) in encoding.get_offsets() {
                start = token_start.max(start);
                end = token_end.max(end);
                starts.push(start);
                ends.push(end);
            }
            Ok(())
        }))
    }

    /// The library's decoder gives the text; it skips ids it does not know, so they are
    /// refused first, as the native implementations refuse them.
    fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        if let Some(index) = ids
            .iter()
            .position(|&id| self.inner.id_to_token(id).is_none())
        {
            return Err(unknown_id(index, ids[index], self.vocab_size()));
        }
        guarded(|| Ok(self.inner.decode(ids, false).map_err(invalid)?.into_bytes()))
    }

    fn vocab_size(&self) -> u32 {
        self.inner.get_vocab_size(true) as u32
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    fn to_json(&self) -> &str {
        &self.json
    }
}

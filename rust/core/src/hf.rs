//! Tokenizers that seqpack does not encode itself (WordPiece, Unigram, WordLevel, or BPE with
//! normalizers and pre-tokenizers other than byte-level) run through the HuggingFace
//! `tokenizers` crate, so any `tokenizer.json` works with `preprocess` and the Python API.
//! Byte-level BPE files take the faster native path in [`crate::bpe`].

use std::path::Path;

use rayon::prelude::*;

use crate::{Error, Result};

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

impl HfTokenizer {
    pub fn from_json(json: &str) -> Result<Self> {
        let inner: tokenizers::Tokenizer = json.parse().map_err(invalid)?;
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

    pub fn from_file(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&json)
    }

    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(invalid)?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>> {
        texts
            .par_iter()
            .map(|text| self.encode(text.as_ref(), add_special_tokens))
            .collect()
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(invalid)
    }

    pub fn vocab_size(&self) -> u32 {
        self.inner.get_vocab_size(true) as u32
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn to_json(&self) -> &str {
        &self.json
    }
}

impl crate::preprocess::Encoder for HfTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        HfTokenizer::encode(self, text, false)
    }
    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
    fn vocab_size(&self) -> u64 {
        u64::from(HfTokenizer::vocab_size(self))
    }
}

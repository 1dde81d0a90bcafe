//! A tokenizer that is a pair of functions with no vocabulary behind it: for a pass that
//! needs the [`Tokenizer`] interface but not a real vocabulary (the counting pass), and for
//! the toy tokenizers of the tests.

use crate::Result;
use crate::tokenize::{Implementation, Tokenizer};

/// Ids from `encode`, bytes from `decode`; no token has a spelling and there is no
/// `tokenizer.json` (`"{}"`).
pub(super) struct FnTokenizer {
    pub encode: fn(&str) -> Vec<u32>,
    pub decode: fn(&[u32]) -> Vec<u8>,
    pub vocab_size: u32,
    pub fingerprint: &'static str,
}

impl Tokenizer for FnTokenizer {
    fn implementation(&self) -> Implementation {
        Implementation::Bpe
    }
    fn encode(&self, text: &str, _add_special_tokens: bool) -> Result<Vec<u32>> {
        Ok((self.encode)(text))
    }
    fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        Ok((self.decode)(ids))
    }
    fn vocab_size(&self) -> u32 {
        self.vocab_size
    }
    fn fingerprint(&self) -> &str {
        self.fingerprint
    }
    fn token_to_id(&self, _token: &str) -> Option<u32> {
        None
    }
    fn id_to_token(&self, _id: u32) -> Option<String> {
        None
    }
    fn to_json(&self) -> &str {
        "{}"
    }
}

//! A stable fingerprint of what a tokenizer does: the same ids for the same text give the
//! same fingerprint, whatever the JSON's formatting, key order or unused fields. Dataset
//! manifests record it, so a dataset is never read with a tokenizer it was not made with.

use xxhash_rust::xxh3::Xxh3;

/// Bump when the canonical form below changes, so old and new fingerprints never collide.
const VERSION: &[u8] = b"seqpack-bpe-fingerprint-1";

/// Feeds length-prefixed fields to xxh3-64 (the prefixes keep `("ab", "c")` and
/// `("a", "bc")` apart).
pub(crate) struct Fingerprint(Xxh3);

impl Fingerprint {
    pub(crate) fn new() -> Self {
        let mut f = Fingerprint(Xxh3::new());
        f.bytes(VERSION);
        f
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub(crate) fn u32(&mut self, n: u32) -> &mut Self {
        self.0.update(&n.to_le_bytes());
        self
    }

    pub(crate) fn flag(&mut self, b: bool) -> &mut Self {
        self.0.update(&[u8::from(b)]);
        self
    }

    /// 16 lowercase hex digits.
    pub(crate) fn finish(&self) -> String {
        format!("{:016x}", self.0.digest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_delimited() {
        let a = Fingerprint::new().str("ab").str("c").finish();
        let b = Fingerprint::new().str("a").str("bc").finish();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert_eq!(a, Fingerprint::new().str("ab").str("c").finish());
    }
}

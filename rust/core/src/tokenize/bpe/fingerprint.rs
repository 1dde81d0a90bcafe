//! A stable fingerprint of what a tokenizer does: the same ids for the same text give the
//! same fingerprint, whatever the JSON's formatting, key order or unused fields. Dataset
//! manifests record it, so a dataset is never read with a tokenizer it was not made with.

use xxhash_rust::xxh3::xxh3_64;

/// Bump when the canonical form below changes, so old and new fingerprints never collide.
const VERSION: &[u8] = b"seqpack-bpe-fingerprint-1";

/// Length-prefixed fields (the prefixes keep `("ab", "c")` and `("a", "bc")` apart), hashed
/// with xxh3-64. They are gathered and hashed at once: the same digest as feeding a streaming
/// hasher field by field, which cost a call per field (three per token of a vocabulary).
pub(crate) struct Fingerprint(Vec<u8>);

impl Fingerprint {
    pub(crate) fn new() -> Self {
        let mut f = Fingerprint(Vec::with_capacity(1 << 20));
        f.bytes(VERSION);
        f
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub(crate) fn u32(&mut self, n: u32) -> &mut Self {
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }

    pub(crate) fn flag(&mut self, b: bool) -> &mut Self {
        self.0.push(u8::from(b));
        self
    }

    /// 16 lowercase hex digits.
    pub(crate) fn finish(&self) -> String {
        format!("{:016x}", xxh3_64(&self.0))
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

//! Decomposition options and their validation.

use crate::choice::names;
use crate::{Error, Result};

/// The largest bucket: its rows (plus the shifted target) must stay within the packing
/// engine's capacity, since the smallest bucket's rows are packed with it.
pub const MAX_LOG2: u32 = 23;

names! {
    /// What becomes of the tokens that no power-of-two piece of at least `2^min_log2` covers:
    /// the tail of each document and whole documents shorter than the smallest bucket.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Remainder parsed as "remainder" {
        /// Pack them, one segment per document, into rows of the smallest bucket: nothing is
        /// lost.
        #[default]
        Pack => "pack",
        /// Drop them (counted in the manifest), as the reference implementation does.
        Drop => "drop",
    }
}

/// How the size of a piece is chosen when the rest of a document exceeds the largest bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongPieces {
    /// Draw `k` in `min_log2..=max_log2` with P(k) ∝ 2^(max_log2 − k), as the reference does:
    /// each bucket then receives the same expected number of tokens from long documents.
    Random { seed: u64 },
    /// Always the largest bucket.
    Max,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecomposeOptions {
    /// Pieces have 2^k tokens for k in `min_log2..=max_log2`.
    pub min_log2: u32,
    pub max_log2: u32,
    pub remainder: Remainder,
    pub long_pieces: LongPieces,
    /// Store one token more per row (2^k + 1): the shifted target that training code which
    /// slices inputs and targets inside a row (the reference's) needs. Without it, rows have
    /// exactly 2^k tokens and labels are shifted inside the loss (HF convention).
    pub shifted_targets: bool,
    /// Start a new shard of a bucket once its current one holds this many tokens.
    pub shard_tokens: u64,
}

impl Default for DecomposeOptions {
    fn default() -> Self {
        DecomposeOptions {
            min_log2: 8,
            max_log2: 13,
            remainder: Remainder::default(),
            long_pieces: LongPieces::Random { seed: 0 },
            shifted_targets: false,
            shard_tokens: 1 << 25,
        }
    }
}

impl DecomposeOptions {
    pub fn validate(&self) -> Result<()> {
        if self.max_log2 > MAX_LOG2 {
            return Err(Error::invalid_option(
                "max_log2",
                format!("must be at most {MAX_LOG2}, got {}", self.max_log2),
            ));
        }
        if self.min_log2 > self.max_log2 {
            return Err(Error::invalid_option(
                "min_log2",
                format!(
                    "must not exceed max_log2 ({}), got {}",
                    self.max_log2, self.min_log2
                ),
            ));
        }
        if self.shard_tokens == 0 {
            return Err(Error::invalid_option(
                "shard_tokens",
                "must be at least 1 token",
            ));
        }
        Ok(())
    }

    /// Tokens of one row of bucket `k`.
    pub fn row_tokens(&self, k: u32) -> u64 {
        (1u64 << k) + u64::from(self.shifted_targets)
    }
}

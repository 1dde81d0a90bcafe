//! The cut of one document into adjacent power-of-two pieces.
//!
//! While the rest of the document holds at least one row of the smallest bucket, the next
//! piece takes the largest power of two that fits, `k = floor(log2(rest − extra))` (`extra` is
//! the shifted target, 0 or 1), or a drawn `k` when that exceeds the largest bucket. Pieces
//! follow the binary decomposition of the length, so each document yields O(log) pieces, and
//! what is left (shorter than a row of the smallest bucket) is the remainder.

use super::options::{DecomposeOptions, LongPieces};
use crate::rng::SplitMix64;

/// One piece: tokens `start..start + row_tokens(log2)` of its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub start: u64,
    pub log2: u32,
}

/// Cuts documents one after another; the draws for long documents come from one seeded
/// stream, so the same corpus in the same order gives the same pieces.
pub struct Cutter {
    min_log2: u32,
    max_log2: u32,
    extra: u64,
    rng: Option<SplitMix64>,
}

impl Cutter {
    pub fn new(options: &DecomposeOptions) -> Self {
        Cutter {
            min_log2: options.min_log2,
            max_log2: options.max_log2,
            extra: u64::from(options.shifted_targets),
            rng: match options.long_pieces {
                LongPieces::Random { seed } => Some(SplitMix64::new(seed)),
                LongPieces::Max => None,
            },
        }
    }

    /// Appends the pieces of a document of `length` tokens to `pieces` and returns the length
    /// of the remainder, which sits at the document's end.
    pub fn cut(&mut self, length: u64, pieces: &mut Vec<Piece>) -> u64 {
        let smallest = (1u64 << self.min_log2) + self.extra;
        let mut start = 0;
        while length - start >= smallest {
            let fits = (length - start - self.extra).ilog2();
            let log2 = if fits > self.max_log2 {
                self.draw()
            } else {
                fits
            };
            pieces.push(Piece { start, log2 });
            start += (1u64 << log2) + self.extra;
        }
        length - start
    }

    /// `k` in `min..=max` with P(k) ∝ 2^(max − k), or `max` when cutting deterministically.
    fn draw(&mut self) -> u32 {
        let Some(rng) = &mut self.rng else {
            return self.max_log2;
        };
        let span = self.max_log2 - self.min_log2;
        // Weights 2^span (for min) down to 1 (for max) sum to 2^(span+1) − 1; a uniform `u`
        // below that falls in bucket max − floor(log2(u + 1)).
        let u = rng.below((1usize << (span + 1)) - 1) as u64;
        self.max_log2 - (u + 1).ilog2()
    }
}

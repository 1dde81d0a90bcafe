//! Lower bounds on the number of packs: L1 = ⌈Σ sizes / L⌉ and the Martello–Toth bound L2,
//! which for packing is as strong as the LP relaxation on real length histograms.

use super::LongDocs;
use super::items::Items;
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LowerBounds {
    pub l1: u64,
    pub l2: u64,
    /// The LP bound under the depth cap, where the algorithm solved the LP (`exact`).
    pub lp: Option<u64>,
}

impl LowerBounds {
    /// The strongest of the bounds.
    pub fn best(&self) -> u64 {
        self.l2.max(self.lp.unwrap_or(0))
    }
}

/// Bounds for packing `lengths` (after `long_docs` has split or truncated the long ones).
pub fn lower_bounds(lengths: &[i64], capacity: u32, long_docs: LongDocs) -> Result<LowerBounds> {
    super::PackOptions::new(capacity).validate()?;
    let items = Items::from_lengths(lengths, capacity, long_docs)?;
    Ok(from_histogram(&items.histogram, capacity))
}

/// `histogram[s]` = number of items of size `s`, for `s` in `0..=capacity`.
pub(crate) fn from_histogram(histogram: &[u64], capacity: u32) -> LowerBounds {
    let cap = capacity as usize;
    // Prefix counts and sums: count_upto[s] = #items of size < s, likewise sum_upto.
    let mut count_upto = vec![0u64; cap + 2];
    let mut sum_upto = vec![0u128; cap + 2];
    for s in 0..=cap {
        count_upto[s + 1] = count_upto[s] + histogram[s];
        sum_upto[s + 1] = sum_upto[s] + histogram[s] as u128 * s as u128;
    }
    let count = |lo: usize, hi: usize| {
        if lo > hi {
            0
        } else {
            count_upto[hi + 1] - count_upto[lo]
        }
    };
    let sum = |lo: usize, hi: usize| {
        if lo > hi {
            0
        } else {
            sum_upto[hi + 1] - sum_upto[lo]
        }
    };
    let c = cap as u128;
    let l1 = sum_upto[cap + 1].div_ceil(c) as u64;
    let half = cap / 2; // sizes ≤ half can share a pack; sizes > half cannot
    let mut l2 = l1;
    for alpha in 0..=half {
        // J1: too big to share with anything ≥ alpha; J2: big, may take small ones; J3: small.
        let j1 = count(cap - alpha + 1, cap);
        let j2 = count(half + 1, cap - alpha);
        let j2_free = j2 as u128 * c - sum(half + 1, cap - alpha);
        let j3 = sum(alpha.max(1), half);
        let spill = j3.saturating_sub(j2_free).div_ceil(c) as u64;
        l2 = l2.max(j1 + j2 + spill);
    }
    LowerBounds { l1, l2, lp: None }
}

//! Sequence packing: place variable-length documents into rows ("packs") of a fixed
//! capacity so that little of each row is padding, without ever changing a token.
//!
//! The engine works from lengths alone. A document longer than the capacity becomes several
//! fragments (or is truncated, or is an error, as [`LongDocs`] says); each fragment is an
//! *item*. Algorithms assign items to packs; the result is a CSR [`Packing`] whose entries
//! say which slice of which document sits where. Every token is placed once or counted as
//! truncated, no pack exceeds the capacity, and the same input and options give the same
//! packing on every platform.

mod assemble;
mod best_fit;
mod bitset;
mod bounds;
mod exact;
mod first_fit;
mod histogram;
mod items;
mod next_fit;
mod nnlshp;
mod options;

use std::time::Instant;

pub use bounds::{LowerBounds, lower_bounds};
pub use exact::{MAX_DISTINCT_LENGTHS, WORK_BUDGET as EXACT_WORK_BUDGET};
pub use nnlshp::{MAX_CAPACITY as NNLSHP_MAX_CAPACITY, MAX_DEPTH as NNLSHP_MAX_DEPTH};
pub use options::{Algorithm, LongDocs, MAX_CAPACITY, PackOptions};

use crate::Result;

/// The result of packing: pack `p` holds entries `pack_offsets[p]..pack_offsets[p + 1]`, entry
/// `e` being tokens `start[e]..start[e] + length[e]` of document `doc[e]`. Signed 64-bit
/// integers throughout because that is what numpy and torch index with, so the Python side
/// hands these vectors over without a copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Packing {
    pub capacity: u32,
    pub pack_offsets: Vec<i64>,
    pub doc: Vec<i64>,
    pub start: Vec<i64>,
    pub length: Vec<i64>,
    /// Tokens placed in packs (equals the corpus size unless `long_docs = Truncate`).
    pub placed_tokens: u64,
    /// Tokens dropped by `long_docs = Truncate`.
    pub truncated_tokens: u64,
    /// Lower bounds on the number of packs for the items that were packed.
    pub bounds: LowerBounds,
    /// Wall time of the whole call, in seconds.
    pub seconds: f64,
}

impl Packing {
    pub fn num_packs(&self) -> usize {
        self.pack_offsets.len() - 1
    }

    /// Real tokens over the slots of all packs: `placed / (packs × capacity)`; 1.0 when
    /// there is nothing to pack.
    pub fn efficiency(&self) -> f64 {
        let slots = self.num_packs() as f64 * f64::from(self.capacity);
        if slots == 0.0 {
            1.0
        } else {
            self.placed_tokens as f64 / slots
        }
    }

    /// Number of entries (documents or fragments) in pack `p`.
    pub fn depth(&self, p: usize) -> usize {
        (self.pack_offsets[p + 1] - self.pack_offsets[p]) as usize
    }

    pub fn max_depth(&self) -> usize {
        (0..self.num_packs())
            .map(|p| self.depth(p))
            .max()
            .unwrap_or(0)
    }

    pub fn mean_depth(&self) -> f64 {
        if self.num_packs() == 0 {
            0.0
        } else {
            self.doc.len() as f64 / self.num_packs() as f64
        }
    }
}

/// Packs documents of the given lengths. Lengths must be positive; see [`PackOptions`] for
/// the algorithm and the policies.
pub fn pack(lengths: &[i64], options: &PackOptions) -> Result<Packing> {
    pack_within(lengths, options, exact::WORK_BUDGET)
}

/// [`pack`] with `exact` held to `exact_work` steps instead of its budget (for tests of an
/// LP stopped early).
pub(crate) fn pack_within(
    lengths: &[i64],
    options: &PackOptions,
    exact_work: u64,
) -> Result<Packing> {
    let started = Instant::now();
    options.validate()?;
    let items = items::Items::from_lengths(lengths, options.capacity, options.long_docs)?;
    let mut bounds = bounds::from_histogram(&items.histogram, options.capacity);
    let depth_cap = options.depth_cap();
    let cap = options.capacity;
    let sorted = || items::SortedItems::by_decreasing_length(&items);
    let mut packing = match options.algorithm {
        Algorithm::Obfd => best_fit::optimized(sorted(), cap, depth_cap),
        Algorithm::Bfd => best_fit::ordered_set(&items, cap, depth_cap),
        Algorithm::Ffd => first_fit::decreasing(sorted(), cap, depth_cap),
        Algorithm::Spfhp => {
            let packs = histogram::shortest_pack_first(&sorted(), cap, depth_cap);
            assemble::from_packs(&items, packs)
        }
        Algorithm::Lpfhp => {
            let packs = histogram::longest_pack_first(&sorted(), cap, depth_cap);
            assemble::from_packs(&items, packs)
        }
        Algorithm::Nnlshp => assemble::from_packs(&items, nnlshp::pack(&sorted(), cap, depth_cap)),
        Algorithm::Nf => assemble::from_packs(&items, next_fit::in_order(&items, cap, depth_cap)),
        Algorithm::Wrapped => {
            let (pieces, packs) = next_fit::wrapped(lengths, options, depth_cap);
            assemble::from_packs(&pieces, packs)
        }
        Algorithm::Exact => {
            let exact = exact::pack(&items, cap, depth_cap, exact_work);
            bounds.lp = exact.lp_bound;
            exact.packing
        }
    };
    if let Some(seed) = options.seed {
        assemble::shuffle(&mut packing, seed);
    }
    packing.capacity = cap;
    packing.bounds = bounds;
    packing.seconds = started.elapsed().as_secs_f64();
    Ok(packing)
}

#[cfg(test)]
mod tests;

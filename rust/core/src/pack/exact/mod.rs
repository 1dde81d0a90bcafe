//! Exact packing over the length histogram: column generation on the cutting-stock LP
//! ([`master`], priced by the knapsack of [`pricing`]), then rounding with repair
//! ([`round`]), then documents handed to the chosen patterns in O(N) ([`assign`]). The LP
//! gives a certificate: no packing of these items, under this depth cap, has fewer packs
//! than [`ExactPacking::lp_bound`].
//!
//! Work after the histogram depends on the number of distinct lengths, not on N. A work
//! budget ([`budget`]) bounds it: when it is spent the best rounding found so far is kept
//! (the bound stays valid), and best-fit decreasing is returned instead wherever it has fewer
//! packs, so the result is never worse than `obfd`. The budget counts steps, not seconds, so
//! the same input gives the same packing on every machine.

mod assign;
mod budget;
mod master;
mod pricing;
mod round;

pub use budget::WORK_BUDGET;

use super::Packing;
use super::items::{Items, SortedItems};
use super::{assemble, best_fit};

/// More distinct lengths than this make the dense basis (rows²) too large to be worth it:
/// such inputs get best-fit decreasing and no LP bound, as do those whose first basis
/// costs more than the whole budget to factorise (above about 2,150 distinct lengths).
pub const MAX_DISTINCT_LENGTHS: usize = 4096;

pub(crate) struct ExactPacking {
    pub packing: Packing,
    /// The LP lower bound on the number of packs, where the LP was run.
    pub lp_bound: Option<u64>,
}

/// Packs `items` spending at most `work` steps (see [`budget`]) on the LP and the rounding;
/// [`WORK_BUDGET`] is what `pack` passes.
pub(crate) fn pack(items: &Items, capacity: u32, depth_cap: u32, work: u64) -> ExactPacking {
    let mut budget = budget::Budget::new(work);
    let (lengths, demand): (Vec<u32>, Vec<u64>) = (1..=capacity)
        .rev()
        .map(|l| (l, items.histogram[l as usize]))
        .filter(|&(_, count)| count > 0)
        .unzip();
    let greedy = || {
        best_fit::optimized(
            SortedItems::by_decreasing_length(items),
            capacity,
            depth_cap,
        )
    };
    if lengths.is_empty() || lengths.len() > MAX_DISTINCT_LENGTHS {
        return ExactPacking {
            packing: greedy(),
            lp_bound: lengths.is_empty().then_some(0),
        };
    }
    let Some(solution) = master::solve(&lengths, &demand, capacity, depth_cap, &mut budget) else {
        return ExactPacking {
            packing: greedy(),
            lp_bound: None,
        };
    };
    let lp_bound = master::rounded_bound(solution.bound);
    let plan = round::round(
        &lengths,
        &demand,
        solution,
        capacity,
        depth_cap,
        &mut budget,
    );
    let rows = plan.num_packs();
    // Best fit cannot beat a plan that meets the bound; otherwise it is the fallback.
    if rows > lp_bound {
        let fallback = greedy();
        if fallback.num_packs() as u64 <= rows {
            return ExactPacking {
                packing: fallback,
                lp_bound: Some(lp_bound),
            };
        }
    }
    let sorted = SortedItems::by_decreasing_length(items);
    ExactPacking {
        packing: assemble::from_packs(items, assign::items_to_patterns(&sorted, &plan)),
        lp_bound: Some(lp_bound),
    }
}

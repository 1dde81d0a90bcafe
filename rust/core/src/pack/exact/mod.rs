//! Exact packing over the length histogram: column generation on the cutting-stock LP
//! ([`master`], priced by the knapsack of [`pricing`]), then rounding with repair
//! ([`round`]), then documents handed to the chosen patterns in O(N) ([`assign`]). The LP
//! gives a certificate: no packing of these items, under this depth cap, has fewer packs
//! than [`ExactPacking::lp_bound`].
//!
//! Work after the histogram depends on the number of distinct lengths, not on N. A time
//! limit bounds it: when it runs out the best rounding found so far is kept (the bound stays
//! valid), and best-fit decreasing is returned instead wherever it has fewer packs, so the
//! result is never worse than `obfd`.

mod assign;
mod master;
mod pricing;
mod round;

use std::time::{Duration, Instant};

use super::Packing;
use super::items::{Items, SortedItems};
use super::{assemble, best_fit};

/// Wall time allowed for the LP and the rounding, after which the best solution so far is
/// used. Finishing within it (as on the shared histograms) keeps the result deterministic.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);

/// More distinct lengths than this make the dense basis (rows²) too large to be worth it:
/// such inputs get best-fit decreasing and no LP bound.
pub const MAX_DISTINCT_LENGTHS: usize = 4096;

pub(crate) struct ExactPacking {
    pub packing: Packing,
    /// The LP lower bound on the number of packs, where the LP was run.
    pub lp_bound: Option<u64>,
}

pub(crate) fn pack(items: &Items, capacity: u32, depth_cap: u32) -> ExactPacking {
    let deadline = Instant::now() + TIME_LIMIT;
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
    let solution = master::solve(&lengths, &demand, capacity, depth_cap, deadline);
    let lp_bound = master::rounded_bound(solution.bound);
    let plan = round::round(&lengths, &demand, solution, capacity, depth_cap, deadline);
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

//! Graphcore's non-negative least-squares histogram packing (NNLSHP; Krell et al., 2021),
//! the published reference for packing with at most three documents per pack:
//!
//! 1. *Strategies*: every multiset of at most three lengths that sums to exactly the
//!    capacity (about capacity² / 12 of them).
//! 2. *Counts*: the non-negative least-squares fit of how many packs follow each strategy to
//!    the length histogram, min ‖W (A x − h)‖ over x ≥ 0, where A holds the copies of each
//!    length in each strategy ([`nnls`]). Lengths of at most 8 tokens weigh 0.09 in W: a
//!    slot left empty for one of them wastes few tokens, so the fit may over-produce them.
//! 3. *Rounding*: every count to the nearest integer. A strategy's slot whose length has
//!    run out stays empty (padding); every item left over gets a pack of its own.
//!
//! The result depends only on the histogram; the documents are handed to the packs in
//! decreasing-length order, like the other histogram packers.

mod nnls;

use super::assemble::{ItemPacks, PacksByLength};
use super::items::SortedItems;
use nnls::Column;

/// Most entries per pack: the published method enumerates strategies of up to three
/// lengths (a lower `max_docs_per_pack` lowers it).
pub const MAX_DEPTH: u32 = 3;

/// The largest capacity `nnlshp` accepts: it enumerates capacity² / 12 strategies and fits
/// them to capacity rows, bringing in about one strategy per row. At 1024 (87,000
/// strategies) a log-normal histogram takes 5–8 s on the shared build machine; at 2048
/// (350,000) over a minute.
pub const MAX_CAPACITY: u32 = 1024;

/// Lengths up to this weigh [`SHORT_WEIGHT`] in the fit, the rest 1.
const SHORT_LENGTH: u32 = 8;
const SHORT_WEIGHT: f64 = 0.09;

/// Outer iterations of the active-set method allowed per row of the fit; each brings one
/// strategy in, and a fit uses at most one strategy per row (the Wikipedia-512 fit ends
/// after about 900 iterations).
const ITERATIONS_PER_ROW: usize = 10;

pub(crate) fn pack(sorted: &SortedItems, capacity: u32, depth_cap: u32) -> ItemPacks {
    let strategies = strategies(capacity, depth_cap.min(MAX_DEPTH));
    let weight = |length: u32| {
        if length <= SHORT_LENGTH {
            SHORT_WEIGHT
        } else {
            1.0
        }
    };
    let columns: Vec<Column> = strategies
        .iter()
        .map(|strategy| {
            strategy
                .iter()
                .map(|&(length, copies)| (length - 1, weight(length) * f64::from(copies)))
                .collect()
        })
        .collect();
    let histogram = &sorted.items.histogram;
    let target: Vec<f64> = (1..=capacity)
        .map(|l| weight(l) * histogram[l as usize] as f64)
        .collect();
    let counts = nnls::solve(&columns, &target, ITERATIONS_PER_ROW * capacity as usize);
    into_packs(sorted, &strategies, &counts)
}

/// Every multiset of 1..=`depth` lengths summing to `capacity`, as (length, copies) in
/// increasing length order.
fn strategies(capacity: u32, depth: u32) -> Vec<Vec<(u32, u32)>> {
    let mut all = vec![vec![(capacity, 1)]];
    if depth >= 2 {
        all.extend((1..=capacity / 2).map(|a| merged(&[a, capacity - a])));
    }
    if depth >= 3 {
        for a in 1..=capacity / 3 {
            all.extend((a..=(capacity - a) / 2).map(|b| merged(&[a, b, capacity - a - b])));
        }
    }
    all
}

/// Non-decreasing lengths as (length, copies).
fn merged(lengths: &[u32]) -> Vec<(u32, u32)> {
    let mut strategy: Vec<(u32, u32)> = Vec::with_capacity(lengths.len());
    for &length in lengths {
        match strategy.last_mut() {
            Some((last, copies)) if *last == length => *copies += 1,
            _ => strategy.push((length, 1)),
        }
    }
    strategy
}

/// Packs from the rounded counts: each strategy's packs take the next unused items of their
/// lengths while there are any (a pack left empty ends that strategy), then every item left
/// over goes into a pack of its own.
fn into_packs(sorted: &SortedItems, strategies: &[Vec<(u32, u32)>], counts: &[f64]) -> ItemPacks {
    let mut packs = PacksByLength::new(sorted, sorted.count());
    for (strategy, &count) in strategies.iter().zip(counts) {
        for _ in 0..count.round() as u64 {
            for &(length, copies) in strategy {
                packs.take(length, copies as usize);
            }
            if packs.open_len() == 0 {
                break;
            }
            packs.close();
        }
    }
    packs.rest_alone();
    packs.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_are_every_multiset_summing_to_the_capacity() {
        let mut found: Vec<Vec<(u32, u32)>> = strategies(6, 3);
        found.sort();
        let expected = vec![
            vec![(1, 1), (2, 1), (3, 1)],
            vec![(1, 1), (5, 1)],
            vec![(1, 2), (4, 1)],
            vec![(2, 1), (4, 1)],
            vec![(2, 3)],
            vec![(3, 2)],
            vec![(6, 1)],
        ];
        assert_eq!(found, expected);
        assert_eq!(strategies(6, 1), vec![vec![(6, 1)]]);
        assert_eq!(strategies(6, 2).len(), 4);
    }
}

//! Costly rows spread over an epoch: the rows of a plan put in an order where any run of
//! consecutive rows, however long, holds rows of every cost in about equal shares, so that
//! no step (a run of `W·B` rows, whatever `W` and `B` are) draws several of the costliest
//! rows while another draws none. Then a step's deal by cost ([`super::balance`]) can even
//! out its ranks even at 128k tokens, where one row of one long document costs more than a
//! rank's share of an unlucky step.
//!
//! The order: rank the rows by attention work `Σ l²` (the costliest first; ties in plan
//! order), and give the `j`-th costliest the position whose Weyl key `p·φ + u (mod 1)` is
//! the `j`-th smallest (`φ` the golden ratio's fraction, `u` drawn from the row-order seed). A
//! Weyl sequence has low discrepancy: any run of positions has keys spread evenly over
//! `[0, 1)`, hence rows of every cost rank. The keys are 64-bit integers (wrapping
//! arithmetic), so the order is the same on every platform. It depends only on the plan
//! and the seed, not on the number of ranks: a run resumed on another world size continues
//! the same order.

use crate::batch::Plan;
use crate::rng::SplitMix64;

/// `2^64 · (√5 − 1) / 2`, odd: the 64-bit golden-ratio increment.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The rows of `plan` in cost-spread order, shifted by `offset` (from the epoch's seed).
pub fn spread_rows(plan: &Plan, offset: u64) -> Plan {
    // Σ l² ≤ (Σ l)² ≤ capacity² < 2^64: exact in a u64.
    let work: Vec<u64> = (0..plan.num_packs())
        .map(|p| plan.row(p).iter().map(|s| u64::from(s.len).pow(2)).sum())
        .collect();
    plan.reordered(&spread_order(&work, offset))
}

/// The cost-spread order of rows of attention work `work`: position `i` holds row
/// `order[i]`. `offset` is mixed first, so that nearby offsets give unrelated orders.
pub fn spread_order(work: &[u64], offset: u64) -> Vec<usize> {
    let offset = SplitMix64::new(offset).next_u64();
    let rows = work.len();
    let mut by_cost: Vec<usize> = (0..rows).collect();
    by_cost.sort_by(|&x, &y| work[y].cmp(&work[x]).then(x.cmp(&y)));
    let mut slots: Vec<usize> = (0..rows).collect();
    slots.sort_by_key(|&p| ((p as u64).wrapping_mul(GOLDEN).wrapping_add(offset), p));
    let mut order = vec![0; rows];
    for (slot, row) in slots.into_iter().zip(by_cost) {
        order[slot] = row;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{Algorithm, LongDocs, PackOptions};

    fn plan_of(lengths: &[i64]) -> Plan {
        let options = PackOptions {
            capacity: 512,
            algorithm: Algorithm::Obfd,
            max_docs_per_pack: None,
            long_docs: LongDocs::Split,
            seed: Some(3),
        };
        Plan::pack_epoch(lengths, &options, 1, Some(4)).unwrap()
    }

    fn work(plan: &Plan, p: usize) -> u64 {
        plan.row(p).iter().map(|s| u64::from(s.len).pow(2)).sum()
    }

    #[test]
    fn spreading_keeps_every_row_and_puts_the_costliest_apart() {
        // Mostly short documents and a few of nearly a whole row.
        let lengths: Vec<i64> = (0..3000)
            .map(|i| if i % 97 == 0 { 500 } else { 10 + i % 40 })
            .collect();
        let plan = plan_of(&lengths);
        let spread = spread_rows(&plan, 12345);
        assert_eq!(spread, spread_rows(&plan, 12345), "deterministic");
        assert_ne!(
            spread,
            spread_rows(&plan, 999),
            "the offset moves the order"
        );
        // The same rows (each once), the same totals.
        let key = |plan: &Plan, p: usize| plan.row(p).to_vec();
        let mut before: Vec<_> = (0..plan.num_packs()).map(|p| key(&plan, p)).collect();
        let mut after: Vec<_> = (0..spread.num_packs()).map(|p| key(&spread, p)).collect();
        before.sort_by_key(|r| (r[0].doc, r[0].start));
        after.sort_by_key(|r| (r[0].doc, r[0].start));
        assert_eq!(before, after);
        assert_eq!(spread.placed_tokens, plan.placed_tokens);
        // The costliest rows (one long document each) are never next to one another, and
        // every run of 8 rows holds about the same work.
        let costly: Vec<usize> = (0..spread.num_packs())
            .filter(|&p| work(&spread, p) >= 500 * 500)
            .collect();
        assert!(costly.len() >= 20);
        assert!(costly.windows(2).all(|w| w[1] - w[0] > 1), "{costly:?}");
        let runs = |plan: &Plan| -> f64 {
            let sums: Vec<u64> = (0..plan.num_packs() / 8)
                .map(|r| (r * 8..r * 8 + 8).map(|p| work(plan, p)).sum())
                .collect();
            let mean = sums.iter().sum::<u64>() as f64 / sums.len() as f64;
            *sums.iter().max().unwrap() as f64 / mean
        };
        assert!(
            runs(&spread) < runs(&plan),
            "{} vs {}",
            runs(&spread),
            runs(&plan)
        );
    }
}

//! From the fractional LP solution to whole packs: take ⌊x_p⌋ copies of each pattern, solve
//! the LP again on what is left and round again while that still places packs, then pack
//! the last few items by best-fit decreasing.

use super::budget::Budget;
use super::master::{self, LpSolution};
use super::pricing::Pattern;
use crate::pack::best_fit;
use crate::pack::items::{Items, SortedItems};

/// Rounds of re-solving the residual LP before the rest goes to best fit.
const MAX_ROUNDS: usize = 64;

/// Packs as (count, lengths with copies): `count` identical packs each holding, for every
/// (length, copies), that many items of that length.
pub(crate) struct Plan {
    pub groups: Vec<(u64, Vec<(u32, u32)>)>,
}

impl Plan {
    pub fn num_packs(&self) -> u64 {
        self.groups.iter().map(|(count, _)| count).sum()
    }
}

pub(crate) fn round(
    lengths: &[u32],
    demand: &[u64],
    first: LpSolution,
    capacity: u32,
    depth_cap: u32,
    budget: &mut Budget,
) -> Plan {
    let mut plan = Plan { groups: Vec::new() };
    let mut left = demand.to_vec();
    let mut solution = first;
    // Residual rows are a subset of all rows: `rows[k]` is the row of residual row k.
    let mut rows: Vec<usize> = (0..lengths.len()).collect();
    for _ in 0..MAX_ROUNDS {
        let mut placed = false;
        for (pattern, x) in &solution.columns {
            let whole = (x + 1e-9).floor() as u64;
            let pattern: Pattern = pattern
                .iter()
                .map(|&(k, c)| (rows[k as usize] as u32, c))
                .collect();
            // Never more copies than are left (rounding error may ask for one too many).
            let count = pattern
                .iter()
                .map(|&(row, c)| left[row as usize] / u64::from(c))
                .fold(whole, u64::min);
            if count > 0 {
                take(&mut plan, &mut left, lengths, &pattern, count);
                placed = true;
            }
        }
        rows = (0..lengths.len()).filter(|&r| left[r] > 0).collect();
        if !placed || rows.is_empty() || budget.is_spent() {
            break;
        }
        let sub_lengths: Vec<u32> = rows.iter().map(|&r| lengths[r]).collect();
        let sub_demand: Vec<u64> = rows.iter().map(|&r| left[r]).collect();
        match master::solve(&sub_lengths, &sub_demand, capacity, depth_cap, budget) {
            Some(next) => solution = next,
            None => break,
        }
    }
    best_fit_rest(&mut plan, lengths, &left, capacity, depth_cap);
    plan
}

fn take(plan: &mut Plan, left: &mut [u64], lengths: &[u32], pattern: &Pattern, count: u64) {
    for &(row, c) in pattern {
        left[row as usize] -= count * u64::from(c);
    }
    let content = pattern
        .iter()
        .map(|&(row, c)| (lengths[row as usize], c))
        .collect();
    plan.groups.push((count, content));
}

/// Packs the remaining items by best-fit decreasing, one group per pack.
fn best_fit_rest(plan: &mut Plan, lengths: &[u32], left: &[u64], capacity: u32, depth_cap: u32) {
    let mut len = Vec::new();
    for (&l, &count) in lengths.iter().zip(left) {
        len.extend(std::iter::repeat_n(l, count as usize));
    }
    if len.is_empty() {
        return;
    }
    let n = len.len();
    let items = Items::from_pieces(vec![0; n], vec![0; n], len, 0, capacity);
    let packing = best_fit::optimized(
        SortedItems::by_decreasing_length(&items),
        capacity,
        depth_cap,
    );
    for p in 0..packing.num_packs() {
        let entries = packing.pack_offsets[p] as usize..packing.pack_offsets[p + 1] as usize;
        let mut content: Vec<(u32, u32)> = Vec::new();
        for &l in &packing.length[entries] {
            match content.last_mut() {
                Some((length, copies)) if *length == l as u32 => *copies += 1,
                _ => content.push((l as u32, 1)),
            }
        }
        plan.groups.push((1, content));
    }
}

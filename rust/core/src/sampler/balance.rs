//! Balanced data-parallel steps: the rows of one step dealt to ranks (and micro-batches) so
//! that the most loaded rank computes about as long as the average one.
//!
//! A row's cost is `a·Σ l_i² + b·L` over its isolated segments of lengths `l_i` (`L = Σ l_i`,
//! the padding at a row's end not counted: a varlen kernel skips it). The defaults are the
//! forward FLOPs of one transformer layer of hidden size `d = 4096` divided by `2d`: causal
//! attention over a segment of `l` tokens costs `2·d·l²` (`QKᵀ` and `AV`, half the square
//! each), projections and MLP `24·d²` per token, so `a = 1`, `b = 12·d = 49152`. At 8k
//! tokens per row the linear term still dominates; from about 50k tokens per document the
//! attention does.
//!
//! The deal is a pure function of the step's rows and their lengths: no seed, no
//! communication, the same on every rank, and a resumed run deals every step as the
//! uninterrupted one did (the loader state does not change).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::batch::{Deal, Plan};
use crate::choice::names;
use crate::{Error, Result};

/// `cost(row) = quadratic·Σ l_i² + linear·Σ l_i`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    pub quadratic: f64,
    pub linear: f64,
}

impl Default for CostModel {
    /// One transformer layer of hidden size 4096 (see the module's documentation).
    fn default() -> Self {
        CostModel {
            quadratic: 1.0,
            linear: 12.0 * 4096.0,
        }
    }
}

impl CostModel {
    /// Refuses negative or non-finite terms, and a model whose both terms are 0.
    pub fn new(quadratic: f64, linear: f64) -> Result<Self> {
        for (name, value) in [("quadratic", quadratic), ("linear", linear)] {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::invalid_option(
                    "balance_cost",
                    format!("the {name} term must be a finite number ≥ 0, got {value}"),
                ));
            }
        }
        if quadratic == 0.0 && linear == 0.0 {
            return Err(Error::invalid_option(
                "balance_cost",
                "has both terms 0: every row would cost nothing".to_string(),
            ));
        }
        Ok(CostModel { quadratic, linear })
    }

    /// The cost of a row of segments of `lengths` tokens.
    pub fn cost(&self, lengths: impl IntoIterator<Item = u64>) -> f64 {
        let (squares, tokens) = lengths.into_iter().fold((0.0, 0.0), |(s, t), l| {
            let l = l as f64;
            (s + l * l, t + l)
        });
        self.quadratic * squares + self.linear * tokens
    }

    /// The cost of row `p` of `plan`: its segments with their alignment padding.
    pub fn row_cost(&self, plan: &Plan, p: usize) -> f64 {
        let align = plan.align;
        self.cost(
            plan.row(p)
                .iter()
                .map(|s| u64::from(s.len.next_multiple_of(align))),
        )
    }
}

names! {
    /// How a step's rows are partitioned into equal-sized groups of near-equal cost.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Partition parsed as "method" {
        /// Longest processing time first: rows by falling cost, each to the least loaded
        /// group that still has room; then pairwise swaps.
        Lpt => "lpt",
        /// Karmarkar–Karp's largest differencing with equal-sized groups (rows taken `k` at a
        /// time, the two partial partitions of largest spread merged heaviest group to
        /// lightest); then pairwise swaps.
        KarmarkarKarp => "kk",
    }
}

/// The group (`0..groups`) of each of `costs`, every group holding `costs.len() / groups`
/// of them (which must divide), deterministic: ties go by index.
pub fn partition(costs: &[f64], groups: usize, method: Partition) -> Result<Vec<usize>> {
    Error::check_divisor(
        "groups",
        groups as u64,
        "the number of costs",
        costs.len() as u64,
    )?;
    if let Some(bad) = costs.iter().position(|c| !c.is_finite() || *c < 0.0) {
        return Err(Error::invalid_option(
            "costs",
            format!("costs[{bad}] = {} is not a finite number ≥ 0", costs[bad]),
        ));
    }
    let mut order: Vec<usize> = (0..costs.len()).collect();
    // Falling cost, ties by index: the same order on every platform.
    order.sort_by(|&x, &y| costs[y].total_cmp(&costs[x]).then(x.cmp(&y)));
    let mut members = match method {
        Partition::Lpt => lpt(costs, &order, groups),
        Partition::KarmarkarKarp => karmarkar_karp(costs, &order, groups),
    };
    refine(costs, &mut members);
    // Both heuristics, refined, can still end heavier than the rows dealt in turn (a swap
    // at a time reaches only a local optimum): balancing never does worse than that.
    let size = costs.len() / groups;
    let mut in_turn: Vec<Vec<usize>> = (0..groups)
        .map(|g| (g * size..(g + 1) * size).collect())
        .collect();
    refine(costs, &mut in_turn);
    if heaviest(costs, &in_turn) < heaviest(costs, &members) {
        members = in_turn;
    }
    let mut group_of = vec![0; costs.len()];
    for (g, rows) in members.iter().enumerate() {
        for &i in rows {
            group_of[i] = g;
        }
    }
    Ok(group_of)
}

fn load(costs: &[f64], rows: &[usize]) -> f64 {
    rows.iter().map(|&i| costs[i]).sum()
}

/// The load of the heaviest of `members`.
fn heaviest(costs: &[f64], members: &[Vec<usize>]) -> f64 {
    members
        .iter()
        .map(|rows| load(costs, rows))
        .fold(0.0, f64::max)
}

fn lpt(costs: &[f64], order: &[usize], groups: usize) -> Vec<Vec<usize>> {
    let size = costs.len() / groups;
    let mut members = vec![Vec::with_capacity(size); groups];
    let mut loads = vec![0.0f64; groups];
    for &i in order {
        let g = (0..groups)
            .filter(|&g| members[g].len() < size)
            .min_by(|&x, &y| loads[x].total_cmp(&loads[y]).then(x.cmp(&y)))
            .expect("a group has room while rows are left");
        members[g].push(i);
        loads[g] += costs[i];
    }
    members
}

/// A partial partition of Karmarkar–Karp: `groups` groups with their loads, heaviest first.
struct Partial {
    spread: f64,
    /// Made before the others of equal spread: popped first (determinism).
    id: usize,
    groups: Vec<(f64, Vec<usize>)>,
}

impl PartialEq for Partial {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Partial {}
impl PartialOrd for Partial {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Partial {
    fn cmp(&self, other: &Self) -> Ordering {
        self.spread
            .total_cmp(&other.spread)
            .then(other.id.cmp(&self.id))
    }
}

impl Partial {
    fn new(id: usize, mut groups: Vec<(f64, Vec<usize>)>) -> Self {
        groups.sort_by(|x, y| y.0.total_cmp(&x.0));
        let spread = groups[0].0 - groups[groups.len() - 1].0;
        Partial { spread, id, groups }
    }
}

fn karmarkar_karp(costs: &[f64], order: &[usize], groups: usize) -> Vec<Vec<usize>> {
    let mut heap: BinaryHeap<Partial> = order
        .chunks(groups)
        .enumerate()
        .map(|(id, chunk)| Partial::new(id, chunk.iter().map(|&i| (costs[i], vec![i])).collect()))
        .collect();
    let mut next_id = heap.len();
    while heap.len() > 1 {
        let first = heap.pop().expect("two partitions");
        let second = heap.pop().expect("two partitions");
        // The heaviest groups of one take the lightest of the other.
        let merged = first
            .groups
            .into_iter()
            .zip(second.groups.into_iter().rev())
            .map(|((a, mut x), (b, y))| {
                x.extend(y);
                (a + b, x)
            })
            .collect();
        heap.push(Partial::new(next_id, merged));
        next_id += 1;
    }
    heap.pop()
        .map_or_else(Vec::new, |p| p.groups.into_iter().map(|(_, g)| g).collect())
}

/// Swaps one row of the most loaded group with one of another group while that lowers the
/// larger of the two loads; stops when no swap does (or after a bound on rounds).
fn refine(costs: &[f64], members: &mut [Vec<usize>]) {
    let mut loads: Vec<f64> = members.iter().map(|g| load(costs, g)).collect();
    for _ in 0..4 * costs.len() {
        let heavy = (0..loads.len())
            .max_by(|&x, &y| loads[x].total_cmp(&loads[y]).then(y.cmp(&x)))
            .expect("at least one group");
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for (other, &other_load) in loads.iter().enumerate() {
            if other == heavy {
                continue;
            }
            let gap = loads[heavy] - other_load;
            for (a, &i) in members[heavy].iter().enumerate() {
                for (b, &j) in members[other].iter().enumerate() {
                    let moved = costs[i] - costs[j];
                    // The pair's larger load after the swap, if it falls.
                    if moved > 0.0 && moved < gap {
                        let after = (loads[heavy] - moved).max(other_load + moved);
                        if best.is_none_or(|(b, ..)| after < b) {
                            best = Some((after, other, a, b));
                        }
                    }
                }
            }
        }
        let Some((_, other, a, b)) = best else { return };
        let (i, j) = (members[heavy][a], members[other][b]);
        members[heavy][a] = j;
        members[other][b] = i;
        loads[heavy] += costs[j] - costs[i];
        loads[other] += costs[i] - costs[j];
    }
}

/// Balanced steps: each step's `W·B` rows are cut into `W·m` groups of `B/m` rows of
/// near-equal cost, and the groups dealt `m` to a rank the same way (so ranks are balanced
/// too); a rank's groups are its micro-batches, one after the other in its batch of `B` rows
/// (rows in plan order inside a group).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Balance {
    pub cost: CostModel,
    pub micro_batches: u64,
    pub method: Partition,
}

impl Balance {
    /// The partition measured best on real length distributions (see
    /// `benches/results/long_context.md`).
    pub const METHOD: Partition = Partition::KarmarkarKarp;

    pub fn new(cost: CostModel, micro_batches: u64) -> Self {
        Balance {
            cost,
            micro_batches,
            method: Self::METHOD,
        }
    }

    pub(crate) fn into_deal(self) -> Arc<dyn Deal> {
        Arc::new(self)
    }
}

impl Balance {
    /// The order in which ranks take a step's rows of `costs` (`batch_size` rows per
    /// rank): position `k` of the dealt step holds row `order[k]` of the step.
    pub fn order(&self, costs: &[f64], batch_size: usize) -> Vec<usize> {
        let m = self.micro_batches as usize;
        let ranks = costs.len() / batch_size;
        let group_of = partition(costs, ranks * m, self.method)
            .expect("the split checks that micro-batches divide the step");
        // The groups' loads dealt to ranks, `m` each, by the same partition: ranks are
        // balanced as well as their micro-batches.
        let mut loads = vec![0.0; ranks * m];
        for (&g, &c) in group_of.iter().zip(costs) {
            loads[g] += c;
        }
        let rank_of = partition(&loads, ranks, self.method)
            .expect("every rank takes the same number of groups");
        let mut order: Vec<usize> = (0..costs.len()).collect();
        // Rank by rank, group by group; a row keeps its place in the step within its group.
        order.sort_by_key(|&i| (rank_of[group_of[i]], group_of[i], i));
        order
    }
}

impl Deal for Balance {
    fn deal(&self, plan: &Plan, step: &mut [Option<usize>], batch_size: usize) {
        let costs: Vec<f64> = step
            .iter()
            .map(|row| row.map_or(0.0, |p| self.cost.row_cost(plan, p)))
            .collect();
        let dealt: Vec<Option<usize>> = self
            .order(&costs, batch_size)
            .iter()
            .map(|&i| step[i])
            .collect();
        step.copy_from_slice(&dealt);
    }
}

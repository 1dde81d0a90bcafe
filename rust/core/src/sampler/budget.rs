//! Token-budget steps: instead of `B` rows per rank, each rank gets per step ONE flattened
//! batch of at most `N` real tokens (the rows' documents one after the other, no padding),
//! for consumers of varlen batches (flash-attn varlen, torch `varlen_attn`).
//!
//! Every rank plans the same global list of steps from the epoch plan, so every rank takes
//! the same number of steps and no collective waits for a rank that has run out. A step is
//! the rows from where the previous one ended that next-fit puts on the `W` ranks in plan
//! order (rank 0 until the next row would pass `N`, then rank 1, …); the step ends at the
//! first row that fits on no rank. So a step is a pure function of the plan and where it
//! starts, and the loader state (rows of the plan handed out) resumes it exactly.
//!
//! With a [`CostModel`], the same rows are dealt by cost instead: rows by falling cost, each
//! to the rank of least cost that still has room for its tokens (longest processing time
//! first under the budget). When that leaves a row with no room, the step keeps next-fit's
//! deal, which always fits.

use super::balance::CostModel;
use crate::batch::{FlatSchedule, Plan};
use crate::{Error, Result};

/// How an epoch's rows are cut into token-budget steps and shared out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBudget {
    /// Most real tokens of one rank's batch.
    pub batch_tokens: u64,
    pub world_size: u64,
    pub rank: u64,
    /// Leave out a last step in which some rank would get no row (otherwise that rank gets
    /// a batch of no tokens).
    pub drop_last: bool,
    /// `None`: next-fit over the ranks in plan order.
    pub balance: Option<CostModel>,
}

/// One step of all ranks: the rows of each rank (in plan order), and the plan position
/// after the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStep {
    pub ranks: Vec<Vec<usize>>,
    pub end: u64,
}

impl TokenBudget {
    /// `seq_len` is the longest a row of the plan can be: a budget below it could meet a
    /// row that fits on no rank, so it is refused.
    pub fn new(
        batch_tokens: u64,
        seq_len: u64,
        world_size: u64,
        rank: u64,
        drop_last: bool,
    ) -> Result<Self> {
        if batch_tokens < seq_len.max(1) {
            return Err(Error::invalid_option(
                "batch_tokens",
                format!(
                    "= {batch_tokens} is below seq_len = {seq_len}, the longest a row can be: \
                     a row longer than the budget would fit on no rank; use batch_tokens ≥ \
                     seq_len (or a shorter seq_len)"
                ),
            ));
        }
        if i32::try_from(batch_tokens).is_err() {
            return Err(Error::invalid_option(
                "batch_tokens",
                format!("= {batch_tokens} exceeds the 2^31 that int32 cu_seqlens can index"),
            ));
        }
        super::split::check_rank("world_size", world_size, "rank", rank)?;
        Ok(TokenBudget {
            batch_tokens,
            world_size,
            rank,
            drop_last,
            balance: None,
        })
    }

    /// Deals each step's rows by `cost`.
    pub fn balanced(mut self, cost: CostModel) -> Self {
        self.balance = Some(cost);
        self
    }

    /// The steps of the rest of the epoch of `plan`, from plan position `consumed` on
    /// (a position where a step starts: 0, or where a saved state stopped).
    pub fn steps(&self, plan: &Plan, consumed: u64) -> Result<Vec<BudgetStep>> {
        let tokens: Vec<u64> = (0..plan.num_packs())
            .map(|p| flat_row_tokens(plan, p))
            .collect();
        if let Some((p, &t)) = tokens
            .iter()
            .enumerate()
            .find(|&(_, &t)| t > self.batch_tokens)
        {
            return Err(Error::invalid_option(
                "batch_tokens",
                format!(
                    "= {} is below row {p} of the plan, of {t} tokens: it would fit on no rank",
                    self.batch_tokens
                ),
            ));
        }
        let world = self.world_size as usize;
        let mut dealer = self.balance.map(|cost| (CostDealer::new(world), cost));
        let mut steps = Vec::new();
        let mut start = usize::try_from(consumed).unwrap_or(usize::MAX);
        while start < tokens.len() {
            let bounds = self.next_fit(&tokens, start);
            let end = bounds[bounds.len() - 1];
            // Judged on next-fit's deal, so that balancing never changes which steps exist
            // (a deal by cost gives every rank a row whenever next-fit does).
            let complete = bounds.len() == world + 1;
            if !complete && self.drop_last {
                break;
            }
            let by_cost = dealer.as_mut().and_then(|(dealer, cost)| {
                dealer.deal(
                    |p| cost.row_cost(plan, p),
                    |p| tokens[p],
                    start..end,
                    self.batch_tokens,
                )
            });
            let ranks = by_cost.unwrap_or_else(|| next_fit_ranks(&bounds, world));
            steps.push(BudgetStep {
                ranks,
                end: end as u64,
            });
            start = end;
        }
        Ok(steps)
    }

    /// Rows of the plan that no step hands out (the last step `drop_last` leaves out).
    pub fn rows_left_out(&self, plan: &Plan) -> Result<u64> {
        let steps = self.steps(plan, 0)?;
        Ok(plan.num_packs() as u64 - steps.last().map_or(0, |s| s.end))
    }

    /// This rank's batches, and worker `worker` of `workers`'s share of them (every
    /// `workers`-th step from its `worker`-th), for the rest of the epoch from `consumed`.
    pub fn schedule(
        &self,
        plan: &Plan,
        consumed: u64,
        worker: u64,
        workers: u64,
    ) -> Result<FlatSchedule> {
        let mut steps = self.steps(plan, consumed)?;
        let workers = workers.max(1) as usize;
        let rank = self.rank as usize;
        let mut schedule = FlatSchedule::default();
        for s in (worker as usize..steps.len()).step_by(workers) {
            schedule
                .batches
                .push(std::mem::take(&mut steps[s].ranks[rank]));
            // As with fixed batches: after a worker's batch, every worker is taken to have
            // handed out its batch of the same round of `workers` steps.
            let round_end = (s - worker as usize + workers - 1).min(steps.len() - 1);
            schedule.positions.push(steps[round_end].end);
        }
        Ok(schedule)
    }

    /// Next-fit from row `start`: each rank in turn takes rows in plan order while they fit
    /// in its budget. Returns where each rank's rows begin and, last, where the step ends:
    /// rank `r` takes rows `bounds[r]..bounds[r + 1]`, a rank past the last bound none.
    fn next_fit(&self, tokens: &[u64], start: usize) -> Vec<usize> {
        let world = self.world_size as usize;
        let mut bounds = Vec::with_capacity(world + 1);
        bounds.push(start);
        let mut load = 0;
        for (p, &t) in tokens.iter().enumerate().skip(start) {
            if load + t > self.batch_tokens {
                bounds.push(p);
                if bounds.len() > world {
                    return bounds;
                }
                load = 0;
            }
            load += t;
        }
        bounds.push(tokens.len());
        bounds
    }
}

/// The rows of each of `world` ranks from next-fit's `bounds` (see [`TokenBudget::next_fit`]).
fn next_fit_ranks(bounds: &[usize], world: usize) -> Vec<Vec<usize>> {
    let mut ranks: Vec<Vec<usize>> = bounds.windows(2).map(|w| (w[0]..w[1]).collect()).collect();
    ranks.resize_with(world, Vec::new);
    ranks
}

/// Tokens a row puts in a flattened batch: its segments with their alignment padding.
pub(crate) fn flat_row_tokens(plan: &Plan, p: usize) -> u64 {
    plan.row(p)
        .iter()
        .map(|s| u64::from(s.len.next_multiple_of(plan.align)))
        .sum()
}

/// Deals a step's rows by falling cost, each to the rank of least cost with room for it
/// (ties: the lower rank; rows of equal cost in order). Keeps its buffers from step to step:
/// a whole epoch is dealt each time a loader starts one.
pub(crate) struct CostDealer {
    /// Rows of the step with their costs, costliest first.
    order: Vec<(usize, f64)>,
    /// Cost and tokens of each rank so far.
    loads: Vec<(f64, u64)>,
}

impl CostDealer {
    pub(crate) fn new(world: usize) -> Self {
        CostDealer {
            order: Vec::new(),
            loads: vec![(0.0, 0); world],
        }
    }

    /// The rows `rows` (of `cost` and `tokens` each) of each rank, in order; `None` if a row
    /// fits on no rank within `batch_tokens`.
    pub(crate) fn deal(
        &mut self,
        cost: impl Fn(usize) -> f64,
        tokens: impl Fn(usize) -> u64,
        rows: std::ops::Range<usize>,
        batch_tokens: u64,
    ) -> Option<Vec<Vec<usize>>> {
        let world = self.loads.len();
        self.order.clear();
        self.order.extend(rows.map(|p| (p, cost(p))));
        // A total order (ties by row), so the unstable sort is deterministic.
        self.order
            .sort_unstable_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        self.loads.fill((0.0, 0));
        let mut ranks = vec![Vec::new(); world];
        for &(p, c) in &self.order {
            let t = tokens(p);
            let mut least: Option<usize> = None;
            for (r, &(load, used)) in self.loads.iter().enumerate() {
                let room = used + t <= batch_tokens;
                if room && least.is_none_or(|l| load.total_cmp(&self.loads[l].0).is_lt()) {
                    least = Some(r);
                }
            }
            let rank = least?;
            ranks[rank].push(p);
            self.loads[rank].0 += c;
            self.loads[rank].1 += t;
        }
        for rows in &mut ranks {
            rows.sort_unstable();
        }
        Some(ranks)
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;

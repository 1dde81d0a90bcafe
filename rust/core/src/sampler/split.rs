//! The rank/step split of an epoch: step `s` of an epoch hands rank `r` of `W` the rows
//! `s·W·B + r·B …` (`B` rows per rank), so every rank gets the same number of batches and
//! each row goes to exactly one rank; a DataLoader worker `w` of `n` further takes every
//! `n`-th of its rank's batches, from its `w`-th.
//!
//! With a [`Balance`], the rows of each step are dealt by cost instead of in turn (see
//! [`super::balance`]); which rows make a step does not change, so neither does the state.

use super::balance::Balance;
use crate::batch::{Dealer, Schedule};
use crate::{Error, Result};

/// How an epoch's rows are cut into steps and shared out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSplit {
    /// Rows per rank and step.
    pub batch_size: u64,
    pub world_size: u64,
    pub rank: u64,
    /// Leave out the rows that do not fill a last step on every rank (otherwise the last
    /// step is filled with rows of padding only).
    pub drop_last: bool,
    /// `None`: rank `r` takes the step's rows `r·B …` (round-robin).
    pub balance: Option<Balance>,
}

impl StepSplit {
    pub fn new(batch_size: u64, world_size: u64, rank: u64, drop_last: bool) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid_option(
                "batch_size",
                "must be a positive integer, got 0",
            ));
        }
        check_rank("world_size", world_size, "rank", rank)?;
        Ok(StepSplit {
            batch_size,
            world_size,
            rank,
            drop_last,
            balance: None,
        })
    }

    /// Deals each step's rows by cost with `balance`; its micro-batches must divide the
    /// batch size.
    pub fn balanced(mut self, balance: Balance) -> Result<Self> {
        Error::check_divisor(
            "micro_batches",
            balance.micro_batches,
            "batch_size",
            self.batch_size,
        )?;
        self.balance = Some(balance);
        Ok(self)
    }

    /// Rows of one step over all ranks.
    pub fn rows_per_step(&self) -> u64 {
        self.world_size * self.batch_size
    }

    /// Steps left in an epoch of `rows` rows of which `consumed` have been handed out.
    pub fn steps(&self, rows: u64, consumed: u64) -> u64 {
        let left = rows.saturating_sub(consumed);
        if self.drop_last {
            left / self.rows_per_step()
        } else {
            left.div_ceil(self.rows_per_step())
        }
    }

    /// Rows of the epoch that no step hands out (those `drop_last` leaves out).
    pub fn rows_left_out(&self, rows: u64) -> u64 {
        rows - (self.steps(rows, 0) * self.rows_per_step()).min(rows)
    }

    /// The batches of this rank and of worker `worker` of `workers` for the rest of an
    /// epoch of `rows` rows, from `consumed` on.
    pub fn schedule(&self, rows: u64, consumed: u64, worker: u64, workers: u64) -> Schedule {
        let workers = workers.max(1);
        let steps = self.steps(rows, consumed);
        let step = self.rows_per_step();
        Schedule {
            first: consumed + worker * step + self.rank * self.batch_size,
            stride: step * workers,
            batch_size: self.batch_size as usize,
            num_batches: (steps + workers - 1).saturating_sub(worker) / workers,
            dealer: self.balance.map(|balance| Dealer {
                deal: balance.into_deal(),
                step_rows: step,
                slot: self.rank * self.batch_size,
            }),
        }
    }
}

/// `rank` of `size` processes, named `size_name` and `rank_name` in errors: `size` must be
/// positive and `rank` below it.
pub(crate) fn check_rank(
    size_name: &'static str,
    size: u64,
    rank_name: &'static str,
    rank: u64,
) -> Result<()> {
    if size == 0 {
        return Err(Error::invalid_option(
            size_name,
            "must be a positive integer, got 0",
        ));
    }
    if rank >= size {
        return Err(Error::invalid_option(
            rank_name,
            format!("must be in 0..{}, got {rank}", size - 1),
        ));
    }
    Ok(())
}

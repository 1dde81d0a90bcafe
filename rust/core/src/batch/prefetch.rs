//! Assembling a schedule of batches ahead of the consumer, on a thread of its own.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use super::assemble::{Batch, assemble, assemble_flat};
use super::plan::Plan;
use crate::Result;
use crate::read_ahead::{Produce, ReadAhead};
use crate::shard::TokenStore;

/// Which rows make each batch: batch `i` is rows `first + i·stride + j` of the plan for
/// `j < batch_size`, a row past the plan's end being padding only. The share of a rank and
/// a loader worker is made by [`crate::sampler::StepSplit::schedule`].
///
/// With a [`Dealer`], the rows of each whole step (`step_rows` of them, this rank's batch
/// `slot` rows in) are first put in the order the dealer chooses, and the batch is the
/// same `batch_size` rows of that order.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub first: u64,
    pub stride: u64,
    pub batch_size: usize,
    pub num_batches: u64,
    pub dealer: Option<Dealer>,
}

/// How the rows of a step are dealt to ranks, and where this rank's batch sits in the step.
#[derive(Debug, Clone)]
pub struct Dealer {
    pub deal: Arc<dyn Deal>,
    /// Rows of one step over all ranks.
    pub step_rows: u64,
    /// Rows of the step before this rank's batch.
    pub slot: u64,
}

/// Puts the rows of one step (`None`: padding only) in the order ranks take them: rank `r`
/// of a step of `batch_size` rows per rank takes rows `r·batch_size …`. A pure function of
/// the step's rows and the plan.
pub trait Deal: Send + Sync + std::fmt::Debug {
    fn deal(&self, plan: &Plan, step: &mut [Option<usize>], batch_size: usize);
}

/// Flattened batches, one per step: batch `i` is the rows `batches[i]` of the plan one
/// after the other, without padding (made by [`crate::sampler::TokenBudget::schedule`]);
/// `positions[i]` is where the loader stands in the plan once batch `i` is handed out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlatSchedule {
    pub batches: Vec<Vec<usize>>,
    pub positions: Vec<u64>,
}

/// What a [`Prefetcher`] assembles: batches of rows of `seq_len` tokens, or flattened ones.
#[derive(Debug, Clone)]
pub enum Batches {
    Rows(Schedule),
    Flat(Arc<FlatSchedule>),
}

impl Batches {
    pub fn len(&self) -> u64 {
        match self {
            Batches::Rows(schedule) => schedule.num_batches,
            Batches::Flat(schedule) => schedule.batches.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Schedule> for Batches {
    fn from(schedule: Schedule) -> Self {
        Batches::Rows(schedule)
    }
}

impl From<FlatSchedule> for Batches {
    fn from(schedule: FlatSchedule) -> Self {
        Batches::Flat(Arc::new(schedule))
    }
}

impl Schedule {
    /// The rows of batch `i` of `plan`.
    pub fn rows(&self, i: u64, plan: &Plan) -> Vec<Option<usize>> {
        let num_packs = plan.num_packs();
        let row = |p: u64| usize::try_from(p).ok().filter(|&p| p < num_packs);
        let base = self.first + i * self.stride;
        let Some(dealer) = &self.dealer else {
            return (0..self.batch_size as u64).map(|j| row(base + j)).collect();
        };
        let step_start = base - dealer.slot;
        let mut step: Vec<Option<usize>> =
            (0..dealer.step_rows).map(|j| row(step_start + j)).collect();
        dealer.deal.deal(plan, &mut step, self.batch_size);
        let slot = dealer.slot as usize;
        step[slot..slot + self.batch_size].to_vec()
    }
}

/// Everything a producer thread needs, shared with the consumer.
#[derive(Debug, Clone)]
pub(super) struct Job {
    store: Arc<TokenStore>,
    plan: Arc<Plan>,
    batches: Batches,
    seq_len: usize,
    pad_id: i64,
}

/// The batches of a [`Schedule`] (or a [`FlatSchedule`]), assembled up to `depth` ahead on a producer thread that
/// a forked process replaces with its own (see [`crate::read_ahead`]).
#[derive(Debug)]
pub struct Prefetcher {
    pub(super) ahead: ReadAhead<Job>,
    next: u64,
}

impl Prefetcher {
    pub fn start(
        store: Arc<TokenStore>,
        plan: Arc<Plan>,
        batches: impl Into<Batches>,
        seq_len: usize,
        pad_id: i64,
        depth: usize,
    ) -> Self {
        let job = Job {
            store,
            plan,
            batches: batches.into(),
            seq_len,
            pad_id,
        };
        Prefetcher {
            ahead: ReadAhead::start(job, 0, depth),
            next: 0,
        }
    }

    /// Batches not yet handed out.
    pub fn remaining(&self) -> u64 {
        self.ahead.job.batches.len() - self.next
    }

    /// The next batch, waiting for it if need be; `None` after the last.
    pub fn next_batch(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.ahead.job.batches.len() {
            return None;
        }
        let batch = self.ahead.next(&self.next);
        // A failed batch is not skipped: asking again assembles it again (and fails again).
        if batch.is_ok() {
            self.next += 1;
        }
        Some(batch)
    }

    /// Where the loader stands in the plan once the batches handed out so far are
    /// consumed; `None` for a [`Schedule`], whose position the loader counts itself.
    pub fn position(&self) -> Option<u64> {
        match &self.ahead.job.batches {
            Batches::Flat(schedule) if self.next > 0 => {
                Some(schedule.positions[self.next as usize - 1])
            }
            _ => None,
        }
    }
}

impl Produce for Job {
    type Position = u64;
    type Item = Result<Batch>;
    const THREAD: &'static str = "seqpack-batches";

    fn produce(&self, from: u64, sender: &SyncSender<Result<Batch>>) {
        for i in from..self.batches.len() {
            let batch = match &self.batches {
                Batches::Rows(schedule) => {
                    let rows = schedule.rows(i, &self.plan);
                    assemble(&self.store, &self.plan, &rows, self.seq_len, self.pad_id)
                }
                Batches::Flat(schedule) => assemble_flat(
                    &self.store,
                    &self.plan,
                    &schedule.batches[i as usize],
                    self.pad_id,
                ),
            };
            let failed = batch.is_err();
            // A closed channel means the consumer is gone: stop quietly.
            if sender.send(batch).is_err() || failed {
                return;
            }
        }
    }
}

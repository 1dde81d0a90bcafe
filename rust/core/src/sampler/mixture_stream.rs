//! One rank's (and loader worker's) batches of a mixture, assembled ahead on a thread.
//!
//! Every rank and worker walks the same row choices from the same cursor (arithmetic on a
//! few numbers per source); step `k` of the walk belongs to worker `k mod workers`, and
//! rank `r` takes rows `r·B … (r + 1)·B` of it (after the deal by cost, with a balanced
//! split), as [`StepSplit`] cuts an epoch's steps, or,
//! with a [`TokenBudget`], its share of the step's next-fit deal as one flattened batch
//! (see [`Mixture::next_budget_step`]).

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use super::budget::TokenBudget;
use super::mixture::MixedRow;
use super::mixture::Mixture;
use super::mixture_state::MixtureCursor;
use super::split::StepSplit;
use crate::Result;
use crate::batch::Batch;
use crate::read_ahead::{Produce, ReadAhead};

/// How a mixture's steps are cut and shared out over ranks.
#[derive(Debug, Clone, Copy)]
pub enum MixtureSplit {
    /// `batch_size` rows per rank and step.
    Rows(StepSplit),
    /// One flattened batch of at most `batch_tokens` tokens per rank and step.
    Budget(TokenBudget),
}

/// A batch of a mixture: its rows, the source of each row (-1: padding) or, in a flattened
/// batch, of each document, and where the walk stands after its step.
#[derive(Debug, Clone)]
pub struct MixedBatch {
    pub batch: Batch,
    pub sources: Vec<i64>,
    pub cursor: MixtureCursor,
    /// Steps of the walk made since the stream started, this one's included.
    made: u64,
}

/// Everything a producer thread needs.
#[derive(Debug, Clone)]
struct Job {
    mixture: Arc<Mixture>,
    split: MixtureSplit,
    pad_id: i64,
    worker: u64,
    workers: u64,
}

type Item = Result<Option<MixedBatch>>;

/// The batches of one rank and worker from a cursor on, up to `depth` ahead on a producer
/// thread that a forked process replaces with its own, started at the batch it would have
/// received next (see [`crate::read_ahead`]).
#[derive(Debug)]
pub struct MixtureStream {
    ahead: ReadAhead<Job>,
    /// The walk as of the last batch handed out.
    at: (MixtureCursor, u64),
    finished: bool,
}

impl MixtureStream {
    pub fn start(
        mixture: Arc<Mixture>,
        cursor: MixtureCursor,
        split: MixtureSplit,
        pad_id: i64,
        worker: u64,
        workers: u64,
        depth: usize,
    ) -> Self {
        let job = Job {
            mixture,
            split,
            pad_id,
            worker,
            workers: workers.max(1),
        };
        let at = (cursor, 0);
        MixtureStream {
            ahead: ReadAhead::start(job, at.clone(), depth),
            at,
            finished: false,
        }
    }

    /// The next batch, waiting for it if need be; `None` once the mixture has ended. After
    /// an error, asking again walks from where the last batch left off (and fails again if
    /// it must).
    pub fn next_batch(&mut self) -> Result<Option<MixedBatch>> {
        if self.finished {
            return Ok(None);
        }
        let item = self.ahead.next(&self.at);
        match &item {
            Ok(Some(batch)) => self.at = (batch.cursor.clone(), batch.made),
            Ok(None) => self.finished = true,
            Err(_) => {}
        }
        item
    }
}

impl Produce for Job {
    type Position = (MixtureCursor, u64);
    type Item = Item;
    const THREAD: &'static str = "seqpack-mixture";

    fn produce(&self, (mut cursor, mut made): (MixtureCursor, u64), sender: &SyncSender<Item>) {
        loop {
            let item = self.next_step(&mut cursor).and_then(|step| {
                let Some(step) = step else { return Ok(None) };
                made += 1;
                if (made - 1) % self.workers != self.worker {
                    return Ok(Some(None));
                }
                let (batch, sources) = self.assemble(step)?;
                Ok(Some(Some(MixedBatch {
                    batch,
                    sources,
                    cursor: cursor.clone(),
                    made,
                })))
            });
            let item = match item {
                Ok(Some(None)) => continue, // another worker's step
                Ok(Some(batch)) => Ok(batch),
                Ok(None) => Ok(None),
                Err(error) => Err(error),
            };
            let last = !matches!(item, Ok(Some(_)));
            // A closed channel means the consumer is gone: stop quietly.
            if sender.send(item).is_err() || last {
                return;
            }
        }
    }
}

/// The rows of a step over all ranks.
enum Step {
    Rows(Vec<Option<MixedRow>>),
    /// The rows of each rank.
    Budget(Vec<Vec<MixedRow>>),
}

impl Job {
    /// The next step, moving `cursor` past it; `None` once the mixture has ended.
    fn next_step(&self, cursor: &mut MixtureCursor) -> Result<Option<Step>> {
        Ok(match self.split {
            MixtureSplit::Rows(split) => self
                .mixture
                .next_step(cursor, split.rows_per_step(), split.drop_last)?
                .map(Step::Rows),
            MixtureSplit::Budget(budget) => self
                .mixture
                .next_budget_step(cursor, &budget)?
                .map(Step::Budget),
        })
    }

    /// This rank's batch of `step` (its rows dealt by cost first, with a balanced split),
    /// and the source of each row or, in a flattened batch, of each document.
    fn assemble(&self, step: Step) -> Result<(Batch, Vec<i64>)> {
        match (step, self.split) {
            (Step::Rows(rows), MixtureSplit::Rows(split)) => {
                let batch_size = split.batch_size as usize;
                let mut rows = match &split.balance {
                    Some(balance) => self.mixture.deal(rows, balance, batch_size),
                    None => rows,
                };
                let first = split.rank as usize * batch_size;
                rows.truncate(first + batch_size);
                self.mixture.assemble(&rows[first..], self.pad_id)
            }
            (Step::Budget(mut ranks), MixtureSplit::Budget(budget)) => {
                let rows = ranks.swap_remove(budget.rank as usize);
                self.mixture.assemble_flat(&rows, self.pad_id)
            }
            _ => unreachable!("a step is made by the job's split"),
        }
    }
}

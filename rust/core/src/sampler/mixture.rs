//! Data mixtures: several datasets in scheduled, token-exact proportions.
//!
//! Each source is packed on its own (a row never mixes sources), epoch by epoch as its
//! [`EpochPlanner`] plans it: each repetition of a source is packed anew, with seeds from
//! the one [`derive_seed`](super::derive_seed) keyed by the source's fingerprint and the
//! repetition. The mixture then lays the sources' rows out in one global row order:
//!
//! **The deficit rule.** Every row handed out adds its real tokens `r` to each source's
//! *target* in proportion to the source's weight at that step (`target_i += w_i · r`, the
//! weights normalised over the sources that still have rows), and to the *taken* tokens of
//! the source it came from. The next row always comes from the source whose deficit
//! `target_i − taken_i` is largest (ties: the first source), among those with a positive
//! weight. As `Σ target = Σ taken`, the deficits sum to zero, so the chosen source's deficit
//! is never negative and a row of at most `L = seq_len` tokens leaves it above `−L`: while
//! every source has a positive weight, no source is ever a row ahead of its target
//! (`deficit > −L`), and none is behind it by more than a row per other source
//! (`deficit < (n − 1) · L`, since the deficits sum to zero). A source whose weight drops to
//! zero keeps its deficit as it stood.
//!
//! **Schedules.** Weights may change by stage, by step or by tokens seen, as steps or
//! linearly interpolated ([`WeightSchedule`]); a step's weights are those at its start.
//!
//! **The end.** A source with `max_epochs` stops after that many epochs; then its share goes
//! to the others ([`OnExhausted::Redistribute`]) or the mixture ends at the end of that step
//! ([`OnExhausted::Stop`]). Without `max_epochs`, a source repeats forever.
//!
//! The plan is a pure function of (fingerprints, options, seed): a [`MixtureCursor`] of a
//! few numbers per source (see [`super::mixture_state`]) says where it stands, and every
//! rank and loader worker walks the same row order from it (choosing rows is arithmetic on
//! those numbers; only its own rows are assembled), so a run resumes exactly, also on
//! another world size.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use xxhash_rust::xxh3::xxh3_64;

use super::balance::Balance;
use super::budget::{CostDealer, TokenBudget, flat_row_tokens};
use super::epoch::EpochPlanner;
use super::mixture_state::{MixtureCursor, SourceCursor};
use crate::batch::{Batch, Plan, assemble_flat_rows, assemble_rows};
use crate::choice::{Named, names};
use crate::shard::TokenStore;
use crate::{Error, Result};

fn bad(message: String) -> Error {
    Error::invalid_option("mixture", message)
}

names! {
    /// What the position of a schedule's stages counts.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ScheduleUnit {
        Steps => "steps",
        Tokens => "tokens",
    }
}

names! {
    /// How weights go from one stage to the next.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Interpolation {
        /// A stage's weights hold until the next stage starts.
        Step => "step",
        /// Weights move linearly from a stage's to the next one's.
        Linear => "linear",
    }
}

names! {
    /// What happens once a source has given its `max_epochs` epochs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum OnExhausted {
        /// Its share goes to the other sources, in proportion to their weights.
        Redistribute => "redistribute",
        /// The mixture ends with the step in which it ran out.
        Stop => "stop",
    }
}

/// The weights of the sources over a run: stages starting at increasing positions (the
/// first at 0), each with one weight per source.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSchedule {
    pub unit: ScheduleUnit,
    pub interpolation: Interpolation,
    pub stages: Vec<(u64, Vec<f64>)>,
}

/// The value named at `key` of `spec` (`default` when absent).
fn choice<T: Named>(spec: &Map<String, Value>, key: &str, default: T) -> Result<T> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => T::NAMES
            .iter()
            .find(|(name, _)| name == s)
            .map(|&(_, value)| value)
            .ok_or_else(|| {
                let known: Vec<&str> = T::NAMES.iter().map(|(n, _)| *n).collect();
                bad(format!(
                    "{key} {s:?} is unknown; expected {}",
                    known.join(" or ")
                ))
            }),
        Some(other) => Err(bad(format!("{key} must be a string, got {other}"))),
    }
}

impl WeightSchedule {
    /// Reads `{"unit": "steps" | "tokens", "interpolation": "step" | "linear", "stages":
    /// [{"at": position, "weights": {source name: weight}}, …]}`. A stage names only known
    /// sources (one it leaves out has weight 0); weights are finite and non-negative, not
    /// all zero. Errors name the stage and the source.
    pub fn from_json(spec: &Map<String, Value>, names: &[String]) -> Result<Self> {
        let unit = choice(spec, "unit", ScheduleUnit::Steps)?;
        let interpolation = choice(spec, "interpolation", Interpolation::Step)?;
        let stages = match spec.get("stages") {
            Some(Value::Array(stages)) if !stages.is_empty() => stages,
            _ => return Err(bad("stages must be a non-empty list of stages".into())),
        };
        let mut read = Vec::with_capacity(stages.len());
        for (k, stage) in stages.iter().enumerate() {
            let at = stage
                .get("at")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad(format!("stage {k}: 'at' must be a non-negative integer")))?;
            match read.last() {
                None if at != 0 => {
                    return Err(bad(format!("stage 0 must start at 0, not at {at}")));
                }
                Some(&(before, _)) if at <= before => {
                    return Err(bad(format!(
                        "stage {k} starts at {at}, not after stage {} at {before}",
                        k - 1
                    )));
                }
                _ => {}
            }
            let Some(Value::Object(given)) = stage.get("weights") else {
                return Err(bad(format!(
                    "stage {k}: 'weights' must map source names to weights"
                )));
            };
            if let Some(unknown) = given.keys().find(|key| !names.contains(key)) {
                return Err(bad(format!(
                    "stage {k}: source {unknown:?} is not in the mixture"
                )));
            }
            let mut weights = Vec::with_capacity(names.len());
            for name in names {
                let weight = match given.get(name) {
                    None => 0.0,
                    Some(value) => value
                        .as_f64()
                        .filter(|w| w.is_finite() && *w >= 0.0)
                        .ok_or_else(|| {
                            let got = match value {
                                Value::Null => "a number that is not finite".to_string(),
                                other => other.to_string(),
                            };
                            bad(format!(
                                "source {name:?}: weight must be a finite number ≥ 0, got {got} (stage {k})"
                            ))
                        })?,
                };
                weights.push(weight);
            }
            if weights.iter().all(|&w| w == 0.0) {
                return Err(bad(format!("stage {k}: all weights are zero")));
            }
            read.push((at, weights));
        }
        Ok(WeightSchedule {
            unit,
            interpolation,
            stages: read,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "unit": self.unit.name(),
            "interpolation": self.interpolation.name(),
            "stages": self.stages.iter().map(|(at, w)| json!({"at": at, "weights": w})).collect::<Vec<_>>(),
        })
    }

    /// The stage that holds at `position`.
    pub fn stage_at(&self, position: u64) -> usize {
        self.stages.partition_point(|&(at, _)| at <= position) - 1
    }

    /// The weights (not normalised) at `position`.
    pub fn weights_at(&self, position: u64) -> Vec<f64> {
        let k = self.stage_at(position);
        let (at, ref weights) = self.stages[k];
        match (self.interpolation, self.stages.get(k + 1)) {
            (Interpolation::Linear, Some((next_at, next))) => {
                let t = (position - at) as f64 / (next_at - at) as f64;
                weights
                    .iter()
                    .zip(next)
                    .map(|(a, b)| a + (b - a) * t)
                    .collect()
            }
            _ => weights.clone(),
        }
    }
}

/// One source of a mixture.
#[derive(Debug)]
pub struct MixtureSource {
    /// How errors and reports name it (its path, or the name the mixture gives it).
    pub name: String,
    pub planner: Arc<EpochPlanner>,
    pub store: Arc<TokenStore>,
    /// The fingerprint of the tokenizer the source was made with.
    pub tokenizer: String,
    /// Epochs the source gives at most (`None`: it repeats forever).
    pub max_epochs: Option<u64>,
}

/// One row of a step: row `row` of epoch `epoch` of source `source`.
#[derive(Debug, Clone)]
pub struct MixedRow {
    pub source: usize,
    pub epoch: u64,
    pub row: usize,
    pub plan: Arc<Plan>,
}

/// The real tokens of row `p` of `plan` (alignment padding left out).
pub fn row_tokens(plan: &Plan, p: usize) -> u64 {
    plan.row(p).iter().map(|s| u64::from(s.len)).sum()
}

/// The deficit rule's choice: the source of largest `target − taken` among those with a
/// positive weight (ties: the first); `None` when no weight is positive.
pub fn pick(sources: &[SourceCursor], weights: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, (source, &w)) in sources.iter().zip(weights).enumerate() {
        if w <= 0.0 {
            continue;
        }
        let deficit = source.deficit();
        if best.is_none_or(|(_, d)| deficit > d) {
            best = Some((i, deficit));
        }
    }
    best.map(|(i, _)| i)
}

/// Accounts a row of `tokens` real tokens taken from `chosen`: every target grows by its
/// weight's share of them.
pub fn take(sources: &mut [SourceCursor], weights: &[f64], chosen: usize, tokens: u64) {
    for (source, &w) in sources.iter_mut().zip(weights) {
        source.target += w * tokens as f64;
    }
    sources[chosen].tokens += tokens;
    sources[chosen].rows += 1;
}

/// A mixture of datasets: its sources, their weights over the run and what happens when a
/// source runs out. The plan of every source's epochs is kept for the epoch in use.
#[derive(Debug)]
pub struct Mixture {
    sources: Vec<MixtureSource>,
    schedule: WeightSchedule,
    on_exhausted: OnExhausted,
    identity: String,
    plans: Mutex<Vec<Option<KeptPlan>>>,
}

/// A source's plan of one epoch (the epoch and its rows), kept while it is in use.
type KeptPlan = (u64, Arc<Plan>);

impl Mixture {
    /// Checks that the sources share a tokenizer and a row length and each has rows, and
    /// reads the schedule and `on_exhausted` ("redistribute" or "stop") from `spec`.
    pub fn new(sources: Vec<MixtureSource>, spec: &Map<String, Value>) -> Result<Self> {
        let first = sources
            .first()
            .ok_or_else(|| bad("has no sources".into()))?;
        for source in &sources[1..] {
            if source.tokenizer != first.tokenizer {
                return Err(bad(format!(
                    "source {:?} was made with another tokenizer (fingerprint {}) than source {:?} ({})",
                    source.name, source.tokenizer, first.name, first.tokenizer
                )));
            }
            let (a, b) = (first.planner.options(), source.planner.options());
            if (a.seq_len, a.align) != (b.seq_len, b.align) {
                return Err(bad(format!(
                    "source {:?} has rows of {} tokens (align {}), source {:?} of {} (align {})",
                    source.name, b.seq_len, b.align, first.name, a.seq_len, a.align
                )));
            }
        }
        for (i, source) in sources.iter().enumerate() {
            if sources[..i].iter().any(|s| s.name == source.name) {
                return Err(bad(format!("source {:?} appears twice", source.name)));
            }
            if source.max_epochs == Some(0) {
                return Err(bad(format!(
                    "source {:?}: max_epochs must be a positive integer or None, got 0",
                    source.name
                )));
            }
        }
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        let schedule = WeightSchedule::from_json(spec, &names)?;
        let on_exhausted = choice(spec, "on_exhausted", OnExhausted::Redistribute)?;
        let identity = json!({
            "sources": sources.iter().map(|s| json!({
                "dataset": s.planner.fingerprint(),
                "options": s.planner.options_json(),
                "max_epochs": s.max_epochs,
            })).collect::<Vec<_>>(),
            "schedule": schedule.to_json(),
            "on_exhausted": on_exhausted.name(),
        });
        let mixture = Mixture {
            plans: Mutex::new(vec![None; sources.len()]),
            identity: format!("{:016x}", xxh3_64(identity.to_string().as_bytes())),
            sources,
            schedule,
            on_exhausted,
        };
        for (i, source) in mixture.sources.iter().enumerate() {
            if mixture.plan(i, 0)?.num_packs() == 0 {
                return Err(bad(format!("source {:?} has no rows", source.name)));
            }
        }
        Ok(mixture)
    }

    pub fn sources(&self) -> &[MixtureSource] {
        &self.sources
    }

    pub fn schedule(&self) -> &WeightSchedule {
        &self.schedule
    }

    pub fn on_exhausted(&self) -> OnExhausted {
        self.on_exhausted
    }

    /// A digest of what fixes the plan (fingerprints, options, schedule): a state records
    /// it, and one of another mixture is refused.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The row length.
    pub fn seq_len(&self) -> u32 {
        self.sources[0].planner.options().seq_len
    }

    /// The rows of `epoch` of source `source` (kept while it is the epoch in use).
    pub fn plan(&self, source: usize, epoch: u64) -> Result<Arc<Plan>> {
        if let Some((e, plan)) = &self.plans.lock().unwrap_or_else(|p| p.into_inner())[source]
            && *e == epoch
        {
            return Ok(plan.clone());
        }
        let plan = Arc::new(self.sources[source].planner.plan(epoch)?);
        self.plans.lock().unwrap_or_else(|p| p.into_inner())[source] = Some((epoch, plan.clone()));
        Ok(plan)
    }

    /// The start of the run.
    pub fn start(&self) -> MixtureCursor {
        MixtureCursor::start(self.sources.len())
    }

    fn exhausted(&self, cursor: &MixtureCursor, i: usize) -> bool {
        self.sources[i]
            .max_epochs
            .is_some_and(|m| cursor.sources[i].epoch >= m)
    }

    /// The stage in effect at the start of the step `cursor` stands at.
    pub fn stage(&self, cursor: &MixtureCursor) -> usize {
        self.schedule.stage_at(self.position(cursor))
    }

    /// Where `cursor` stands in the schedule's unit (steps or tokens seen).
    pub fn position(&self, cursor: &MixtureCursor) -> u64 {
        match self.schedule.unit {
            ScheduleUnit::Steps => cursor.step,
            ScheduleUnit::Tokens => cursor.tokens(),
        }
    }

    /// The weights of the step `cursor` stands at, normalised over the sources with rows
    /// left (zero for the others); all zero when none with a weight has rows left.
    pub fn weights(&self, cursor: &MixtureCursor, position: u64) -> Vec<f64> {
        let mut weights = self.schedule.weights_at(position);
        for (i, w) in weights.iter_mut().enumerate() {
            if self.exhausted(cursor, i) {
                *w = 0.0;
            }
        }
        let total: f64 = weights.iter().sum();
        if total > 0.0 {
            weights.iter_mut().for_each(|w| *w /= total);
        }
        weights
    }

    /// Whether the mixture has ended at `cursor`.
    pub fn ended(&self, cursor: &MixtureCursor) -> bool {
        let any_exhausted = (0..self.sources.len()).any(|i| self.exhausted(cursor, i));
        (self.on_exhausted == OnExhausted::Stop && any_exhausted)
            || self
                .weights(cursor, self.position(cursor))
                .iter()
                .all(|&w| w == 0.0)
    }

    /// The `rows` rows of the next step over all ranks (`None`: a row of padding only, once
    /// every source with a weight has run out), moving `cursor` past it; `None` once the
    /// mixture has ended, or, with `drop_last`, when the step could not be filled.
    pub fn next_step(
        &self,
        cursor: &mut MixtureCursor,
        rows: u64,
        drop_last: bool,
    ) -> Result<Option<Vec<Option<MixedRow>>>> {
        if self.ended(cursor) {
            return Ok(None);
        }
        let mut walk = Walk::new(self, cursor);
        let mut picked = Vec::with_capacity(rows as usize);
        for _ in 0..rows {
            let row = walk.peek()?;
            if let Some(row) = &row {
                walk.take(row);
            }
            picked.push(row);
        }
        if drop_last && picked.iter().any(Option::is_none) {
            return Ok(None);
        }
        *cursor = walk.finish();
        Ok(Some(picked))
    }

    /// The next step of `budget`, the rows of each rank: rows in the deficit rule's order
    /// dealt by next-fit, rank 0 taking them while they fit in its `batch_tokens` (counted
    /// as [`TokenBudget`] counts them, alignment padding included), then rank 1, …; the
    /// step ends before the first row that fits on no rank, which starts the next step.
    /// With a cost model, the step's rows are then dealt by cost under the budget, as
    /// [`TokenBudget`] deals an epoch's. `None` once the mixture has ended, or, with
    /// `drop_last`, when some rank would get no row (judged on next-fit's deal).
    pub fn next_budget_step(
        &self,
        cursor: &mut MixtureCursor,
        budget: &TokenBudget,
    ) -> Result<Option<Vec<Vec<MixedRow>>>> {
        if self.ended(cursor) {
            return Ok(None);
        }
        let mut walk = Walk::new(self, cursor);
        let mut ranks: Vec<Vec<MixedRow>> = vec![Vec::new(); budget.world_size as usize];
        let (mut rank, mut load) = (0, 0);
        while let Some(row) = walk.peek()? {
            let tokens = flat_row_tokens(&row.plan, row.row);
            if tokens > budget.batch_tokens {
                return Err(Error::invalid_option(
                    "batch_tokens",
                    format!(
                        "= {} is below row {} of epoch {} of source {:?}, of {tokens} tokens: \
                         it would fit on no rank",
                        budget.batch_tokens, row.row, row.epoch, self.sources[row.source].name
                    ),
                ));
            }
            if load + tokens > budget.batch_tokens {
                rank += 1;
                load = 0;
                if rank == ranks.len() {
                    break;
                }
            }
            walk.take(&row);
            load += tokens;
            ranks[rank].push(row);
        }
        let complete = ranks.iter().all(|rows| !rows.is_empty());
        if ranks[0].is_empty() || (budget.drop_last && !complete) {
            return Ok(None);
        }
        *cursor = walk.finish();
        let Some(cost) = budget.balance else {
            return Ok(Some(ranks));
        };
        // Positions in the step, as next-fit dealt them, then by cost.
        let step: Vec<MixedRow> = ranks.concat();
        let mut next_fit = Vec::with_capacity(ranks.len());
        let mut first = 0;
        for rows in &ranks {
            next_fit.push((first..first + rows.len()).collect::<Vec<_>>());
            first += rows.len();
        }
        let dealt = CostDealer::new(ranks.len())
            .deal(
                |k| cost.row_cost(&step[k].plan, step[k].row),
                |k| flat_row_tokens(&step[k].plan, step[k].row),
                0..step.len(),
                budget.batch_tokens,
            )
            .unwrap_or(next_fit);
        Ok(Some(
            dealt
                .into_iter()
                .map(|rows| rows.into_iter().map(|k| step[k].clone()).collect())
                .collect(),
        ))
    }

    /// The rows of a step (`batch_size` per rank) in the order `balance` deals them to
    /// ranks and micro-batches by cost (a row of padding only costs nothing).
    pub fn deal(
        &self,
        step: Vec<Option<MixedRow>>,
        balance: &Balance,
        batch_size: usize,
    ) -> Vec<Option<MixedRow>> {
        let costs: Vec<f64> = step
            .iter()
            .map(|r| {
                r.as_ref()
                    .map_or(0.0, |r| balance.cost.row_cost(&r.plan, r.row))
            })
            .collect();
        let order = balance.order(&costs, batch_size);
        let mut step: Vec<Option<Option<MixedRow>>> = step.into_iter().map(Some).collect();
        order
            .into_iter()
            .map(|i| step[i].take().expect("the order is a permutation"))
            .collect()
    }

    /// Assembles `rows` (`None`: padding only) into a batch; also the source of each row
    /// (-1 for padding).
    pub fn assemble(&self, rows: &[Option<MixedRow>], pad_id: i64) -> Result<(Batch, Vec<i64>)> {
        let parts: Vec<_> = rows
            .iter()
            .map(|r| r.as_ref().map(|r| self.part(r)))
            .collect();
        let batch = assemble_rows(&parts, self.seq_len() as usize, pad_id)?;
        let ids = rows
            .iter()
            .map(|r| r.as_ref().map_or(-1, |r| r.source as i64))
            .collect();
        Ok((batch, ids))
    }

    /// Assembles `rows` into one flattened batch; also the source of each of its documents
    /// (the segments of its `cu_seqlens`).
    pub fn assemble_flat(&self, rows: &[MixedRow], pad_id: i64) -> Result<(Batch, Vec<i64>)> {
        let parts: Vec<_> = rows.iter().map(|r| self.part(r)).collect();
        let batch = assemble_flat_rows(&parts, pad_id)?;
        let ids = rows
            .iter()
            .flat_map(|r| {
                let segments = r.plan.row(r.row).iter().filter(|s| s.len > 0).count();
                std::iter::repeat_n(r.source as i64, segments)
            })
            .collect();
        Ok((batch, ids))
    }

    /// Where the tokens of `row` are.
    fn part<'a>(&'a self, row: &'a MixedRow) -> (&'a TokenStore, &'a Plan, usize) {
        (&*self.sources[row.source].store, &*row.plan, row.row)
    }
}

/// One step's walk of the deficit rule from a cursor: the next row, and the cursor moved
/// past each row taken. The step's weights are those at its start, renormalised when a
/// source runs out during it.
struct Walk<'a> {
    mixture: &'a Mixture,
    next: MixtureCursor,
    position: u64,
    weights: Vec<f64>,
}

impl<'a> Walk<'a> {
    fn new(mixture: &'a Mixture, cursor: &MixtureCursor) -> Self {
        let position = mixture.position(cursor);
        Walk {
            mixture,
            next: cursor.clone(),
            position,
            weights: mixture.weights(cursor, position),
        }
    }

    /// The row the deficit rule gives next (`None`: every source with a weight has run
    /// out), not yet taken.
    fn peek(&self) -> Result<Option<MixedRow>> {
        let Some(i) = pick(&self.next.sources, &self.weights) else {
            return Ok(None);
        };
        let source = &self.next.sources[i];
        Ok(Some(MixedRow {
            source: i,
            epoch: source.epoch,
            row: source.consumed as usize,
            plan: self.mixture.plan(i, source.epoch)?,
        }))
    }

    /// Takes `row` (the one [`Walk::peek`] gave).
    fn take(&mut self, row: &MixedRow) {
        let i = row.source;
        take(
            &mut self.next.sources,
            &self.weights,
            i,
            row_tokens(&row.plan, row.row),
        );
        let source = &mut self.next.sources[i];
        source.consumed += 1;
        if source.consumed as usize == row.plan.num_packs() {
            source.epoch += 1;
            source.consumed = 0;
            if self.mixture.exhausted(&self.next, i) {
                self.weights = self.mixture.weights(&self.next, self.position);
            }
        }
    }

    /// The cursor after the step.
    fn finish(mut self) -> MixtureCursor {
        self.next.step += 1;
        self.next
    }
}

#[cfg(test)]
#[path = "mixture_tests.rs"]
mod tests;

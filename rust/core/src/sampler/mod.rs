//! The sampler: everything that decides which rows a loader hands out, in which order, to
//! which rank, and how a run resumes. The loaders of the Python package are thin shells
//! over it.
//!
//! - [`seed`]: the one seed derivation behind every random choice (document order, row
//!   order, curriculum).
//! - [`epoch`]: the options that fix an epoch's rows and the planner that makes them.
//! - [`balance`]: the cost of a row and the deal of a step's rows to ranks by cost.
//! - [`budget`]: token-budget steps, one flattened batch of at most `N` tokens per rank.
//! - [`spread`]: rows of an epoch in an order that spreads the costliest over the steps.
//! - [`split`]: steps of an epoch and the rows of each step that go to each rank and worker.
//! - [`curriculum`]: which bucket each step of a decomposed epoch draws from.
//! - [`state`]: the resumable state (versioned), with readers for the older formats.
//! - [`mixture`]: several datasets in scheduled, token-exact shares (the deficit rule);
//!   [`mixture_state`]: where a mixture stands and its resumable state;
//!   [`mixture_stream`]: one rank's batches of a mixture, assembled ahead on a thread.

pub mod balance;
pub mod budget;
pub mod curriculum;
pub mod epoch;
pub mod mixture;
pub mod mixture_state;
pub mod mixture_stream;
pub mod seed;
pub mod split;
pub mod spread;
pub mod state;

pub use balance::{Balance, CostModel, Partition, partition};
pub use budget::{BudgetStep, TokenBudget};
pub use curriculum::{CURRICULA, curriculum_odds, cycle_budgets, schedule};
pub use epoch::{EpochPlanner, PlanOptions};
pub use mixture::{Mixture, MixtureSource, OnExhausted, WeightSchedule};
pub use mixture_state::{MixtureCursor, SourceCursor};
pub use mixture_stream::{MixedBatch, MixtureSplit, MixtureStream};
pub use seed::{Purpose, derive_seed};
pub use split::StepSplit;
pub use spread::{spread_order, spread_rows};
pub use state::{LoaderKind, LoaderState, STATE_VERSION};

#[cfg(test)]
mod tests;

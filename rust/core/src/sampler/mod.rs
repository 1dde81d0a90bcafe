//! The sampler: everything that decides which rows a loader hands out, in which order, to
//! which rank, and how a run resumes. The loaders of the Python package are thin shells
//! over it.
//!
//! - [`seed`]: the one seed derivation behind every random choice (document order, row
//!   order, curriculum).
//! - [`epoch`]: the options that fix an epoch's rows and the planner that makes them.
//! - [`balance`]: the cost of a row and the deal of a step's rows to ranks by cost.
//! - [`split`]: steps of an epoch and the rows of each step that go to each rank and worker.
//! - [`curriculum`]: which bucket each step of a decomposed epoch draws from.
//! - [`state`]: the resumable state (versioned), with readers for the older formats.

pub mod balance;
pub mod curriculum;
pub mod epoch;
pub mod seed;
pub mod split;
pub mod state;

pub use balance::{Balance, CostModel, Partition, partition};
pub use curriculum::{CURRICULA, curriculum_odds, cycle_budgets, schedule};
pub use epoch::{EpochPlanner, PlanOptions};
pub use seed::{Purpose, derive_seed};
pub use split::StepSplit;
pub use state::{LoaderKind, LoaderState, STATE_VERSION};

#[cfg(test)]
mod tests;

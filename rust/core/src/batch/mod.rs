//! Batch assembly: from a [`Plan`] (which slice of which document sits where in each row of
//! an epoch) and the memory-mapped tokens, the arrays of one training batch with every
//! document isolated from the others: labels that never cross a document boundary, position
//! ids that restart per document, per-row document indices and `cu_seqlens`.
//!
//! [`assemble_flat`] puts rows one after the other in one flattened batch without padding
//! (token-budget steps, for varlen kernels).
//!
//! [`ContextParallel`] cuts a batch's rows into the shards of a context-parallel group.
//!
//! [`write_packed`] writes a plan out as a packed dataset instead.
//!
//! [`Prefetcher`] assembles a schedule of batches on a thread of its own, ahead of the
//! consumer, so a training loop needs no DataLoader worker processes.

mod assemble;
mod context_parallel;
mod offline;
mod plan;
mod prefetch;

pub use assemble::{
    Batch, IGNORE_INDEX, TokenArrays, assemble, assemble_flat, assemble_flat_rows, assemble_rows,
};
pub use context_parallel::{ContextParallel, CpLayout, CpShard};
pub use offline::{PACKED_ROWS_PER_SHARD, write_packed};
pub use plan::{Plan, Segment};
pub use prefetch::{Batches, Deal, Dealer, FlatSchedule, Prefetcher, Schedule};

#[cfg(test)]
mod tests;

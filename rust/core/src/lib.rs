//! seqpack-core: the pure-Rust engine of seqpack.
//!
//! Everything here works on plain slices and vectors and knows nothing of Python; the
//! `seqpack-python` crate is a thin binding over it. One module per idea:
//! - [`chat`]: conversations and instruction records as token ids with a loss mask.
//! - [`pack`]: bin-packing of variable-length documents into fixed-capacity rows.
//! - [`decompose`]: dataset decomposition into power-of-two buckets (variable sequence length).
//! - [`tokenize`]: tokenizers (byte-level BPE, AST-BPE, the HF `tokenizers` crate) behind one
//!   trait, and the one `load()` that picks the implementation of a `tokenizer.json`.
//! - [`shard`]: the dataset directory (Arrow IPC shards and `manifest.json`).
//! - [`batch`]: training batches with per-document isolation, assembled ahead on a thread.
//! - [`error`]: the one error type every fallible function returns.

pub mod batch;
mod buffer;
pub mod chat;
mod choice;
mod contained;
pub mod decompose;
pub mod error;
mod json;
mod json_scan;
#[cfg(test)]
mod mutation_runner;
pub mod pack;
mod parallel;
pub mod preprocess;
mod read_ahead;
mod rng;
pub mod sampler;
pub mod shard;
pub mod tokenize;

pub use error::{Error, Result};

//! seqpack-core: the pure-Rust engine of seqpack.
//!
//! Everything here works on plain slices and vectors and knows nothing of Python; the
//! `seqpack-python` crate is a thin binding over it. One module per idea:
//! - [`pack`]: bin-packing of variable-length documents into fixed-capacity rows.
//! - [`error`]: the one error type every fallible function returns.

mod buffer;
pub mod error;
pub mod pack;
mod rng;

pub use error::{Error, Result};

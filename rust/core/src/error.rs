//! The crate's single error type. The Python binding converts it into the
//! `seqpack.SeqpackError` hierarchy in exactly one place.

/// Every failure the core can report. Messages name the offending index, file or line so a
/// user can find the bad record without a debugger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document length that is zero or negative.
    #[error("lengths[{index}] = {value}: document lengths must be positive integers")]
    NonPositiveLength { index: usize, value: i64 },

    /// A document longer than the capacity while `long_docs = "error"`.
    #[error(
        "lengths[{index}] = {length} exceeds capacity {capacity} (long_docs=\"error\"; use \"split\" or \"truncate\")"
    )]
    DocumentTooLong {
        index: usize,
        length: i64,
        capacity: u32,
    },

    /// An option outside its valid range.
    #[error("{name} {message}")]
    InvalidOption { name: &'static str, message: String },

    /// More items than the engine's 32-bit item indices can address.
    #[error("too many items to pack: {count} (at most {limit})")]
    TooManyItems { count: usize, limit: usize },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid_option(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidOption {
            name,
            message: message.into(),
        }
    }
}

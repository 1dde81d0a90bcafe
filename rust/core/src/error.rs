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

    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A file that exists but is not what it should be: a corrupted shard, a manifest of
    /// another format or version, a checksum mismatch.
    #[error("{path}: {message}")]
    Format { path: String, message: String },

    /// A bad input record, named by file and line (1-based).
    #[error("{path}:{line}: {message}")]
    Record {
        path: String,
        line: u64,
        /// A short reason key, also used to count skipped records (`malformed_json`, …).
        reason: &'static str,
        message: String,
    },

    /// The user interrupted a long call (Ctrl-C).
    #[error("interrupted")]
    Interrupted,

    /// A `tokenizer.json` that is malformed: not JSON, a missing or mistyped field, a merge
    /// of tokens that are not in the vocabulary. `path` is the file, `at` the field.
    #[error("{path}: {at}: {message}")]
    InvalidTokenizer {
        path: String,
        at: String,
        message: String,
    },

    /// A well-formed `tokenizer.json` that uses something seqpack's byte-level BPE does not
    /// implement (another model type, a normalizer, another pre-tokenizer).
    #[error(
        "{path}: {at}: {what} is not supported (seqpack reads byte-level BPE: a BPE model, a ByteLevel or Split + ByteLevel pre-tokenizer, no normalizer)"
    )]
    UnsupportedTokenizer {
        path: String,
        at: String,
        what: String,
    },

    /// A token id outside the vocabulary.
    #[error("ids[{index}] = {id} is not a token id (the vocabulary has {vocab_size} ids)")]
    UnknownTokenId {
        index: usize,
        id: u32,
        vocab_size: u32,
    },

    /// A pre-tokenizer pattern that the regex engine could not run on some input.
    #[error("pre-tokenizer pattern {pattern:?} failed: {message}")]
    PatternFailed { pattern: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn invalid_option(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidOption {
            name,
            message: message.into(),
        }
    }

    /// Option `name` is `value`, which is not a positive divisor of `whole` (what it must
    /// cut into equal parts, described by `what`).
    pub(crate) fn check_divisor(
        name: &'static str,
        value: u64,
        what: &str,
        whole: u64,
    ) -> Result<()> {
        if value == 0 || whole % value != 0 {
            return Err(Error::invalid_option(
                name,
                format!("must be a positive divisor of {what} = {whole}, got {value}"),
            ));
        }
        Ok(())
    }
}

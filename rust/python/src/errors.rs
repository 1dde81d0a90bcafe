//! The one place where core errors become Python exceptions. The exception classes are
//! defined in `seqpack/errors.py` (so they can inherit from both `SeqpackError` and the
//! builtin users already catch) and looked up here once.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use seqpack_core::Error;
use seqpack_core::chat::RecordFault;

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<Bound<'py, PyType>> {
    cell.get_or_try_init(py, || {
        let class = py.import("seqpack.errors")?.getattr(name)?;
        Ok::<_, PyErr>(class.cast_into::<PyType>()?.unbind())
    })
    .map(|class| class.bind(py).clone())
}

static INVALID_INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static IO: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CORRUPT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TOKENIZER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNSUPPORTED_TOKENIZER: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub(crate) fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    let kind = match error {
        Error::NonPositiveLength { .. }
        | Error::DocumentTooLong { .. }
        | Error::InvalidOption { .. }
        | Error::TooManyItems { .. }
        | Error::Record { .. }
        | Error::UnknownTokenId { .. }
        | Error::PatternFailed { .. } => class(py, &INVALID_INPUT, "InvalidInputError"),
        Error::InvalidTokenizer { .. } => class(py, &TOKENIZER, "TokenizerError"),
        Error::UnsupportedTokenizer { .. } => {
            class(py, &UNSUPPORTED_TOKENIZER, "UnsupportedTokenizerError")
        }
        Error::Io { .. } => class(py, &IO, "SeqpackIOError"),
        Error::Format { .. } => class(py, &CORRUPT, "CorruptDatasetError"),
        Error::Interrupted => return pyo3::exceptions::PyKeyboardInterrupt::new_err(message),
    };
    match kind {
        Ok(kind) => PyErr::from_type(kind, message),
        Err(lookup) => lookup,
    }
}

/// A record that could not be encoded, given in `parameter`: an `InvalidInputError` whose
/// message leads with the fault's reason key.
pub(crate) fn record_fault(py: Python<'_>, parameter: &'static str, fault: RecordFault) -> PyErr {
    let message = format!("[{}] {}", fault.reason, fault.message);
    to_py(
        py,
        Error::InvalidOption {
            name: parameter,
            message,
        },
    )
}

//! Bindings of `seqpack_core::preprocess` and of the dataset helpers.

use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use seqpack_core::Error;
use seqpack_core::preprocess::{PreprocessOptions, Progress, preprocess as run};
use seqpack_core::shard;

use crate::errors::to_py;
use crate::gil::without_gil;
use crate::tokenizer::Tokenizer;

/// Runs the pipeline with the GIL released. After each batch the GIL is taken back briefly to
/// honour Ctrl-C and to call `progress(documents, tokens, text_bytes, input_bytes_read,
/// input_bytes_total, shards, seconds)`; an exception there stops the run and is re-raised.
/// `tokenizer` is used as it is (building another from its JSON would cost as much as reading
/// the file again). Returns the manifest as JSON.
#[pyfunction]
#[pyo3(signature = (inputs, out, tokenizer, *, text_field, lines, prepend, append, shard_tokens, on_error, resume, workers, progress))]
#[allow(clippy::too_many_arguments)]
fn preprocess(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    out: PathBuf,
    tokenizer: &Bound<'_, PyAny>,
    text_field: String,
    lines: bool,
    prepend: Option<u32>,
    append: Option<u32>,
    shard_tokens: u64,
    on_error: &str,
    resume: bool,
    workers: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let options = PreprocessOptions {
        text_field,
        lines,
        prepend,
        append,
        shard_tokens,
        on_error: on_error.parse().map_err(|e| to_py(py, e))?,
        resume,
        workers,
        ..PreprocessOptions::default()
    };
    let tokenizer = match tokenizer.cast::<Tokenizer>() {
        Ok(tokenizer) => tokenizer.get().inner(),
        Err(_) => {
            let found = tokenizer.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "tokenizer must be a Tokenizer, not {found}"
            )));
        }
    };
    let mut raised: Option<PyErr> = None;
    let outcome = without_gil(py, || {
        let mut on_progress = |p: &Progress| {
            Python::attach(|py| -> PyResult<()> {
                py.check_signals()?;
                if let Some(callback) = &progress {
                    let counters = (
                        p.documents,
                        p.tokens,
                        p.text_bytes,
                        p.input_bytes_read,
                        p.input_bytes_total,
                        p.shards,
                        p.seconds,
                    );
                    callback.call1(py, counters)?;
                }
                Ok(())
            })
            .map_err(|error| {
                raised = Some(error);
                Error::Interrupted
            })
        };
        let manifest = run(&inputs, &out, tokenizer, &options, &mut on_progress)?;
        Ok(serde_json::to_string(&manifest).expect("a manifest always serialises"))
    });
    match raised {
        Some(error) => Err(error),
        None => outcome,
    }
}

/// The checksum of a file as written in manifests (`xxh3:<hex>`).
#[pyfunction]
fn checksum_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    without_gil(py, || shard::checksum_file(&path))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(preprocess, m)?)?;
    m.add_function(wrap_pyfunction!(checksum_file, m)?)?;
    Ok(())
}

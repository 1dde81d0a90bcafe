//! Bindings of `seqpack_core::preprocess` and of the dataset helpers.

use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use seqpack_core::Error;
use seqpack_core::chat::record_encoders;
use seqpack_core::preprocess::{PreprocessOptions, Progress, preprocess as run};
use seqpack_core::shard;

use crate::convert::{choice, encoder_options, to_python};
use crate::gil::without_gil;
use crate::tokenizer::Tokenizer;

/// How far a preprocess run has come, handed to its `progress` callback after every batch.
#[pyclass(frozen, get_all, name = "PreprocessProgress", module = "seqpack._core")]
pub(crate) struct PyProgress {
    documents: u64,
    tokens: u64,
    text_bytes: u64,
    /// Raw (possibly compressed) input bytes read so far, and in total, for an ETA.
    input_bytes_read: u64,
    input_bytes_total: u64,
    shards: u64,
    seconds: f64,
}

impl From<&Progress> for PyProgress {
    fn from(p: &Progress) -> Self {
        PyProgress {
            documents: p.documents,
            tokens: p.tokens,
            text_bytes: p.text_bytes,
            input_bytes_read: p.input_bytes_read,
            input_bytes_total: p.input_bytes_total,
            shards: p.shards,
            seconds: p.seconds,
        }
    }
}

/// Runs the pipeline with the GIL released. After each batch the GIL is taken back briefly to
/// honour Ctrl-C and to call `progress(PreprocessProgress)`; an exception there stops the run
/// and is re-raised.
/// `tokenizer` is used as it is (building another from its JSON would cost as much as reading
/// the file again). Returns the manifest as a dict.
#[pyfunction]
#[pyo3(signature = (inputs, out, tokenizer, *, text_field = "text", lines = false, prepend = None, append = None, shard_size = 33554432, on_error = "fail", resume = false, workers = 0, split_size = 268435456, source_names = None, progress = None, format = None, train_on = None, chat_template = None, template_vars = None, tokenizer_path = None))]
#[allow(clippy::too_many_arguments)]
fn preprocess(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    out: PathBuf,
    tokenizer: &Bound<'_, PyAny>,
    text_field: &str,
    lines: bool,
    prepend: Option<u32>,
    append: Option<u32>,
    shard_size: u64,
    on_error: &str,
    resume: bool,
    workers: usize,
    split_size: u64,
    source_names: Option<Vec<String>>,
    progress: Option<Py<PyAny>>,
    format: Option<&str>,
    train_on: Option<&str>,
    chat_template: Option<PathBuf>,
    template_vars: Option<&Bound<'_, PyDict>>,
    tokenizer_path: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let tokenizer = core_tokenizer(tokenizer)?;
    let encoder_options =
        encoder_options(py, train_on, chat_template, template_vars, tokenizer_path)?;
    let encoders = without_gil(py, || record_encoders(&encoder_options, tokenizer))?;
    let options = PreprocessOptions {
        text_field: text_field.to_owned(),
        lines,
        prepend,
        append,
        shard_tokens: shard_size,
        on_error: choice(py, "on_error", on_error)?,
        resume,
        workers,
        split_bytes: split_size,
        source_names: source_names.unwrap_or_default(),
        format: format.map(|name| choice(py, "format", name)).transpose()?,
        encoders,
        ..PreprocessOptions::default()
    };
    let manifest = with_progress(py, progress, |on_progress| {
        run(&inputs, &out, tokenizer, &options, on_progress)
    })?;
    let manifest = serde_json::to_value(manifest).expect("a manifest always serialises");
    Ok(to_python(py, &manifest)?.unbind())
}

/// Runs `work` with the GIL released, handing it a progress callback that takes the GIL back
/// briefly to honour Ctrl-C and to call `progress(PreprocessProgress)`; an exception there
/// stops the work and is re-raised.
pub(crate) fn with_progress<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(&mut dyn FnMut(&Progress) -> seqpack_core::Result<()>) -> seqpack_core::Result<T>
    + Send,
) -> PyResult<T> {
    let mut raised: Option<PyErr> = None;
    let outcome = without_gil(py, || {
        let mut on_progress = |p: &Progress| {
            Python::attach(|py| -> PyResult<()> {
                py.check_signals()?;
                if let Some(callback) = &progress {
                    callback.call1(py, (PyProgress::from(p),))?;
                }
                Ok(())
            })
            .map_err(|error| {
                raised = Some(error);
                Error::Interrupted
            })
        };
        work(&mut on_progress)
    });
    match raised {
        Some(error) => Err(error),
        None => outcome,
    }
}

/// The core tokenizer of a `Tokenizer`, or a type error naming what was passed.
pub(crate) fn core_tokenizer<'a>(
    tokenizer: &'a Bound<'_, PyAny>,
) -> PyResult<&'a dyn seqpack_core::tokenize::Tokenizer> {
    match tokenizer.cast::<Tokenizer>() {
        Ok(tokenizer) => Ok(tokenizer.get().inner()),
        Err(_) => {
            let found = tokenizer.get_type().name()?;
            Err(PyTypeError::new_err(format!(
                "tokenizer must be a Tokenizer, not {found}"
            )))
        }
    }
}

/// Every document of a corpus file (`.jsonl`/`.ndjson`: the `"text"` field of each line;
/// any other file: its whole text), read by the core's one corpus reader; errors name the file
/// and line.
#[pyfunction]
fn read_documents(py: Python<'_>, path: PathBuf) -> PyResult<Vec<String>> {
    without_gil(py, || seqpack_core::tokenize::bpe::read_documents(&path))
}

/// The checksum of a file as written in manifests (`xxh3:<hex>`).
#[pyfunction]
fn checksum_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    without_gil(py, || shard::checksum_file(&path))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(m, classes: [PyProgress], functions: [preprocess, checksum_file, read_documents])
}

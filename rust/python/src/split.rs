//! Bindings of a preprocess run taken apart into its steps (`seqpack_core::preprocess`'s
//! plan, counting pass, split runs and commit), for `seqpack.ray` to run the splits on a
//! cluster. Plans, counts, starts and results cross as JSON-shaped Python data, so they
//! travel between processes as they are; options are the keyword dict of
//! `convert::preprocess_options`.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use seqpack_core::preprocess::{
    self, Plan, PreprocessOptions, SplitCount, SplitResult, SplitStart,
};
use seqpack_core::tokenize::Tokenizer;

use crate::convert::{from_python_as, preprocess_options, to_python_as};
use crate::gil::without_gil;
use crate::preprocess::{core_tokenizer, with_progress};

/// The plan of a run (its inputs' splits and identity) as a dict.
#[pyfunction]
fn plan_preprocess(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    tokenizer: &Bound<'_, PyAny>,
    options: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let tokenizer = core_tokenizer(tokenizer)?;
    let options = preprocess_options(py, options, tokenizer)?;
    let plan = without_gil(py, || preprocess::plan_run(&inputs, tokenizer, &options))?;
    to_python_as(py, &plan)
}

/// What every step of a planned run is given: the plan, the tokenizer and the options,
/// converted, and `split` checked against the plan when there is one.
struct RunArgs<'a> {
    plan: Plan,
    tokenizer: &'a dyn Tokenizer,
    options: PreprocessOptions,
}

impl<'a> RunArgs<'a> {
    fn convert(
        py: Python<'_>,
        plan: &Bound<'_, PyAny>,
        tokenizer: &'a Bound<'_, PyAny>,
        options: &Bound<'_, PyDict>,
        split: Option<usize>,
    ) -> PyResult<Self> {
        let plan: Plan = from_python_as(plan, "plan")?;
        let tokenizer = core_tokenizer(tokenizer)?;
        let options = preprocess_options(py, options, tokenizer)?;
        if let Some(split) = split {
            check_split(py, &plan, split)?;
        }
        Ok(RunArgs {
            plan,
            tokenizer,
            options,
        })
    }
}

/// Checks the output directory of a run: `None` to go on, or the manifest of the dataset a
/// resumed run had finished already.
#[pyfunction]
fn begin_preprocess(
    py: Python<'_>,
    plan: &Bound<'_, PyAny>,
    out: PathBuf,
    tokenizer: &Bound<'_, PyAny>,
    options: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let run = RunArgs::convert(py, plan, tokenizer, options, None)?;
    let manifest = without_gil(py, || {
        preprocess::begin(&out, &run.plan, run.tokenizer, &run.options)
    })?;
    to_python_as(py, &manifest)
}

/// The counting pass of split `split`: its lines, documents and first bad record.
#[pyfunction]
fn count_split(
    py: Python<'_>,
    plan: &Bound<'_, PyAny>,
    split: usize,
    tokenizer: &Bound<'_, PyAny>,
    options: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let run = RunArgs::convert(py, plan, tokenizer, options, Some(split))?;
    let count = without_gil(py, || {
        preprocess::count_split(&run.plan, split, run.tokenizer, &run.options)
    })?;
    to_python_as(py, &count)
}

/// Where every split starts, from the counts of all splits; raises the first bad record's
/// error (its file and line) under `on_error="fail"`.
#[pyfunction]
fn split_starts(
    py: Python<'_>,
    plan: &Bound<'_, PyAny>,
    counts: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    let plan: Plan = from_python_as(plan, "plan")?;
    let counts: Vec<SplitCount> = from_python_as(counts, "counts")?;
    let starts = without_gil(py, || preprocess::starts(&plan, &counts))?;
    to_python_as(py, &starts)
}

/// Tokenizes split `split` into shards of `out` and returns its result (see
/// `seqpack_core::preprocess::preprocess_split`); `progress` as for `preprocess`.
#[pyfunction]
#[pyo3(signature = (plan, split, start, out, tokenizer, options, *, progress = None))]
#[allow(clippy::too_many_arguments)]
fn preprocess_split(
    py: Python<'_>,
    plan: &Bound<'_, PyAny>,
    split: usize,
    start: &Bound<'_, PyAny>,
    out: PathBuf,
    tokenizer: &Bound<'_, PyAny>,
    options: &Bound<'_, PyDict>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let start: SplitStart = from_python_as(start, "start")?;
    let run = RunArgs::convert(py, plan, tokenizer, options, Some(split))?;
    let result = with_progress(py, progress, |on_progress| {
        preprocess::preprocess_split(
            &run.plan,
            split,
            start,
            &out,
            run.tokenizer,
            &run.options,
            on_progress,
        )
    })?;
    to_python_as(py, &result)
}

/// Merges the results of every split into the manifest, written to `out` last.
#[pyfunction]
fn commit_splits(
    py: Python<'_>,
    plan: &Bound<'_, PyAny>,
    results: &Bound<'_, PyAny>,
    out: PathBuf,
    tokenizer: &Bound<'_, PyAny>,
    options: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let results: Vec<SplitResult> = from_python_as(results, "results")?;
    let run = RunArgs::convert(py, plan, tokenizer, options, None)?;
    let manifest = without_gil(py, || {
        preprocess::commit(&out, &run.plan, &results, run.tokenizer, &run.options)
    })?;
    to_python_as(py, &manifest)
}

/// Writes documents tokenized elsewhere (Arrow IPC files of `input_ids` and `text_bytes`,
/// in order) into shards of `out`, named `source` in the dataset, and commits the manifest
/// (see `seqpack_core::preprocess::commit_tokenized`).
#[pyfunction]
fn commit_tokenized(
    py: Python<'_>,
    files: Vec<PathBuf>,
    out: PathBuf,
    source: String,
    tokenizer: &Bound<'_, PyAny>,
    options: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let tokenizer = core_tokenizer(tokenizer)?;
    let options = preprocess_options(py, options, tokenizer)?;
    let manifest = without_gil(py, || {
        preprocess::commit_tokenized(&files, &out, &source, tokenizer, &options)
    })?;
    to_python_as(py, &manifest)
}

/// The name of the file a finished split's result is written to.
#[pyfunction]
fn split_result_name(split: usize) -> String {
    preprocess::result_name(split)
}

fn check_split(py: Python<'_>, plan: &Plan, split: usize) -> PyResult<()> {
    if split < plan.splits.len() {
        return Ok(());
    }
    let message = format!(
        "{split} is not below the plan's {} splits",
        plan.splits.len()
    );
    Err(crate::errors::to_py(
        py,
        seqpack_core::Error::InvalidOption {
            name: "split",
            message,
        },
    ))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(
        m,
        classes: [],
        functions: [
            plan_preprocess, begin_preprocess, count_split, split_starts, preprocess_split,
            commit_splits, commit_tokenized, split_result_name,
        ]
    )
}

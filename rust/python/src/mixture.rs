//! Bindings of `seqpack_core::sampler::mixture`: a mixture of datasets, where a run of it
//! stands (an opaque cursor, turned into the state's plain dict only when asked, in
//! `convert.rs`) and the stream of one rank's (and worker's) batches.

use std::sync::{Arc, Mutex};

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use seqpack_core::sampler::{self, Mixture, MixtureCursor, MixtureSource, MixtureSplit};
use serde_json::{Map, Value};

use seqpack_core::batch::ContextParallel;

use crate::batch::{PyContextParallel, PyPlan, shard_arrays, to_arrays};
use crate::convert::{from_python, to_python};
use crate::gil::without_gil;
use crate::sampler::{Feed, PyEpochPlanner, PyStepSplit, PyTokenBudget, integer};

/// Several datasets in scheduled, token-exact shares (see `seqpack_core::sampler::mixture`).
#[pyclass(frozen, name = "Mixture", module = "seqpack._core")]
pub(crate) struct PyMixture(Arc<Mixture>);

/// Where a run of a mixture stands: the step and a few numbers per source. `Mixture.state`
/// turns it into the resumable state, `Mixture.read_state` back.
#[pyclass(frozen, name = "MixtureCursor", module = "seqpack._core")]
pub(crate) struct PyMixtureCursor(MixtureCursor);

#[pymethods]
impl PyMixtureCursor {
    /// Steps handed out over all ranks.
    #[getter]
    fn step(&self) -> u64 {
        self.0.step
    }
}

#[pymethods]
impl PyMixture {
    /// `planners[i]` plans source `i`, called `names[i]`, made with the tokenizer of
    /// fingerprint `tokenizers[i]`, giving at most `max_epochs[i]` epochs; `spec` holds the
    /// schedule (`unit`, `interpolation`, `stages`) and `on_exhausted`.
    #[new]
    fn new(
        py: Python<'_>,
        planners: Vec<PyRef<'_, PyEpochPlanner>>,
        names: Vec<String>,
        tokenizers: Vec<String>,
        max_epochs: Vec<Option<u64>>,
        spec: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let count = planners.len();
        if names.len() != count || tokenizers.len() != count || max_epochs.len() != count {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "planners, names, tokenizers and max_epochs must have one entry per source",
            ));
        }
        let sources: Vec<MixtureSource> = planners
            .iter()
            .zip(names)
            .zip(tokenizers)
            .zip(max_epochs)
            .map(|(((planner, name), tokenizer), max_epochs)| MixtureSource {
                name,
                planner: planner.planner.clone(),
                store: planner.store.get().0.clone(),
                tokenizer,
                max_epochs,
            })
            .collect();
        let spec: Map<String, Value> = match from_python(spec.as_any(), "mixture")? {
            Value::Object(map) => map,
            _ => unreachable!("a dict converts to a JSON object"),
        };
        let mixture = without_gil(py, || Mixture::new(sources, &spec))?;
        Ok(PyMixture(Arc::new(mixture)))
    }

    /// Where a run starts.
    fn start(&self) -> PyMixtureCursor {
        PyMixtureCursor(self.0.start())
    }

    /// The resumable state at `cursor` (a plain dict, see
    /// `seqpack_core::sampler::mixture_state`).
    fn state<'py>(&self, py: Python<'py>, cursor: &PyMixtureCursor) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &cursor.0.to_json(&self.0))
    }

    /// The cursor of `state`, checked against this mixture (refused naming the key
    /// otherwise).
    fn read_state(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<PyMixtureCursor> {
        let state = from_python(state, "state")?;
        let mixture = &*self.0;
        without_gil(py, || MixtureCursor::read(&state, mixture)).map(PyMixtureCursor)
    }

    /// The cursor `steps` steps of `rows_per_step` rows after `cursor` (fewer if the
    /// mixture ends first), and the steps made.
    fn advance(
        &self,
        py: Python<'_>,
        cursor: &PyMixtureCursor,
        steps: &Bound<'_, PyAny>,
        rows_per_step: &Bound<'_, PyAny>,
        drop_last: bool,
    ) -> PyResult<(PyMixtureCursor, u64)> {
        let steps = integer(steps, "steps", 0)?;
        let rows = integer(rows_per_step, "rows_per_step", 1)?;
        let (mixture, mut cursor) = (&*self.0, cursor.0.clone());
        let made = without_gil(py, || {
            let mut made = 0;
            while made < steps && mixture.next_step(&mut cursor, rows, drop_last)?.is_some() {
                made += 1;
            }
            Ok(made)
        })?;
        Ok((PyMixtureCursor(cursor), made))
    }

    /// Where `cursor` stands: the step, the stage and whether the mixture has ended, and
    /// per source its name, epoch (and epochs as a fraction), rows, real tokens, target
    /// tokens, deficit and weight.
    fn report<'py>(
        &self,
        py: Python<'py>,
        cursor: &PyMixtureCursor,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (mixture, cursor) = (&*self.0, &cursor.0);
        let weights = mixture.weights(cursor, mixture.position(cursor));
        // Epochs as a fraction: the rows of the epoch in use (none once it has run out).
        let epoch_rows = without_gil(py, || {
            (0..cursor.sources.len())
                .map(|i| {
                    let c = &cursor.sources[i];
                    match mixture.sources()[i].max_epochs {
                        Some(m) if c.epoch >= m => Ok(0),
                        _ => Ok(mixture.plan(i, c.epoch)?.num_packs() as u64),
                    }
                })
                .collect::<seqpack_core::Result<Vec<u64>>>()
        })?;
        let sources: Vec<Value> = cursor
            .sources
            .iter()
            .zip(mixture.sources())
            .zip(weights)
            .zip(epoch_rows)
            .map(|(((c, s), weight), rows)| {
                serde_json::json!({
                    "epochs": c.epoch as f64 + c.consumed as f64 / rows.max(1) as f64,
                    "name": s.name,
                    "epoch": c.epoch,
                    "consumed": c.consumed,
                    "rows": c.rows,
                    "real_tokens": c.tokens,
                    "target_tokens": c.target,
                    "deficit_tokens": c.deficit(),
                    "weight": weight,
                    "max_epochs": s.max_epochs,
                })
            })
            .collect();
        let report = serde_json::json!({
            "step": cursor.step,
            "stage": mixture.stage(cursor),
            "ended": mixture.ended(cursor),
            "seq_len": mixture.seq_len(),
            "sources": sources,
        });
        to_python(py, &report)
    }

    /// The rows of `epoch` of source `source`.
    fn plan(&self, py: Python<'_>, source: usize, epoch: u64) -> PyResult<PyPlan> {
        if source >= self.0.sources().len() {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "source {source} is out of range"
            )));
        }
        let mixture = &*self.0;
        Ok(PyPlan(without_gil(py, || mixture.plan(source, epoch))?))
    }

    /// The batches of one rank from `cursor` on, as `split` (a `StepSplit` or a
    /// `TokenBudget`, balanced or not) cuts steps and shares them out, and of
    /// worker `worker` of `workers`, which takes every `workers`-th step from its
    /// `worker`-th; assembled ahead on a thread. With `cp`, each batch is cut into that
    /// context-parallel rank's shard.
    #[pyo3(signature = (cursor, split, worker, workers, cp=None))]
    fn stream(
        &self,
        cursor: &PyMixtureCursor,
        split: &Bound<'_, PyAny>,
        worker: u64,
        workers: u64,
        cp: Option<&PyContextParallel>,
    ) -> PyResult<MixtureStream> {
        let (split, feed) = mixture_split(split)?;
        let stream = sampler::MixtureStream::start(
            self.0.clone(),
            cursor.0.clone(),
            split,
            feed.pad_id,
            worker,
            workers,
            feed.prefetch,
        );
        Ok(MixtureStream {
            stream: Mutex::new(stream),
            cp: cp.map(|cp| cp.0),
        })
    }

    #[getter]
    fn identity(&self) -> &str {
        self.0.identity()
    }

    #[getter]
    fn names(&self) -> Vec<String> {
        self.0.sources().iter().map(|s| s.name.clone()).collect()
    }

    #[getter]
    fn seq_len(&self) -> u32 {
        self.0.seq_len()
    }
}

/// The core's split of a mixture's steps, from a `StepSplit` or a `TokenBudget`.
fn mixture_split(split: &Bound<'_, PyAny>) -> PyResult<(MixtureSplit, Feed)> {
    if let Ok(rows) = split.cast::<PyStepSplit>() {
        let rows = rows.get();
        Ok((MixtureSplit::Rows(rows.split), rows.feed))
    } else if let Ok(budget) = split.cast::<PyTokenBudget>() {
        let budget = budget.get();
        Ok((MixtureSplit::Budget(budget.budget), budget.feed))
    } else {
        Err(pyo3::exceptions::PyTypeError::new_err(
            "split must be a StepSplit or a TokenBudget",
        ))
    }
}

/// `(batch arrays (a shard's with context parallelism), source of each row (of each
/// document in a flattened batch), cursor after the step)`.
type MixedArrays<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyArray1<i64>>,
    PyMixtureCursor,
);

/// One rank's (and worker's) batches of a mixture (see `seqpack_core::sampler::MixtureStream`).
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct MixtureStream {
    stream: Mutex<sampler::MixtureStream>,
    cp: Option<ContextParallel>,
}

#[pymethods]
impl MixtureStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<MixedArrays<'py>>> {
        let cp = self.cp;
        let next = without_gil(py, || {
            let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
            let Some(mixed) = stream.next_batch()? else {
                return Ok(None);
            };
            let shard = cp.map(|cp| cp.shard(&mixed.batch)).transpose()?;
            Ok(Some((mixed, shard)))
        })?;
        let Some((mixed, shard)) = next else {
            return Ok(None);
        };
        let arrays = match shard {
            Some(shard) => shard_arrays(py, shard)?.into_pyobject(py)?.into_any(),
            None => to_arrays(py, mixed.batch)?.into_pyobject(py)?.into_any(),
        };
        Ok(Some((
            arrays,
            PyArray1::from_vec(py, mixed.sources),
            PyMixtureCursor(mixed.cursor),
        )))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(m, classes: [PyMixture, PyMixtureCursor, MixtureStream], functions: [])
}

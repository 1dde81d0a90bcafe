//! Bindings of `seqpack_core::batch` and of the shard reader: plans, and the stream of
//! batches that `StepSplit.stream` starts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use seqpack_core::batch::{
    self, Batch, Batches, ContextParallel, CpShard, FlatSchedule, Plan, Prefetcher, Schedule,
};
use seqpack_core::shard::Manifest;

use crate::convert::{choice, from_python};
use crate::dataset::PyTokenStore;
use crate::errors::to_py;
use crate::gil::without_gil;
use crate::sampler::Feed;

/// The rows of one epoch in training order (see `seqpack_core::batch::Plan`).
#[pyclass(frozen, name = "Plan", module = "seqpack._core")]
pub(crate) struct PyPlan(pub(crate) Arc<Plan>);

#[pymethods]
impl PyPlan {
    #[getter]
    fn num_packs(&self) -> usize {
        self.0.num_packs()
    }

    #[getter]
    fn capacity(&self) -> u32 {
        self.0.capacity
    }

    #[getter]
    fn placed_tokens(&self) -> u64 {
        self.0.placed_tokens
    }

    #[getter]
    fn truncated_tokens(&self) -> u64 {
        self.0.truncated_tokens
    }

    #[getter]
    fn align(&self) -> u32 {
        self.0.align
    }

    #[getter]
    fn alignment_padding(&self) -> u64 {
        self.0.alignment_padding
    }

    /// `(pack_offsets, doc, start, length)` as new int64 arrays, as `seqpack.Packing` has them.
    #[allow(clippy::type_complexity)]
    fn arrays<'py>(
        &self,
        py: Python<'py>,
    ) -> (
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
    ) {
        let plan = &self.0;
        let column =
            |f: fn(&batch::Segment) -> i64| -> Vec<i64> { plan.segments.iter().map(f).collect() };
        (
            PyArray1::from_vec(py, plan.pack_offsets.iter().map(|&o| o as i64).collect()),
            PyArray1::from_vec(py, column(|s| s.doc as i64)),
            PyArray1::from_vec(py, column(|s| s.start as i64)),
            PyArray1::from_vec(py, column(|s| i64::from(s.len))),
        )
    }

    /// Writes every row to `out` as a packed dataset of the source manifest `manifest`
    /// (its path); `packing` (plain JSON data) is recorded in the new manifest, which the
    /// caller reads back through `Dataset`.
    fn write_packed(
        &self,
        py: Python<'_>,
        store: &PyTokenStore,
        manifest: PathBuf,
        out: PathBuf,
        pad_id: u32,
        packing: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (plan, store) = (&self.0, &store.0);
        let packing = from_python(packing, "packing")?;
        without_gil(py, || {
            let source = Manifest::read(&manifest)?;
            batch::write_packed(store, plan, &source, &out, pad_id, packing).map(drop)
        })
    }
}

/// `(input_ids, labels, position_ids, document_ids, cu_seqlens, max_seqlen, real_tokens)`.
pub(crate) type BatchArrays<'py> = (
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i32>>,
    Bound<'py, PyArray1<i32>>,
    u32,
    u64,
);

/// Hands a batch's vectors to numpy without copying them.
pub(crate) fn to_arrays(py: Python<'_>, batch: Batch) -> PyResult<BatchArrays<'_>> {
    let shape = [batch.batch_size, batch.seq_len];
    Ok((
        PyArray1::from_vec(py, batch.input_ids).reshape(shape)?,
        PyArray1::from_vec(py, batch.labels).reshape(shape)?,
        PyArray1::from_vec(py, batch.position_ids).reshape(shape)?,
        PyArray1::from_vec(py, batch.document_ids).reshape(shape)?,
        PyArray1::from_vec(py, batch.cu_seqlens),
        batch.max_seqlen,
        batch.real_tokens,
    ))
}

/// The batches of a schedule, assembled ahead on a thread (see `Prefetcher`), and with a
/// context-parallel group, cut into this rank's shards.
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct BatchStream(Mutex<Prefetcher>);

/// Starts assembling the batches of `schedule` over `plan`, rows of `plan.capacity`.
fn prefetcher(
    store: &PyTokenStore,
    plan: &PyPlan,
    schedule: impl Into<Batches>,
    feed: Feed,
) -> Mutex<Prefetcher> {
    let seq_len = plan.0.capacity as usize;
    Mutex::new(Prefetcher::start(
        store.0.clone(),
        plan.0.clone(),
        schedule,
        seq_len,
        feed.pad_id,
        feed.prefetch,
    ))
}

fn next_batch(py: Python<'_>, stream: &Mutex<Prefetcher>) -> PyResult<Option<Batch>> {
    without_gil(py, || {
        let mut prefetcher = stream
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        prefetcher.next_batch().transpose()
    })
}

fn remaining(stream: &Mutex<Prefetcher>) -> usize {
    let prefetcher = stream
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    prefetcher.remaining() as usize
}

impl BatchStream {
    pub(crate) fn start(
        store: &PyTokenStore,
        plan: &PyPlan,
        schedule: Schedule,
        feed: Feed,
    ) -> Self {
        BatchStream(prefetcher(store, plan, schedule, feed))
    }
}

#[pymethods]
impl BatchStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<BatchArrays<'py>>> {
        next_batch(py, &self.0)?
            .map(|batch| to_arrays(py, batch))
            .transpose()
    }

    fn __len__(&self) -> usize {
        remaining(&self.0)
    }
}

/// The flattened batches of a token budget's schedule, assembled ahead on a thread: each
/// item is a batch's arrays (one row of all its tokens) and the plan position the loader
/// stands at once it is handed out.
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct FlatStream(Mutex<Prefetcher>);

impl FlatStream {
    pub(crate) fn start(
        store: &PyTokenStore,
        plan: &PyPlan,
        schedule: FlatSchedule,
        feed: Feed,
    ) -> Self {
        FlatStream(prefetcher(store, plan, schedule, feed))
    }
}

#[pymethods]
impl FlatStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<(BatchArrays<'py>, u64)>> {
        let Some(batch) = next_batch(py, &self.0)? else {
            return Ok(None);
        };
        let position = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .position()
            .expect("a flattened schedule knows where each batch leaves the loader");
        Ok(Some((to_arrays(py, batch)?, position)))
    }

    fn __len__(&self) -> usize {
        remaining(&self.0)
    }
}

/// Rank `rank` of a context-parallel group of `size` (see
/// `seqpack_core::batch::ContextParallel`).
#[pyclass(frozen, name = "ContextParallel", module = "seqpack._core")]
pub(crate) struct PyContextParallel(pub(crate) ContextParallel);

#[pymethods]
impl PyContextParallel {
    #[new]
    #[pyo3(signature = (size, rank, layout))]
    fn new(py: Python<'_>, size: u32, rank: u32, layout: &str) -> PyResult<Self> {
        let layout = choice(py, "cp_layout", layout)?;
        ContextParallel::new(size, rank, layout)
            .map(PyContextParallel)
            .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn size(&self) -> u32 {
        self.0.size
    }

    #[getter]
    fn rank(&self) -> u32 {
        self.0.rank
    }

    /// The alignment every document of the plan needs (`2·size` per document, else 1).
    #[getter]
    fn document_align(&self) -> u32 {
        self.0.document_align()
    }

    /// Raises `InvalidInputError` naming `seq_len` unless it cuts into `2·size` chunks.
    fn check_seq_len(&self, py: Python<'_>, seq_len: u32) -> PyResult<()> {
        self.0.check_seq_len(seq_len).map_err(|e| to_py(py, e))
    }

    /// This rank's positions in a row of segments of `lengths`.
    fn gather_indices(&self, py: Python<'_>, lengths: Vec<usize>) -> PyResult<Vec<usize>> {
        self.0.gather_indices(&lengths).map_err(|e| to_py(py, e))
    }
}

/// `(input_ids, labels, position_ids, document_ids, gather_indices, cu_seqlens,
/// cu_seqlens_padded, max_seqlen, real_tokens)` of one context-parallel shard.
pub(crate) type ShardArrays<'py> = (
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i32>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<i32>>,
    u32,
    u64,
);

pub(crate) fn shard_arrays(py: Python<'_>, shard: CpShard) -> PyResult<ShardArrays<'_>> {
    let shape = [shard.batch_size, shard.local_len];
    Ok((
        PyArray1::from_vec(py, shard.input_ids).reshape(shape)?,
        PyArray1::from_vec(py, shard.labels).reshape(shape)?,
        PyArray1::from_vec(py, shard.position_ids).reshape(shape)?,
        PyArray1::from_vec(py, shard.document_ids).reshape(shape)?,
        PyArray1::from_vec(py, shard.gather_indices).reshape(shape)?,
        PyArray1::from_vec(py, shard.cu_seqlens),
        PyArray1::from_vec(py, shard.cu_seqlens_padded),
        shard.max_seqlen,
        shard.real_tokens,
    ))
}

/// The batches of a schedule cut into one rank's context-parallel shards.
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct ShardStream {
    batches: Mutex<Prefetcher>,
    cp: ContextParallel,
}

impl ShardStream {
    pub(crate) fn start(
        store: &PyTokenStore,
        plan: &PyPlan,
        schedule: Schedule,
        feed: Feed,
        cp: ContextParallel,
    ) -> Self {
        ShardStream {
            batches: prefetcher(store, plan, schedule, feed),
            cp,
        }
    }
}

#[pymethods]
impl ShardStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<ShardArrays<'py>>> {
        let Some(batch) = next_batch(py, &self.batches)? else {
            return Ok(None);
        };
        let cp = self.cp;
        let shard = without_gil(py, || cp.shard(&batch))?;
        shard_arrays(py, shard).map(Some)
    }

    fn __len__(&self) -> usize {
        remaining(&self.batches)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPlan>()?;
    m.add_class::<BatchStream>()?;
    m.add_class::<FlatStream>()?;
    m.add_class::<PyContextParallel>()?;
    m.add_class::<ShardStream>()?;
    Ok(())
}

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

pymethods_with_fields! {
impl PyPlan {
    fields of 0 {
        capacity: u32, placed_tokens: u64, truncated_tokens: u64, align: u32,
        alignment_padding: u64,
    }

    #[getter]
    fn num_packs(&self) -> usize {
        self.0.num_packs()
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
}

/// Declares the tuple of arrays a core batch (or shard) is handed to Python as, and the
/// function that builds it: its matrices (reshaped to its rows) and its vectors, all
/// handed to numpy without copying, then its figures, each in the order named.
macro_rules! numpy_tuple {
    (
        $(#[$doc:meta])*
        type $tuple:ident = fn $convert:ident($value:ident: $from:ty),
        rows [$rows:ident, $len:ident],
        matrices [$($($matrix:ident).+: $matrix_type:ty),*],
        vectors [$($vector:ident: $vector_type:ty),*],
        figures [$($figure:ident: $figure_type:ty),*] $(,)?
    ) => {
        $(#[$doc])*
        pub(crate) type $tuple<'py> = (
            $(Bound<'py, PyArray2<$matrix_type>>,)*
            $(Bound<'py, PyArray1<$vector_type>>,)*
            $($figure_type,)*
        );

        pub(crate) fn $convert(py: Python<'_>, $value: $from) -> PyResult<$tuple<'_>> {
            let shape = [$value.$rows, $value.$len];
            Ok((
                $(PyArray1::from_vec(py, $value.$($matrix).+).reshape(shape)?,)*
                $(PyArray1::from_vec(py, $value.$vector),)*
                $($value.$figure,)*
            ))
        }
    };
}

numpy_tuple! {
    /// `(input_ids, labels, position_ids, document_ids, cu_seqlens, max_seqlen, real_tokens)`.
    type BatchArrays = fn to_arrays(batch: Batch),
    rows [batch_size, seq_len],
    matrices [
        tokens.input_ids: i64,
        tokens.labels: i64,
        tokens.position_ids: i64,
        tokens.document_ids: i32
    ],
    vectors [cu_seqlens: i32],
    figures [max_seqlen: u32, real_tokens: u64],
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

/// The `#[pymethods]` of a stream over a `Prefetcher` (`self.$batches`): an iterator over
/// the batches left, each item made by the `__next__` written out in the block.
macro_rules! stream_pymethods {
    (impl $class:ty, batches $batches:tt { $($methods:tt)* }) => {
        #[pymethods]
        impl $class {
            fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
                slf
            }

            fn __len__(&self) -> usize {
                let prefetcher = self
                    .$batches
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                prefetcher.remaining() as usize
            }

            $($methods)*
        }
    };
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

stream_pymethods! {
impl BatchStream, batches 0 {
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<BatchArrays<'py>>> {
        next_batch(py, &self.0)?
            .map(|batch| to_arrays(py, batch))
            .transpose()
    }
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

stream_pymethods! {
impl FlatStream, batches 0 {
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
}
}

/// Rank `rank` of a context-parallel group of `size` (see
/// `seqpack_core::batch::ContextParallel`).
#[pyclass(frozen, name = "ContextParallel", module = "seqpack._core")]
pub(crate) struct PyContextParallel(pub(crate) ContextParallel);

pymethods_with_fields! {
impl PyContextParallel {
    fields of 0 { size: u32, rank: u32 }

    #[new]
    #[pyo3(signature = (size, rank, layout))]
    fn new(py: Python<'_>, size: u32, rank: u32, layout: &str) -> PyResult<Self> {
        let layout = choice(py, "cp_layout", layout)?;
        ContextParallel::new(size, rank, layout)
            .map(PyContextParallel)
            .map_err(|e| to_py(py, e))
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
}

numpy_tuple! {
    /// `(input_ids, labels, position_ids, document_ids, gather_indices, cu_seqlens,
    /// cu_seqlens_padded, max_seqlen, real_tokens)` of one context-parallel shard.
    type ShardArrays = fn shard_arrays(shard: CpShard),
    rows [batch_size, local_len],
    matrices [
        tokens.input_ids: i64,
        tokens.labels: i64,
        tokens.position_ids: i64,
        tokens.document_ids: i32,
        gather_indices: i64
    ],
    vectors [cu_seqlens: i32, cu_seqlens_padded: i32],
    figures [max_seqlen: u32, real_tokens: u64],
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

stream_pymethods! {
impl ShardStream, batches batches {
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<ShardArrays<'py>>> {
        let Some(batch) = next_batch(py, &self.batches)? else {
            return Ok(None);
        };
        let cp = self.cp;
        let shard = without_gil(py, || cp.shard(&batch))?;
        shard_arrays(py, shard).map(Some)
    }
}
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(
        m,
        classes: [PyPlan, BatchStream, FlatStream, PyContextParallel, ShardStream],
        functions: []
    )
}

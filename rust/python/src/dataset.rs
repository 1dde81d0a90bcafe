//! Bindings of `seqpack_core::shard::Dataset`: the one reader of a dataset directory. Tokens
//! leave it without a copy, as Arrow record batches (the Arrow C data interface) whose
//! buffers borrow the shards' mappings; the Python `Dataset` wraps it.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, StructArray};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};
use seqpack_core::decompose::DecompositionManifest;
use seqpack_core::shard::{Dataset, TokenStore, Verify};

use crate::convert::to_python;
use crate::gil::without_gil;

/// A dataset directory, opened, checked and memory-mapped.
#[pyclass(frozen, name = "Dataset", module = "seqpack._core")]
pub(crate) struct PyDataset(Arc<Dataset>);

#[pymethods]
impl PyDataset {
    #[new]
    #[pyo3(signature = (path, *, verify = true, tokenizer_fingerprint = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        verify: bool,
        tokenizer_fingerprint: Option<String>,
    ) -> PyResult<Self> {
        let verify = Verify {
            contents: verify,
            tokenizer_fingerprint,
        };
        without_gil(py, || Dataset::open(&path, &verify)).map(|d| PyDataset(Arc::new(d)))
    }

    fn __len__(&self) -> usize {
        self.0.store().len() as usize
    }

    #[getter]
    fn fingerprint(&self) -> &str {
        self.0.fingerprint()
    }

    #[getter]
    fn num_tokens(&self) -> u64 {
        self.0.manifest().total_tokens
    }

    #[getter]
    fn vocab_size(&self) -> u64 {
        self.0.manifest().tokenizer.vocab_size
    }

    #[getter]
    fn tokenizer_fingerprint(&self) -> &str {
        &self.0.manifest().tokenizer.fingerprint
    }

    #[getter]
    fn shard_paths(&self) -> Vec<PathBuf> {
        self.0.shard_paths()
    }

    /// The manifest as written (a new dict on each call).
    #[getter]
    fn manifest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.0.raw_manifest())
    }

    /// Tokens per row (a new uint32 array).
    fn lengths<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        // The `length` column was checked equal to these, so each fits.
        let lengths = self.0.store().lengths().into_iter().map(|n| n as u32);
        PyArray1::from_iter(py, lengths)
    }

    /// The rows, for the batch assembler.
    #[getter]
    fn token_store(&self) -> PyTokenStore {
        PyTokenStore(self.0.store().clone())
    }

    /// Every record batch of every shard, in order, each exported through the Arrow C data
    /// interface (`pyarrow.record_batch(batch)`) without a copy.
    fn record_batches(&self) -> Vec<ArrowBatch> {
        self.0
            .store()
            .record_batches()
            .cloned()
            .map(ArrowBatch)
            .collect()
    }
}

/// The rows of a dataset's shards, memory-mapped: made by `Dataset.token_store`.
#[pyclass(frozen, name = "TokenStore", module = "seqpack._core")]
pub(crate) struct PyTokenStore(pub(crate) Arc<TokenStore>);

#[pymethods]
impl PyTokenStore {
    fn __len__(&self) -> usize {
        self.0.len() as usize
    }

    /// Tokens per row (int64).
    fn lengths<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.0.lengths())
    }
}

/// One validated record batch, exported by the Arrow PyCapsule protocol.
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct ArrowBatch(RecordBatch);

#[pymethods]
impl ArrowBatch {
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        // The batch is exported as stored; pyarrow casts if it asked for another schema.
        let _ = requested_schema;
        let data = StructArray::from(self.0.clone()).into_data();
        let (array, schema) = arrow_array::ffi::to_ffi(&data)
            .map_err(|e| PyValueError::new_err(format!("exporting a record batch: {e}")))?;
        let schema = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
        let array = PyCapsule::new_with_value(py, array, c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    fn __len__(&self) -> usize {
        self.0.num_rows()
    }
}

/// The manifest of the decomposition directory `path`, checked (see
/// `DecompositionManifest::read`), as written.
#[pyfunction]
fn read_decomposition_manifest<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let (_, raw) = without_gil(py, || DecompositionManifest::read(&path))?;
    to_python(py, &raw)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(
        m,
        classes: [PyDataset, PyTokenStore, ArrowBatch],
        functions: [read_decomposition_manifest]
    )
}

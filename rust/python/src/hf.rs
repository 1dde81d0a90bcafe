//! Bindings of `seqpack_core::hf`: any `tokenizer.json` that the native byte-level BPE does
//! not cover, with the same methods as `BpeTokenizer` so `seqpack.Tokenizer` wraps either.

use std::path::PathBuf;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyList};
use seqpack_core::hf::HfTokenizer as Inner;

use crate::gil::without_gil;

#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct HfTokenizer {
    inner: Inner,
}

impl HfTokenizer {
    /// What `preprocess` tokenizes with.
    pub(crate) fn encoder(&self) -> &dyn seqpack_core::preprocess::Encoder {
        &self.inner
    }
}

#[pymethods]
impl HfTokenizer {
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = without_gil(py, || Inner::from_file(&path))?;
        Ok(HfTokenizer { inner })
    }

    #[staticmethod]
    fn from_str(py: Python<'_>, json: &str) -> PyResult<Self> {
        let inner = without_gil(py, || Inner::from_json(json))?;
        Ok(HfTokenizer { inner })
    }

    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let ids = without_gil(py, || self.inner.encode(text, add_special_tokens))?;
        Ok(PyArray1::from_vec(py, ids))
    }

    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let batch = without_gil(py, || self.inner.encode_batch(&texts, add_special_tokens))?;
        PyList::new(py, batch.into_iter().map(|ids| PyArray1::from_vec(py, ids)))
    }

    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'_, u32>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ids = ids.as_slice()?;
        let text = without_gil(py, || self.inner.decode(ids))?;
        Ok(PyBytes::new(py, text.as_bytes()))
    }

    fn decode(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<String> {
        let ids = ids.as_slice()?;
        without_gil(py, || self.inner.decode(ids))
    }

    #[getter]
    fn vocab_size(&self) -> u32 {
        self.inner.vocab_size()
    }

    #[getter]
    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    fn to_str(&self) -> &str {
        self.inner.to_json()
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        without_gil(py, || {
            seqpack_core::shard::write_atomically(&path, self.inner.to_json().as_bytes())
        })
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HfTokenizer>()
}

//! Bindings of `seqpack_core::bpe`: the tokenizer and the trainer.

use std::path::PathBuf;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyList};
use seqpack_core::Error;
use seqpack_core::bpe::{Pattern, Tokenizer, TrainerOptions};

use crate::errors::to_py;
use crate::gil::without_gil;

/// A byte-level BPE tokenizer (the typed API is `seqpack.Tokenizer`). Every call that
/// reads, encodes, decodes or writes runs with the GIL released.
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct BpeTokenizer {
    inner: Tokenizer,
}

impl BpeTokenizer {
    /// What `preprocess` tokenizes with.
    pub(crate) fn encoder(&self) -> &dyn seqpack_core::preprocess::Encoder {
        &self.inner
    }
}

#[pymethods]
impl BpeTokenizer {
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = without_gil(py, || Tokenizer::from_file(&path))?;
        Ok(BpeTokenizer { inner })
    }

    #[staticmethod]
    fn from_str(py: Python<'_>, json: &str) -> PyResult<Self> {
        let inner = without_gil(py, || Tokenizer::from_json(json))?;
        Ok(BpeTokenizer { inner })
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
        let bytes = without_gil(py, || self.inner.decode(ids))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn decode(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<String> {
        let ids = ids.as_slice()?;
        without_gil(py, || {
            let bytes = self.inner.decode(ids)?;
            Ok(String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        })
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

    fn id_to_token(&self, id: u32) -> Option<&str> {
        self.inner.id_to_token(id)
    }

    fn to_str(&self) -> &str {
        self.inner.to_json()
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        without_gil(py, || self.inner.save(&path))
    }
}

/// Counts pieces of the text it is fed, then learns merges (the typed API is
/// `seqpack.train_bpe`).
#[pyclass(module = "seqpack._core")]
pub(crate) struct BpeTrainer {
    /// `None` once `train` has consumed the counts.
    inner: Option<seqpack_core::bpe::BpeTrainer>,
}

impl BpeTrainer {
    fn inner(&mut self, py: Python<'_>) -> PyResult<&mut seqpack_core::bpe::BpeTrainer> {
        self.inner.as_mut().ok_or_else(|| {
            let message = "has already trained; make a new trainer".to_owned();
            to_py(
                py,
                Error::InvalidOption {
                    name: "trainer",
                    message,
                },
            )
        })
    }
}

#[pymethods]
impl BpeTrainer {
    #[new]
    fn new(
        py: Python<'_>,
        vocab_size: u32,
        special_tokens: Vec<String>,
        pattern: &str,
        min_frequency: u64,
    ) -> PyResult<Self> {
        let options = TrainerOptions {
            vocab_size,
            special_tokens,
            pattern: Pattern::from_name_or_regex(pattern),
            min_frequency,
        };
        let inner = seqpack_core::bpe::BpeTrainer::new(options).map_err(|e| to_py(py, e))?;
        Ok(BpeTrainer { inner: Some(inner) })
    }

    fn feed(&mut self, py: Python<'_>, texts: Vec<PyBackedStr>) -> PyResult<()> {
        let trainer = self.inner(py)?;
        without_gil(py, || trainer.feed(&texts))
    }

    /// Feeds a file. After each batch the GIL is taken back briefly to honour Ctrl-C and to
    /// call `progress(bytes_read)`; an exception there stops the feed and is re-raised.
    fn feed_file(
        &mut self,
        py: Python<'_>,
        path: PathBuf,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let trainer = self.inner(py)?;
        let mut raised: Option<PyErr> = None;
        let outcome = without_gil(py, || {
            trainer.feed_file(&path, &mut |read| {
                Python::attach(|py| -> PyResult<()> {
                    py.check_signals()?;
                    if let Some(callback) = &progress {
                        callback.call1(py, (read,))?;
                    }
                    Ok(())
                })
                .map_err(|error| {
                    raised = Some(error);
                    Error::Interrupted
                })
            })
        });
        match raised {
            Some(error) => Err(error),
            None => outcome,
        }
    }

    #[getter]
    fn documents(&mut self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.inner(py)?.documents())
    }

    #[getter]
    fn bytes(&mut self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.inner(py)?.bytes())
    }

    fn train(&mut self, py: Python<'_>) -> PyResult<BpeTokenizer> {
        self.inner(py)?;
        let trainer = self.inner.take().expect("checked just above");
        let inner = without_gil(py, || trainer.train())?;
        Ok(BpeTokenizer { inner })
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BpeTokenizer>()?;
    m.add_class::<BpeTrainer>()?;
    Ok(())
}

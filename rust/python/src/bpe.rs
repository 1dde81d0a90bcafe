//! Bindings of the byte-level BPE trainer, `seqpack_core::tokenize::bpe::BpeTrainer` (the
//! tokenizer it makes is the one `Tokenizer` class of `crate::tokenizer`).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use seqpack_core::Error;
use seqpack_core::tokenize::bpe::{self, Pattern, TrainerOptions};

use crate::errors::to_py;
use crate::gil::without_gil;
use crate::tokenizer::Tokenizer;

/// Counts pieces of the text it is fed, then learns merges (the typed API is
/// `seqpack.train_bpe`).
#[pyclass(module = "seqpack._core")]
pub(crate) struct BpeTrainer {
    /// `None` once `train` has consumed the counts.
    inner: Option<bpe::BpeTrainer>,
}

impl BpeTrainer {
    fn inner(&mut self, py: Python<'_>) -> PyResult<&mut bpe::BpeTrainer> {
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
    #[pyo3(signature = (*, vocab_size, special_tokens, pattern, min_frequency))]
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
        let inner = bpe::BpeTrainer::new(options).map_err(|e| to_py(py, e))?;
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

    fn train(&mut self, py: Python<'_>) -> PyResult<Tokenizer> {
        self.inner(py)?;
        let trainer = self.inner.take().expect("checked just above");
        let tokenizer = without_gil(py, || trainer.train())?;
        Ok(Tokenizer::new(tokenizer))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BpeTrainer>()
}

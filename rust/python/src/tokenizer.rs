//! Bindings of `seqpack_core::tokenize`: one tokenizer class over whichever implementation a
//! file needs (the typed API is `seqpack.Tokenizer`). Every call that reads, encodes, decodes
//! or writes runs with the GIL released.

use std::path::PathBuf;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyList};
use seqpack_core::tokenize::{self, Implementation};

use crate::errors::to_py;
use crate::gil::without_gil;

#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct Tokenizer {
    inner: Box<dyn tokenize::Tokenizer>,
}

impl Tokenizer {
    pub(crate) fn new(inner: impl tokenize::Tokenizer + 'static) -> Self {
        Tokenizer {
            inner: Box::new(inner),
        }
    }

    /// What `preprocess` tokenizes with.
    pub(crate) fn inner(&self) -> &dyn tokenize::Tokenizer {
        &*self.inner
    }
}

/// The `implementation` argument: a name, or `None` for whichever supports the file.
fn implementation(py: Python<'_>, name: Option<&str>) -> PyResult<Option<Implementation>> {
    name.map(|name| name.parse().map_err(|e| to_py(py, e)))
        .transpose()
}

#[pymethods]
impl Tokenizer {
    /// Reads the file once. Without `implementation`, seqpack's byte-level BPE when it
    /// supports the file, AST-BPE for an `AstBPE` model, the `tokenizers` crate otherwise.
    #[staticmethod]
    #[pyo3(signature = (path, *, implementation=None))]
    fn from_file(py: Python<'_>, path: PathBuf, implementation: Option<&str>) -> PyResult<Self> {
        let implementation = self::implementation(py, implementation)?;
        let inner = without_gil(py, || tokenize::load(&path, implementation))?;
        Ok(Tokenizer { inner })
    }

    #[staticmethod]
    #[pyo3(signature = (json, *, implementation=None))]
    fn from_str(py: Python<'_>, json: &str, implementation: Option<&str>) -> PyResult<Self> {
        let implementation = self::implementation(py, implementation)?;
        let inner = without_gil(py, || tokenize::from_json(json, implementation))?;
        Ok(Tokenizer { inner })
    }

    #[pyo3(signature = (text, *, add_special_tokens=false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let ids = without_gil(py, || self.inner.encode(text, add_special_tokens))?;
        Ok(PyArray1::from_vec(py, ids))
    }

    #[pyo3(signature = (texts, *, add_special_tokens=false))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let batch = without_gil(py, || {
            let texts: Vec<&str> = texts.iter().map(|text| &**text).collect();
            self.inner.encode_batch(&texts, add_special_tokens)
        })?;
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

    /// Bytes that are not valid UTF-8 (a slice that cuts a character) become U+FFFD.
    fn decode(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<String> {
        let ids = ids.as_slice()?;
        without_gil(py, || {
            let bytes = self.inner.decode(ids)?;
            Ok(String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        })
    }

    /// `"bpe"`, `"ast-bpe"` or `"hf"`.
    #[getter]
    fn implementation(&self) -> &'static str {
        self.inner.implementation().name()
    }

    /// Whether seqpack's own encoder runs this tokenizer (else the `tokenizers` crate).
    #[getter]
    fn native(&self) -> bool {
        self.inner.implementation().is_native()
    }

    #[getter]
    fn vocab_size(&self) -> u32 {
        self.inner.vocab_size()
    }

    #[getter]
    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    /// The language an AST-BPE tokenizer parses; `None` for any other.
    #[getter]
    fn language(&self) -> Option<&'static str> {
        self.inner.language().map(|language| language.name())
    }

    /// AST-BPE: documents encoded so far that did not parse; `None` for any other.
    #[getter]
    fn fallbacks(&self) -> Option<u64> {
        self.inner.parse_fallbacks()
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
        without_gil(py, || self.inner.save(&path))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Tokenizer>()?;
    let names: Vec<&str> = Implementation::ALL.iter().map(|i| i.name()).collect();
    m.add("TOKENIZER_IMPLEMENTATIONS", names)
}

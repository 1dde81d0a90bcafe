//! Bindings of `seqpack_core::bpe::ast`: SQL BPE as in the text2sql paper, byte-level AST-BPE
//! tokenizers for code, and the parse checks the evaluation uses.

use std::path::PathBuf;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyList};
use seqpack_core::bpe::ast::{self, Language, SqlBpeOptions, Stopping};

use crate::errors::to_py;
use crate::gil::without_gil;

fn language(py: Python<'_>, name: &str) -> PyResult<Language> {
    name.parse().map_err(|e| to_py(py, e))
}

/// BPE over whole SQL tokens, plain or along the parse (the typed API is `seqpack.SqlBpe`).
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct SqlBpe {
    inner: ast::SqlBpe,
}

#[pymethods]
impl SqlBpe {
    #[staticmethod]
    #[pyo3(signature = (train, valid, syntax, max_merges, max_rejections, rare_below))]
    fn train(
        py: Python<'_>,
        train: Vec<PyBackedStr>,
        valid: Vec<PyBackedStr>,
        syntax: bool,
        max_merges: Option<usize>,
        max_rejections: Option<usize>,
        rare_below: u64,
    ) -> PyResult<Self> {
        let options = SqlBpeOptions {
            syntax,
            max_merges: max_merges.unwrap_or(usize::MAX),
            stopping: max_rejections.map(|max_rejections| Stopping {
                max_rejections,
                rare_below,
            }),
        };
        let inner = without_gil(py, || ast::SqlBpe::train(&train, &valid, options))?;
        Ok(SqlBpe { inner })
    }

    #[pyo3(signature = (query, limit=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        query: &str,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let ids = without_gil(py, || Ok(self.inner.encode(query, limit)))?;
        Ok(PyArray1::from_vec(py, ids))
    }

    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        queries: Vec<PyBackedStr>,
    ) -> PyResult<Bound<'py, PyList>> {
        let batch = without_gil(py, || {
            Ok(queries
                .iter()
                .map(|q| self.inner.encode(q, None))
                .collect::<Vec<_>>())
        })?;
        PyList::new(py, batch.into_iter().map(|ids| PyArray1::from_vec(py, ids)))
    }

    fn decode(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<String> {
        let ids = ids.as_slice()?;
        without_gil(py, || self.inner.decode(ids))
    }

    fn crossing(&self, py: Python<'_>, query: &str) -> PyResult<(usize, usize)> {
        without_gil(py, || Ok(self.inner.crossing(query)))
    }

    fn spelling<'py>(&self, py: Python<'py>, id: u32) -> Option<Bound<'py, PyBytes>> {
        self.inner.spelling(id).map(|b| PyBytes::new(py, b))
    }

    #[getter]
    fn vocab_size(&self) -> u32 {
        self.inner.vocab_size()
    }

    #[getter]
    fn base_size(&self) -> u32 {
        self.inner.base_size()
    }

    #[getter]
    fn merges(&self) -> Vec<(u32, u32)> {
        self.inner.merges().to_vec()
    }

    /// Every candidate of the stopping criterion: (left, right, count, accepted, rare types).
    #[getter]
    fn steps(&self) -> Vec<(u32, u32, u64, bool, u64)> {
        self.inner
            .steps()
            .iter()
            .map(|s| (s.left, s.right, s.count, s.accepted, s.rare_types))
            .collect()
    }

    #[getter]
    fn rare_types_before(&self) -> u64 {
        self.inner.rare_types_before()
    }

    #[getter]
    fn unparsed(&self) -> usize {
        self.inner.unparsed()
    }

    #[getter]
    fn syntax(&self) -> bool {
        self.inner.syntax()
    }
}

/// The base SQL tokens of a query, each with the whitespace written before it (the first
/// with the one space the query is read with).
#[pyfunction]
fn sql_tokens(query: &str) -> Vec<String> {
    ast::sql_tokens(query)
        .into_iter()
        .map(|b| String::from_utf8(b).expect("slices of a str at token edges"))
        .collect()
}

/// The parse of a query: its groups as `[start, end)` over `sql_tokens(query)`, and whether
/// its quotes and parentheses balance.
#[pyfunction]
fn sql_parse(query: &str) -> (Vec<(u32, u32)>, bool) {
    ast::sql_parse(query)
}

/// How many of `text`'s tokens (consecutive, of these byte lengths) cut across its parse;
/// `None` when it does not parse.
#[pyfunction]
fn syntax_crossing(
    py: Python<'_>,
    language: &str,
    text: &str,
    lengths: PyReadonlyArray1<'_, u32>,
) -> PyResult<Option<usize>> {
    let language = self::language(py, language)?;
    let lengths = lengths.as_slice()?;
    without_gil(py, || ast::crossing(language, text, lengths))
}

/// A byte-level AST-BPE tokenizer (the typed API is `seqpack.Tokenizer`).
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct AstTokenizer {
    inner: ast::AstTokenizer,
}

impl AstTokenizer {
    /// What `preprocess` tokenizes with.
    pub(crate) fn encoder(&self) -> &dyn seqpack_core::preprocess::Encoder {
        &self.inner
    }
}

#[pymethods]
impl AstTokenizer {
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = without_gil(py, || ast::AstTokenizer::from_file(&path))?;
        Ok(AstTokenizer { inner })
    }

    #[staticmethod]
    fn from_str(py: Python<'_>, json: &str) -> PyResult<Self> {
        let inner = without_gil(py, || ast::AstTokenizer::from_json(json))?;
        Ok(AstTokenizer { inner })
    }

    /// Returns the tokenizer, the documents seen and how many of them did not parse.
    #[staticmethod]
    fn train(
        py: Python<'_>,
        texts: Vec<PyBackedStr>,
        language: &str,
        vocab_size: u32,
        special_tokens: Vec<String>,
        min_frequency: u64,
    ) -> PyResult<(Self, u64, u64)> {
        let language = self::language(py, language)?;
        let (inner, stats) = without_gil(py, || {
            ast::AstTokenizer::train(&texts, language, vocab_size, special_tokens, min_frequency)
        })?;
        Ok((AstTokenizer { inner }, stats.documents, stats.unparsed))
    }

    /// `add_special_tokens` is accepted for the shared interface; AST-BPE has no template.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let _ = add_special_tokens;
        let ids = without_gil(py, || Ok(self.inner.encode(text)))?;
        Ok(PyArray1::from_vec(py, ids))
    }

    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let _ = add_special_tokens;
        let batch = without_gil(py, || Ok(self.inner.encode_batch(&texts)))?;
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

    #[getter]
    fn language(&self) -> &'static str {
        self.inner.language().name()
    }

    #[getter]
    fn num_merges(&self) -> usize {
        self.inner.num_merges()
    }

    /// Documents encoded so far that did not parse (encoded as plain byte-level BPE).
    #[getter]
    fn fallbacks(&self) -> u64 {
        self.inner.fallbacks()
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
    m.add_class::<SqlBpe>()?;
    m.add_class::<AstTokenizer>()?;
    m.add("AST_LANGUAGES", ast::LANGUAGES.to_vec())?;
    m.add_function(wrap_pyfunction!(sql_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(sql_parse, m)?)?;
    m.add_function(wrap_pyfunction!(syntax_crossing, m)?)?;
    Ok(())
}

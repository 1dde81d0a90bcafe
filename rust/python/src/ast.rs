//! Bindings of `seqpack_core::tokenize::ast`: training byte-level AST-BPE tokenizers for code
//! (the tokenizer is the one `Tokenizer` class), the parse check the evaluation uses, and the
//! text2sql research reproduction (`SqlBpe`, `sql_tokens`, `sql_parse`).

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyList};
use seqpack_core::tokenize::ast::sql::{self, SqlBpeOptions};
use seqpack_core::tokenize::ast::{self, AstTokenizer, Language, Stopping};

use crate::errors::to_py;
use crate::gil::without_gil;
use crate::tokenizer::Tokenizer;

fn language(py: Python<'_>, name: &str) -> PyResult<Language> {
    name.parse().map_err(|e| to_py(py, e))
}

/// BPE over whole SQL tokens, plain or along the parse (the typed API is `seqpack.SqlBpe`).
/// Its figures are copied out once, when it is trained: it never changes after.
#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct SqlBpe {
    inner: sql::SqlBpe,
    #[pyo3(get)]
    vocab_size: u32,
    #[pyo3(get)]
    base_size: u32,
    #[pyo3(get)]
    merges: Vec<(u32, u32)>,
    /// Every candidate of the stopping criterion: (left, right, count, accepted, rare types).
    #[pyo3(get)]
    steps: Vec<(u32, u32, u64, bool, u64)>,
    #[pyo3(get)]
    rare_types_before: u64,
    #[pyo3(get)]
    unparsed: usize,
    #[pyo3(get)]
    syntax: bool,
}

impl SqlBpe {
    fn new(inner: sql::SqlBpe) -> Self {
        SqlBpe {
            vocab_size: inner.vocab_size(),
            base_size: inner.base_size(),
            merges: inner.merges().to_vec(),
            steps: inner
                .steps()
                .iter()
                .map(|s| (s.left, s.right, s.count, s.accepted, s.rare_types))
                .collect(),
            rare_types_before: inner.rare_types_before(),
            unparsed: inner.unparsed(),
            syntax: inner.syntax(),
            inner,
        }
    }
}

#[pymethods]
impl SqlBpe {
    #[staticmethod]
    #[pyo3(signature = (train, valid, *, syntax, max_merges, max_rejections, rare_below))]
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
        let inner = without_gil(py, || sql::SqlBpe::train(&train, &valid, options))?;
        Ok(SqlBpe::new(inner))
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
}

/// The base SQL tokens of a query, each with the whitespace written before it (the first
/// with the one space the query is read with).
#[pyfunction]
fn sql_tokens(query: &str) -> Vec<String> {
    sql::tokens(query)
        .into_iter()
        .map(|b| String::from_utf8(b).expect("slices of a str at token edges"))
        .collect()
}

/// The parse of a query: its groups as `[start, end)` over `sql_tokens(query)`, and whether
/// its quotes and parentheses balance.
#[pyfunction]
fn sql_parse(query: &str) -> (Vec<(u32, u32)>, bool) {
    sql::parse(query)
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

/// What AST-BPE training made and saw.
#[pyclass(frozen, get_all, module = "seqpack._core")]
pub(crate) struct AstBpeTraining {
    tokenizer: Py<Tokenizer>,
    /// Documents seen.
    documents: u64,
    /// Documents that did not parse (merged as plain byte-level BPE).
    unparsed: u64,
}

/// Trains a byte-level AST-BPE tokenizer (the typed API is `seqpack.train_ast_bpe`).
#[pyfunction]
#[pyo3(signature = (texts, *, language, vocab_size, special_tokens, min_frequency))]
fn train_ast_bpe(
    py: Python<'_>,
    texts: Vec<PyBackedStr>,
    language: &str,
    vocab_size: u32,
    special_tokens: Vec<String>,
    min_frequency: u64,
) -> PyResult<AstBpeTraining> {
    let language = self::language(py, language)?;
    let (tokenizer, stats) = without_gil(py, || {
        AstTokenizer::train(&texts, language, vocab_size, special_tokens, min_frequency)
    })?;
    Ok(AstBpeTraining {
        tokenizer: Py::new(py, Tokenizer::new(tokenizer))?,
        documents: stats.documents,
        unparsed: stats.unparsed,
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(
        m,
        classes: [SqlBpe, AstBpeTraining],
        functions: [train_ast_bpe, sql_tokens, sql_parse, syntax_crossing]
    )?;
    m.add("AST_LANGUAGES", ast::LANGUAGES.to_vec())
}

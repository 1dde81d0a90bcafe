//! Bindings of `seqpack_core::chat`: a chat template (the typed API is
//! `seqpack.apply_chat_template`). Rendering and encoding run with the GIL released.

use std::path::PathBuf;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use seqpack_core::chat::{self, ChatOptions, source};
use serde_json::{Map, Value};

use crate::convert::{choice, from_python};
use crate::errors::record_fault;
use crate::gil::without_gil;
use crate::tokenizer::Tokenizer;

/// What `apply` returns: ids, mask, the rendered text, and the mask edges inside tokens.
type Applied<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyString>,
    u64,
);

#[pyclass(frozen, module = "seqpack._core")]
pub(crate) struct ChatTemplate {
    inner: chat::ChatTemplate,
    origin: String,
}

/// The options: what to train on, the extra variables, and the special tokens beside the
/// tokenizer's file (under the variables) when there is one.
fn options(
    py: Python<'_>,
    train_on: &str,
    variables: Option<&Bound<'_, PyDict>>,
    tokenizer_path: Option<&PathBuf>,
) -> PyResult<ChatOptions> {
    let variables = match variables {
        Some(variables) => match from_python(variables.as_any(), "variables")? {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    let mut options = ChatOptions {
        train_on: choice(py, "train_on", train_on)?,
        variables,
    };
    if let Some(path) = tokenizer_path {
        without_gil(py, || options.add_special_tokens_beside(path))?;
    }
    Ok(options)
}

#[pymethods]
impl ChatTemplate {
    /// A template from its text; `origin` names it in messages.
    #[new]
    #[pyo3(signature = (text, *, origin="template", tokenizer_path=None, train_on="assistant", variables=None))]
    fn new(
        py: Python<'_>,
        text: &str,
        origin: &str,
        tokenizer_path: Option<PathBuf>,
        train_on: &str,
        variables: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let options = options(py, train_on, variables, tokenizer_path.as_ref())?;
        let inner = without_gil(py, || chat::ChatTemplate::new(text, options))?;
        Ok(ChatTemplate {
            inner,
            origin: origin.to_owned(),
        })
    }

    /// Renders and encodes one conversation: (ids, mask, text, edges inside tokens).
    #[pyo3(signature = (tokenizer, messages, *, tools=None, add_generation_prompt=false))]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        tokenizer: &Bound<'py, Tokenizer>,
        messages: &Bound<'py, PyAny>,
        tools: Option<&Bound<'py, PyAny>>,
        add_generation_prompt: bool,
    ) -> PyResult<Applied<'py>> {
        let mut record = Map::new();
        record.insert("messages".into(), from_python(messages, "messages")?);
        if let Some(tools) = tools {
            record.insert("tools".into(), from_python(tools, "tools")?);
        }
        let record = seqpack_core::chat::value::from_json(&Value::Object(record));
        let tokenizer = tokenizer.get().inner();
        let encoded = without_gil(py, || {
            Ok(self
                .inner
                .encode_record(&record, tokenizer, add_generation_prompt))
        })?
        .map_err(|fault| record_fault(py, "messages", fault))?;
        Ok((
            PyArray1::from_vec(py, encoded.masked.ids),
            PyArray1::from_vec(py, encoded.masked.mask),
            PyString::new(py, &encoded.text),
            encoded.masked.edges_inside_tokens,
        ))
    }

    /// The template's text.
    #[getter]
    fn source(&self) -> &str {
        self.inner.source()
    }

    /// Where the template came from (a file, or `tokenizer_config.json`'s entry).
    #[getter]
    fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the template marks generated text with `{% generation %}` blocks.
    #[getter]
    fn has_generation(&self) -> bool {
        self.inner.has_generation()
    }

    /// 16 hex digits of the template, its variables and what is trained on.
    #[getter]
    fn fingerprint(&self) -> String {
        use seqpack_core::chat::RecordEncoder;
        self.inner.fingerprint()
    }
}

/// The text of the template beside a `tokenizer.json` (`chat_template.jinja`, or
/// `tokenizer_config.json`), the one called `name` if given (else `tool_use` for a
/// conversation `with_tools`, where there is one), and where it was found.
#[pyfunction]
#[pyo3(signature = (tokenizer_path, *, name=None, with_tools=false))]
fn chat_template_beside(
    py: Python<'_>,
    tokenizer_path: PathBuf,
    name: Option<&str>,
    with_tools: bool,
) -> PyResult<(String, String)> {
    let found = without_gil(py, || {
        source::beside_tokenizer(&tokenizer_path, name, with_tools)
    })?;
    Ok((found.text, found.origin))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ChatTemplate>()?;
    m.add_function(wrap_pyfunction!(chat_template_beside, m)?)
}

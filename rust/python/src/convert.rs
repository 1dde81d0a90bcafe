//! The one conversion point between Python arguments and core options, and between core
//! results and Python objects. A core error about an option names the core's field; here it
//! is renamed to the Python parameter that carried the value, so the message points at the
//! caller's own argument.

use std::str::FromStr;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString, PyTuple};
use seqpack_core::Error;
use seqpack_core::chat::EncoderOptions;
use seqpack_core::pack::PackOptions;
use serde_json::{Map, Value};

use crate::errors::to_py;

/// A named choice (`algorithm="obfd"`, `long_docs="split"`, …) parsed by the core; the error
/// names `parameter`.
pub(crate) fn choice<T>(py: Python<'_>, parameter: &'static str, value: &str) -> PyResult<T>
where
    T: FromStr<Err = Error>,
{
    value
        .parse()
        .map_err(|error| to_py(py, python_names(error, &[(NAME_OF_CHOICE, parameter)])))
}

/// Stands for whatever name the core gave the choice it failed to parse.
const NAME_OF_CHOICE: &str = "";

/// `error` with its option's core name replaced by the Python parameter's, per `renames`
/// (core name, Python name). The empty core name matches any option.
pub(crate) fn python_names(error: Error, renames: &[(&str, &'static str)]) -> Error {
    match error {
        Error::InvalidOption { name, message } => {
            let renamed = renames
                .iter()
                .find(|(core, _)| core.is_empty() || *core == name)
                .map_or(name, |&(_, python)| python);
            Error::InvalidOption {
                name: renamed,
                message,
            }
        }
        other => other,
    }
}

/// The record encoders' options of `seqpack.preprocess` (`train_on`, `chat_template`,
/// `template_vars`, and the tokenizer's file), each error naming its parameter.
pub(crate) fn encoder_options(
    py: Python<'_>,
    train_on: Option<&str>,
    chat_template: Option<std::path::PathBuf>,
    template_vars: Option<&Bound<'_, PyDict>>,
    tokenizer_path: Option<std::path::PathBuf>,
) -> PyResult<EncoderOptions> {
    let train_on = train_on
        .map(|name| choice(py, "train_on", name))
        .transpose()?;
    let mut vars = std::collections::BTreeMap::new();
    for (name, value) in template_vars.iter().flat_map(|d| d.iter()) {
        let name: String = name.extract()?;
        vars.insert(name, from_python(&value, "template_vars")?);
    }
    Ok(EncoderOptions {
        train_on,
        chat_template,
        tokenizer_path,
        template_vars: vars,
    })
}

/// Packing options from the keyword arguments of `seqpack.pack` and the loaders.
pub(crate) fn pack_options(
    py: Python<'_>,
    capacity: u32,
    algorithm: &str,
    max_docs_per_pack: Option<u32>,
    long_docs: &str,
    seed: Option<u64>,
) -> PyResult<PackOptions> {
    Ok(PackOptions {
        capacity,
        algorithm: choice(py, "algorithm", algorithm)?,
        max_docs_per_pack,
        long_docs: choice(py, "long_docs", long_docs)?,
        seed,
    })
}

/// A core result (a manifest, a summary, as `serde_json::to_value` gives it) as the Python
/// dicts, lists and scalars its JSON text would load as, built without that text.
pub(crate) fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => flag.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                integer.into_pyobject(py)?.into_any()
            } else if let Some(integer) = number.as_u64() {
                integer.into_pyobject(py)?.into_any()
            } else {
                number
                    .as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
            }
        }
        Value::String(text) => text.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|item| to_python(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (key, field) in fields {
                dict.set_item(key, to_python(py, field)?)?;
            }
            dict.into_any()
        }
    })
}

/// A JSON value from plain Python data (the state and options dicts); anything else is
/// refused naming `name`, the parameter it came in.
pub(crate) fn from_python(value: &Bound<'_, PyAny>, name: &'static str) -> PyResult<Value> {
    Ok(if value.is_none() {
        Value::Null
    } else if let Ok(b) = value.cast::<PyBool>() {
        Value::Bool(b.is_true())
    } else if let Ok(f) = value.cast::<PyFloat>() {
        serde_json::Number::from_f64(f.value()).map_or(Value::Null, Value::Number)
    } else if let Ok(s) = value.cast::<PyString>() {
        Value::String(s.to_str()?.to_owned())
    } else if let Ok(d) = value.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            map.insert(k.str()?.to_str()?.to_owned(), from_python(&v, name)?);
        }
        Value::Object(map)
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        Value::Array(
            value
                .try_iter()?
                .map(|v| from_python(&v?, name))
                .collect::<PyResult<_>>()?,
        )
    } else if let Ok(n) = value.extract::<i64>() {
        Value::from(n)
    } else if let Ok(n) = value.extract::<u64>() {
        Value::from(n)
    } else {
        let kind = value.get_type().name()?;
        let message = format!("holds a {kind}, which is not JSON data");
        return Err(to_py(value.py(), Error::InvalidOption { name, message }));
    })
}

/// Preprocess options from the keyword dict that `seqpack.ray` hands to every step of a run
/// (the names of `seqpack.preprocess`'s parameters); an unknown key is refused by name.
pub(crate) fn preprocess_options(
    py: Python<'_>,
    options: &Bound<'_, PyDict>,
    tokenizer: &dyn seqpack_core::tokenize::Tokenizer,
) -> PyResult<seqpack_core::preprocess::PreprocessOptions> {
    use seqpack_core::preprocess::PreprocessOptions;
    let mut parsed = PreprocessOptions::default();
    let (mut train_on, mut chat_template, mut template_vars, mut tokenizer_path) =
        (None, None, None, None);
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "text_field" => parsed.text_field = value.extract()?,
            "lines" => parsed.lines = value.extract()?,
            "prepend" => parsed.prepend = value.extract()?,
            "append" => parsed.append = value.extract()?,
            "shard_size" => parsed.shard_tokens = value.extract()?,
            "on_error" => parsed.on_error = choice(py, "on_error", value.extract()?)?,
            "resume" => parsed.resume = value.extract()?,
            "workers" => parsed.workers = value.extract()?,
            "split_size" => parsed.split_bytes = value.extract()?,
            "source_names" => parsed.source_names = value.extract()?,
            "format" => {
                let format: Option<String> = value.extract()?;
                parsed.format = format.map(|name| choice(py, "format", &name)).transpose()?;
            }
            "train_on" => train_on = value.extract::<Option<String>>()?,
            "chat_template" => chat_template = value.extract::<Option<std::path::PathBuf>>()?,
            "template_vars" => template_vars = value.cast::<PyDict>().ok().cloned(),
            "tokenizer_path" => tokenizer_path = value.extract::<Option<std::path::PathBuf>>()?,
            _ => {
                let message = format!("{key:?} is not a preprocess option");
                return Err(to_py(
                    py,
                    Error::InvalidOption {
                        name: "options",
                        message,
                    },
                ));
            }
        }
    }
    let encoders = encoder_options(
        py,
        train_on.as_deref(),
        chat_template,
        template_vars.as_ref(),
        tokenizer_path,
    )?;
    parsed.encoders = crate::gil::without_gil(py, || {
        seqpack_core::chat::record_encoders(&encoders, tokenizer)
    })?;
    Ok(parsed)
}

/// A JSON-shaped Python value (a plan, a split's count, start or result) as the core type.
pub(crate) fn from_python_as<T: serde::de::DeserializeOwned>(
    value: &Bound<'_, PyAny>,
    name: &'static str,
) -> PyResult<T> {
    serde_json::from_value(from_python(value, name)?).map_err(|e| {
        let message = format!("is not a valid {name}: {e}");
        to_py(value.py(), Error::InvalidOption { name, message })
    })
}

/// A core result as Python data (see [`to_python`]).
pub(crate) fn to_python_as<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let value = serde_json::to_value(value).expect("core results always serialise");
    Ok(to_python(py, &value)?.unbind())
}

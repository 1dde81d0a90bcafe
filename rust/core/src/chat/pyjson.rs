//! `|tojson` as HF chat templates have it: Python's `json.dumps(x, ensure_ascii=False,
//! indent=None, separators=None, sort_keys=False)` (HF replaces Jinja's HTML-escaping
//! filter with it), so `{"a": 1, "b": [1, 2]}` with a space after `:` and `,`, floats as
//! Python prints them, non-ASCII text kept, and `indent`, `separators`, `sort_keys`,
//! `ensure_ascii` accepted as keywords.

use std::fmt::Write;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::json::write_python_string;

/// The `tojson` filter.
pub(crate) fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or("").to_owned()),
        Some(v) => Some(" ".repeat(usize::try_from(v.as_i64().unwrap_or(0)).unwrap_or(0))),
    };
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let (item, key) = match separators.as_deref() {
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be two strings",
            ));
        }
        None if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        None => (", ".to_owned(), ": ".to_owned()),
    };
    let format = Format {
        indent,
        item,
        key,
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let mut out = String::new();
    format.write(&mut out, value, 0)?;
    Ok(Value::from_safe_string(out))
}

/// `value` as compact JSON (`json.dumps(value, separators=(",", ":"))`), for messages.
pub(crate) fn compact(value: &Value) -> String {
    let format = Format {
        indent: None,
        item: ",".to_owned(),
        key: ":".to_owned(),
        sort_keys: false,
        ensure_ascii: false,
    };
    let mut out = String::new();
    match format.write(&mut out, value, 0) {
        Ok(()) => out,
        Err(_) => value.to_string(),
    }
}

struct Format {
    indent: Option<String>,
    item: String,
    key: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

impl Format {
    fn write(&self, out: &mut String, value: &Value, depth: usize) -> Result<(), Error> {
        match value.kind() {
            ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
            ValueKind::Number if value.is_integer() => {
                let _ = write!(out, "{value}");
            }
            ValueKind::Number => {
                let number = f64::try_from(value.clone())?;
                out.push_str(&python_float(number));
            }
            ValueKind::String => {
                write_python_string(out, value.as_str().unwrap_or(""), self.ensure_ascii)
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = value.try_iter()?.collect();
                self.container(out, '[', ']', &items, depth, |out, item, depth| {
                    self.write(out, item, depth)
                })?;
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = value.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort();
                }
                let mut entries = Vec::with_capacity(keys.len());
                for key in keys {
                    let item = value.get_item(&key)?;
                    entries.push((key, item));
                }
                self.container(out, '{', '}', &entries, depth, |out, (key, item), depth| {
                    match key.as_str() {
                        Some(text) => write_python_string(out, text, self.ensure_ascii),
                        // Python turns non-string keys into strings.
                        None => write_python_string(out, &key.to_string(), self.ensure_ascii),
                    }
                    out.push_str(&self.key);
                    self.write(out, item, depth)
                })?;
            }
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson: a value of type {other} is not JSON serializable"),
                ));
            }
        }
        Ok(())
    }

    fn container<T>(
        &self,
        out: &mut String,
        open: char,
        close: char,
        items: &[T],
        depth: usize,
        write_item: impl Fn(&mut String, &T, usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        out.push(open);
        if items.is_empty() {
            out.push(close);
            return Ok(());
        }
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out.push_str(&self.item);
            }
            if let Some(indent) = &self.indent {
                out.push('\n');
                out.push_str(&indent.repeat(depth + 1));
            }
            write_item(out, item, depth + 1)?;
        }
        if let Some(indent) = &self.indent {
            out.push('\n');
            out.push_str(&indent.repeat(depth));
        }
        out.push(close);
        Ok(())
    }
}

/// A float as Python's `repr` writes it: the shortest text that reads back the same,
/// with `.0` on whole numbers and exponent notation below 1e-4 and from 1e16 on.
pub(crate) fn python_float(number: f64) -> String {
    if number.is_nan() {
        return "NaN".into();
    }
    if number.is_infinite() {
        return if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .into();
    }
    let magnitude = number.abs();
    if number == 0.0 || (1e-4..1e16).contains(&magnitude) {
        let text = format!("{number}");
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    // Rust writes `1e-5` and `1.5e16`; Python `1e-05` and `1.5e+16`.
    let text = format!("{number:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

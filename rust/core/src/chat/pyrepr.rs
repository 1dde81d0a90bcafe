//! Numbers and the records' lists and dicts printed as Python prints them (`str()` of a
//! float, `repr()` inside a list or dict). The engine writes a float without an exponent
//! (`100000000000000000000.0` where Python writes `1e+20`, `0.00001` for `1e-05`), which
//! templates that print tool-call arguments as they are (`{{ value }}`) show.

use std::fmt::{self, Write};

use minijinja::value::{Value, ValueKind};

use super::pyjson::python_float;
use super::value::{list, object};

/// Writes `value` as `{{ value }}` prints it in Python; `None` where the engine's own
/// formatting already does (strings, integers, booleans, `None`, the engine's own objects).
pub(crate) fn write_printed(out: &mut impl Write, value: &Value) -> Option<fmt::Result> {
    match value.kind() {
        ValueKind::Number if !value.is_integer() => Some(write_float(out, value)),
        ValueKind::Seq | ValueKind::Map if list(value).is_some() || object(value).is_some() => {
            Some(write_repr(out, value))
        }
        _ => None,
    }
}

/// Python's `repr()` of `value`.
fn write_repr(out: &mut impl Write, value: &Value) -> fmt::Result {
    if let Some(items) = list(value) {
        out.write_char('[')?;
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out.write_str(", ")?;
            }
            write_repr(out, item)?;
        }
        return out.write_char(']');
    }
    if let Some(fields) = object(value) {
        out.write_char('{')?;
        for (index, (key, item)) in fields.iter().enumerate() {
            if index > 0 {
                out.write_str(", ")?;
            }
            write_repr(out, key)?;
            out.write_str(": ")?;
            write_repr(out, item)?;
        }
        return out.write_char('}');
    }
    if value.kind() == ValueKind::Number && !value.is_integer() {
        return write_float(out, value);
    }
    // Strings quoted and escaped as Python's `repr` does, `True`, `None`, integers.
    write!(out, "{value:?}")
}

fn write_float(out: &mut impl Write, value: &Value) -> fmt::Result {
    let number = f64::try_from(value.clone()).unwrap_or(f64::NAN);
    // `str()` of the non-finite floats; `json.dumps`, which `python_float` follows, differs.
    match number {
        n if n.is_nan() => out.write_str("nan"),
        f64::INFINITY => out.write_str("inf"),
        f64::NEG_INFINITY => out.write_str("-inf"),
        n => out.write_str(&python_float(n)),
    }
}

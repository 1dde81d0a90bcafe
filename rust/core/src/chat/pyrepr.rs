//! Numbers and the records' lists and dicts printed as Python prints them (`str()` of a
//! float, `repr()` inside a list or dict). The engine writes a float without an exponent
//! (`100000000000000000000.0` where Python writes `1e+20`, `0.00001` for `1e-05`), which
//! templates that print tool-call arguments as they are (`{{ value }}`) show.

use std::fmt::{self, Write};

use minijinja::value::{Value, ValueKind};

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
    out.write_str(&python_float(number))
}

/// Python's `repr(number)`: the shortest digits that read back as `number`, with an
/// exponent (two digits at least, and a sign) below 1e-4 and from 1e16 on.
pub(crate) fn python_float(number: f64) -> String {
    if number.is_nan() {
        return "nan".into();
    }
    if number.is_infinite() {
        return if number > 0.0 { "inf" } else { "-inf" }.into();
    }
    let scientific = format!("{number:e}");
    let (digits, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` writes an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    if number != 0.0 && !(-4..16).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{digits}e{sign}{:02}", exponent.abs());
    }
    let mut fixed = number.to_string();
    if !fixed.contains('.') {
        fixed.push_str(".0");
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_writes_them() {
        // `repr()` of each in Python.
        let cases = [
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e-5, "1e-05"),
            (3e-5, "3e-05"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (100.0, "100.0"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ];
        for (number, python) in cases {
            assert_eq!(python_float(number), python, "{number}");
        }
    }
}

//! Jinja's `iterable` and `sequence` tests as Python's objects answer them: HF's Jinja asks
//! Python whether `iter(value)` works and whether the value has a length and items, so
//! `none`, numbers and booleans are neither, while strings, lists, dicts and undefined
//! values are both. The engine counts `none` as iterable (it loops over it as over nothing),
//! which turned a `none` inside tool-call arguments into `[]` where Python prints `None`.

use minijinja::value::{Value, ValueKind};

/// Whether `iter(value)` works in Python.
pub(crate) fn is_iterable(value: &Value) -> bool {
    is_sequence(value) || value.kind() == ValueKind::Iterable
}

/// Whether Python's `len(value)` and `value[…]` both work (Jinja's `sequence` test).
pub(crate) fn is_sequence(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::Undefined
            | ValueKind::String
            | ValueKind::Bytes
            | ValueKind::Seq
            | ValueKind::Map
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_numbers_and_booleans_are_not_iterable() {
        for value in [
            Value::from(()),
            Value::from(1),
            Value::from(1.5),
            Value::from(true),
        ] {
            assert!(!is_iterable(&value) && !is_sequence(&value), "{value:?}");
        }
        let list = Value::from(vec![Value::from(1)]);
        for value in [Value::from("ab"), list, Value::UNDEFINED] {
            assert!(is_iterable(&value) && is_sequence(&value), "{value:?}");
        }
    }
}

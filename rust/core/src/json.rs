//! Pieces of the hand-written serde readers of JSON (a JSONL record's text field, a
//! `tokenizer.json`'s vocabulary and merges): strings borrowed from the input where they
//! have no escapes, and values read as a string or else only for their kind.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Declares `$visitor`, a serde visitor of a `$value` (a type over the input's lifetime
/// `'de`) that expects `$expecting`, and reads a `$value` with it by the deserializer's
/// `$deserialize`; the visitor's `visit_*` methods follow.
macro_rules! visitor {
    ($visitor:ident: $value:ty, $deserialize:ident, $expecting:literal; $($methods:tt)*) => {
        struct $visitor;

        impl<'de> Deserialize<'de> for $value {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.$deserialize($visitor)
            }
        }

        impl<'de> Visitor<'de> for $visitor {
            type Value = $value;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }

            $($methods)*
        }
    };
}
pub(crate) use visitor;

/// Implements a serde visitor's string methods: each gives `$found(text)`, the text a
/// `Cow` borrowed from the input unless it has escapes.
macro_rules! visit_strings {
    ($value:ty, $found:path) => {
        fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<$value, E> {
            Ok($found(Cow::Borrowed(text)))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<$value, E> {
            Ok($found(Cow::Owned(text.to_owned())))
        }

        fn visit_string<E: de::Error>(self, text: String) -> Result<$value, E> {
            Ok($found(Cow::Owned(text)))
        }
    };
}
pub(crate) use visit_strings;

/// Implements a serde visitor's methods for the kinds of JSON value it does not read: each
/// gives `$other(kind)`, the kind named as in error messages (`seq` takes the name of a
/// list; a list or an object is skipped, not built).
macro_rules! visit_other_kinds {
    ($value:ty, $other:path; $($kind:ident $(= $name:literal)?),*) => {
        $(visit_other_kinds!(@$kind $value, $other $(, $name)?);)*
    };
    (@bool $value:ty, $other:path) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$value, E> {
            Ok($other("a boolean"))
        }
    };
    (@number $value:ty, $other:path) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$value, E> {
            Ok($other("a number"))
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$value, E> {
            Ok($other("a number"))
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$value, E> {
            Ok($other("a number"))
        }
    };
    (@str $value:ty, $other:path) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$value, E> {
            Ok($other("a string"))
        }
    };
    (@unit $value:ty, $other:path) => {
        fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
            Ok($other("null"))
        }
    };
    (@seq $value:ty, $other:path, $name:literal) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<$value, A::Error> {
            IgnoredAny.visit_seq(seq)?;
            Ok($other($name))
        }
    };
    (@map $value:ty, $other:path) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$value, A::Error> {
            IgnoredAny.visit_map(map)?;
            Ok($other("an object"))
        }
    };
}
pub(crate) use visit_other_kinds;

/// A string, borrowed from the input unless it has escapes.
pub(crate) struct Borrowed<'a>(pub(crate) Cow<'a, str>);

visitor! {
    BorrowedVisitor: Borrowed<'de>, deserialize_str, "a string";
    visit_strings!(Borrowed<'de>, Borrowed);
}

/// Any value: its string (borrowed unless it has escapes), or the kind of value it is
/// instead, named as in error messages (a list or an object is skipped, not built).
pub(crate) enum StrOrKind<'a> {
    Str(Cow<'a, str>),
    Other(&'static str),
}

visitor! {
    StrOrKindVisitor: StrOrKind<'de>, deserialize_any, "a JSON value";
    visit_strings!(StrOrKind<'de>, StrOrKind::Str);
    visit_other_kinds!(StrOrKind<'de>, StrOrKind::Other; bool, number, unit, seq = "an array", map);
}

/// `text` as a JSON string as Python's `json.dumps` writes it: `"`, `\\` and the control
/// characters escaped (the common ones by name), and with `ensure_ascii` everything outside
/// printable ASCII as `\uXXXX` (UTF-16 units).
pub(crate) fn write_python_string(out: &mut String, text: &str, ensure_ascii: bool) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !(' '..='~').contains(&c)) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = fmt::Write::write_fmt(out, format_args!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `value` as compact JSON text with every object's keys sorted: the same text for equal
/// values whatever order their keys were given in (objects otherwise keep their order), as
/// seeds and fingerprints need.
pub(crate) fn sorted_text(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, item)| (key.clone(), sorted(item)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

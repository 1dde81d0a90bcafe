//! The text field of one JSONL record, read without building the record as a
//! `serde_json::Value`: other fields are skipped as they are parsed (still validated, so a
//! malformed line is refused as before), and a text without escapes is borrowed from the
//! line instead of copied.
//!
//! The result is what `Value::get(field)` on the parsed line would give: the last of
//! duplicate keys wins, a line that is not an object has no field, and a field that is not a
//! string is named by its kind. One difference: skipped values are checked as JSON syntax
//! but not decoded, so a lone UTF-16 surrogate escape (`"\ud800"`) in another field, which
//! a `Value` refuses, passes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why a line has no usable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldError {
    /// Not valid JSON (serde_json's message, with its line and column).
    Malformed(String),
    /// Not an object, or an object without the field.
    Missing,
    /// The field holds this kind of value (`"a number"`, `"null"`, …), not a string.
    NotAString(&'static str),
}

/// The string of `field` in the JSON object `line`.
pub(crate) fn text_field<'a>(line: &'a str, field: &str) -> Result<Cow<'a, str>, FieldError> {
    let mut parser = serde_json::Deserializer::from_str(line);
    let found = parser
        .deserialize_any(Record { field })
        .and_then(|found| parser.end().map(|()| found))
        .map_err(|e| FieldError::Malformed(e.to_string()))?;
    match found {
        Some(Value::Text(text)) => Ok(text),
        Some(Value::Other(kind)) => Err(FieldError::NotAString(kind)),
        None => Err(FieldError::Missing),
    }
}

/// The field's value: its string, or the kind of what it holds instead.
enum Value<'a> {
    Text(Cow<'a, str>),
    Other(&'static str),
}

/// The top-level value: the last value of `field` if it is an object that has one.
struct Record<'f> {
    field: &'f str,
}

impl<'de> Visitor<'de> for Record<'_> {
    type Value = Option<Value<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Key(key)) = map.next_key()? {
            if key == self.field {
                found = Some(map.next_value_seed(FieldValue)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An object key, borrowed unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Borrowing).map(Key)
    }
}

/// A string, borrowed from the input when the parser can (no escapes), else owned.
struct Borrowing;

impl<'de> Visitor<'de> for Borrowing {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

/// The value of the text field, of any kind.
struct FieldValue;

impl<'de> DeserializeSeed<'de> for FieldValue {
    type Value = Value<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldValue {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Borrowing.visit_borrowed_str(text).map(Value::Text)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Borrowing.visit_str(text).map(Value::Text)
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Borrowing.visit_string(text).map(Value::Text)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Value::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Value::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Value::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Value::Other("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Value::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Value::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(Value::Other("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the reference (a whole `serde_json::Value`) gives for the same line.
    fn reference(line: &str, field: &str) -> Result<String, FieldError> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| FieldError::Malformed(e.to_string()))?;
        match value.get(field) {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(serde_json::Value::Null) => Err(FieldError::NotAString("null")),
            Some(serde_json::Value::Bool(_)) => Err(FieldError::NotAString("a boolean")),
            Some(serde_json::Value::Number(_)) => Err(FieldError::NotAString("a number")),
            Some(serde_json::Value::Array(_)) => Err(FieldError::NotAString("an array")),
            Some(serde_json::Value::Object(_)) => Err(FieldError::NotAString("an object")),
            None => Err(FieldError::Missing),
        }
    }

    fn check(line: &str) -> Result<String, FieldError> {
        let got = text_field(line, "text").map(Cow::into_owned);
        assert_eq!(got, reference(line, "text"), "{line}");
        got
    }

    #[test]
    fn a_plain_text_is_borrowed_from_the_line() {
        let line = r#"{"id": 7, "text": "hello world", "meta": {"a": [1, 2, {"text": 3}]}}"#;
        assert!(matches!(
            text_field(line, "text"),
            Ok(Cow::Borrowed("hello world"))
        ));
        assert_eq!(check(line).unwrap(), "hello world");
    }

    #[test]
    fn escapes_and_unicode_are_decoded() {
        assert_eq!(
            check(r#"{"text": "a\nb\t\"c\"\\ \u00e9 \ud83d\ude00 é 😀"}"#).unwrap(),
            "a\nb\t\"c\"\\ é 😀 é 😀"
        );
        // A key written with escapes is still the field.
        assert_eq!(check(r#"{"te\u0078t": "x"}"#).unwrap(), "x");
        assert_eq!(check(r#"{"text": ""}"#).unwrap(), "");
    }

    #[test]
    fn the_last_of_duplicate_keys_wins() {
        assert_eq!(
            check(r#"{"text": "first", "text": "last"}"#).unwrap(),
            "last"
        );
        assert_eq!(
            check(r#"{"text": "a string", "text": 3}"#),
            Err(FieldError::NotAString("a number"))
        );
        assert_eq!(check(r#"{"text": null, "text": "late"}"#).unwrap(), "late");
    }

    #[test]
    fn other_kinds_are_named() {
        for (value, kind) in [
            ("null", "null"),
            ("true", "a boolean"),
            ("-1.5e3", "a number"),
            ("18446744073709551615", "a number"),
            ("[\"a\", [1]]", "an array"),
            ("{\"text\": \"inner\"}", "an object"),
        ] {
            let line = format!("{{\"text\": {value}}}");
            assert_eq!(check(&line), Err(FieldError::NotAString(kind)), "{line}");
        }
    }

    #[test]
    fn lines_without_the_field_have_none() {
        for line in [
            r#"{"body": "x"}"#,
            "{}",
            r#"["text", "x"]"#,
            r#""text""#,
            "3",
            "null",
            r#"{"Text": "x", "texts": "y"}"#,
        ] {
            assert_eq!(check(line), Err(FieldError::Missing), "{line}");
        }
    }

    #[test]
    fn malformed_lines_are_refused_with_the_parser_message() {
        for line in [
            "{nope",
            r#"{"text": "x"} trailing"#,
            r#"{"text": "x",}"#,
            r#"{"text": "unterminated}"#,
            r#"{"other": [1, 2, "text": "x"}"#,
            r#"{"other": tru, "text": "x"}"#,
            "{\"text\": \"a\tcontrol character\"}",
            r#"{"text": "\q bad escape"}"#,
            r#"{"text": "\ud800 lone surrogate"}"#,
            r#"{"other": "\x", "text": "y"}"#,
            "",
        ] {
            let got = text_field(line, "text");
            assert!(
                matches!(got, Err(FieldError::Malformed(_))),
                "{line}: {got:?}"
            );
            assert_eq!(got.map(Cow::into_owned), reference(line, "text"), "{line}");
        }
    }

    #[test]
    fn a_lone_surrogate_in_a_skipped_field_is_not_decoded() {
        let line = r#"{"other": "\ud800", "text": "y"}"#;
        assert_eq!(text_field(line, "text").unwrap(), "y");
        assert!(reference(line, "text").is_err());
    }

    #[test]
    fn another_field_name_is_read_the_same_way() {
        let line = r#"{"text": "no", "content": "yes \"quoted\""}"#;
        assert_eq!(text_field(line, "content").unwrap(), "yes \"quoted\"");
        assert_eq!(
            text_field(line, "content").map(Cow::into_owned),
            reference(line, "content")
        );
    }
}

//! The text field of one JSONL record, read without building the record as a
//! `serde_json::Value`: other fields are skipped as they are parsed (still validated, so a
//! malformed line is refused as before), a text without escapes is borrowed from the line
//! instead of copied, and one with escapes is decoded into a buffer the caller reuses.
//!
//! Lines of the usual shape are read in one pass by [`crate::json_scan`]; serde_json reads
//! the others, and is the reference for both.
//!
//! The result is what `Value::get(field)` on the parsed line would give: the last of
//! duplicate keys wins, a line that is not an object has no field, and a field that is not a
//! string is named by its kind. One difference: skipped values are checked as JSON syntax
//! but not decoded, so a lone UTF-16 surrogate escape (`"\ud800"`) in another field, which
//! a `Value` refuses, passes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json::{Borrowed, StrOrKind};
use crate::json_scan::{Scanned, scan};

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

/// The string of `field` in the JSON object `line`, borrowed from the line or decoded into
/// `scratch`.
pub(crate) fn text_field<'a>(
    line: &'a str,
    field: &str,
    scratch: &'a mut String,
) -> Result<&'a str, FieldError> {
    match scan(line, field, scratch) {
        Some(Scanned::Borrowed(start, end)) => Ok(&line[start..end]),
        Some(Scanned::Decoded) => Ok(scratch),
        Some(Scanned::Missing) => Err(FieldError::Missing),
        None => decoded_field(line, field, scratch),
    }
}

/// [`text_field`] as serde_json reads it.
fn decoded_field<'a>(
    line: &'a str,
    field: &str,
    scratch: &'a mut String,
) -> Result<&'a str, FieldError> {
    let mut parser = serde_json::Deserializer::from_str(line);
    let found = parser
        .deserialize_any(Record { field })
        .and_then(|found| parser.end().map(|()| found))
        .map_err(|e| FieldError::Malformed(e.to_string()))?;
    match found {
        Some(StrOrKind::Str(Cow::Borrowed(text))) => Ok(text),
        Some(StrOrKind::Str(Cow::Owned(text))) => {
            *scratch = text;
            Ok(scratch)
        }
        Some(StrOrKind::Other(kind)) => Err(FieldError::NotAString(kind)),
        None => Err(FieldError::Missing),
    }
}

/// The top-level value: the last value of `field` if it is an object that has one.
struct Record<'f> {
    field: &'f str,
}

impl<'de> Visitor<'de> for Record<'_> {
    type Value = Option<StrOrKind<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Borrowed(key)) = map.next_key()? {
            if key == self.field {
                found = Some(map.next_value()?);
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

    fn field(line: &str, name: &str) -> Result<String, FieldError> {
        let mut scratch = String::from("left over from an earlier line");
        text_field(line, name, &mut scratch).map(str::to_owned)
    }

    fn check(line: &str) -> Result<String, FieldError> {
        let got = field(line, "text");
        assert_eq!(got, reference(line, "text"), "{line}");
        got
    }

    /// JSON strings as serde_json writes them, with escapes (a few of them malformed) and
    /// raw characters put in.
    fn string() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let good_escape = prop::sample::select(vec![
            "\\n",
            "\\t",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\r",
            "\\u00e9",
            "\\u0000",
            "\\ud83d\\ude00",
            "é",
            "😀",
        ]);
        let bad_escape = prop::sample::select(vec![
            "\\ud800",
            "\\udc00x",
            "\\ud800\\u0041",
            "\\x",
            "\\u12",
            "\t",
        ]);
        let insert = prop_oneof![6 => good_escape, 1 => bad_escape];
        let text = prop_oneof![3 => "[ -~é😀\n\t]{0,12}", 1 => any::<String>()];
        (
            text,
            prop::collection::vec((any::<prop::sample::Index>(), insert), 0..3),
        )
            .prop_map(|(text, inserts)| {
                let mut written = serde_json::to_string(&text).unwrap();
                for (at, escape) in inserts {
                    // Between the quotes, at a character boundary.
                    let bounds: Vec<usize> = written
                        .char_indices()
                        .map(|(i, _)| i)
                        .filter(|&i| i > 0)
                        .collect();
                    written.insert_str(*at.get(&bounds), escape);
                }
                written
            })
    }

    /// JSON-like values: mostly well-formed, with escapes, odd numbers and malformed pieces
    /// mixed in.
    fn value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let string = string();
        let number = prop_oneof![
            6 => prop::sample::select(vec![
                "0", "-0", "12", "-3.25", "1e9", "2E-3", "6.02e+23", "18446744073709551616", "1e400",
            ]),
            2 => prop::sample::select(vec!["01", "1.", "-", ".5", "1e", "+1", "0x1", "1.e3"]),
        ]
        .prop_map(str::to_owned);
        let literal = prop::sample::select(vec!["true", "false", "null", "true", "nul", "True"]);
        let leaf = prop_oneof![
            6 => string,
            2 => number,
            1 => literal.prop_map(str::to_owned),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((key(), inner), 0..4).prop_map(|pairs| {
                    let pairs: Vec<String> = pairs
                        .into_iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect();
                    format!("{{{}}}", pairs.join(","))
                }),
            ]
        })
    }

    fn key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop::sample::select(vec![
            "\"text\"",
            "\"text\"",
            "\"text\"",
            "\"source\"",
            "\"source\"",
            "\"id\"",
            "\"te\\u0078t\"",
            "\"Text\"",
            "\"\"",
            "text",
        ])
        .prop_map(str::to_owned)
    }

    /// Lines of a few fields, most with a text, some of them then damaged by one edit.
    fn line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let pairs = prop::collection::vec((key(), value()), 0..3);
        let text = prop::option::weighted(0.8, (any::<prop::sample::Index>(), string()));
        let object = (pairs, text).prop_map(|(pairs, text)| {
            let mut pairs: Vec<String> = pairs
                .into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            if let Some((at, text)) = text {
                let at = at.index(pairs.len() + 1);
                pairs.insert(at, format!("\"text\": {text}"));
            }
            format!(" {{{}}}\t", pairs.join(", "))
        });
        let edit =
            prop::option::weighted(0.2, (any::<prop::sample::Index>(), any::<char>(), 0..3u8));
        (object, edit).prop_map(|(mut line, edit)| {
            if let Some((at, c, how)) = edit {
                let bounds: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
                let at = *at.get(&bounds);
                match how {
                    0 => {
                        line.remove(at);
                    }
                    1 => line.insert(at, c),
                    _ => line.insert(at, ','),
                }
            }
            line
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        /// Where the one-pass scan answers, serde_json's reading gives the same; where it
        /// does not, serde_json's answer is the one returned.
        #[test]
        fn the_scan_agrees_with_serde_wherever_it_answers(line in line()) {
            let mut scratch = String::new();
            let serde = decoded_field(&line, "text", &mut scratch).map(str::to_owned);
            let mut scratch = String::new();
            if let Some(scanned) = scan(&line, "text", &mut scratch) {
                let text = match scanned {
                    Scanned::Borrowed(start, end) => Ok(line[start..end].to_owned()),
                    Scanned::Decoded => Ok(scratch.clone()),
                    Scanned::Missing => Err(FieldError::Missing),
                };
                proptest::prop_assert_eq!(&text, &serde, "{}", line);
            }
            proptest::prop_assert_eq!(field(&line, "text"), serde);
        }
    }

    #[test]
    fn a_plain_text_is_borrowed_from_the_line() {
        let line = r#"{"id": 7, "text": "hello world", "meta": {"a": [1, 2, {"text": 3}]}}"#;
        let mut scratch = String::new();
        let text = text_field(line, "text", &mut scratch).unwrap();
        assert_eq!(text, "hello world");
        assert!(line.as_bytes().as_ptr_range().contains(&text.as_ptr()));
        assert_eq!(check(line).unwrap(), "hello world");
    }

    proptest::proptest! {
        /// Any text, written by serde_json or with every character as a \u escape (pairs
        /// for those beyond the BMP), reads back as itself.
        #[test]
        fn any_text_reads_back_as_written(text in "\\PC*|[\\x00-\\x7f]*", all_escaped: bool) {
            let written = if all_escaped {
                let units: String = text
                    .encode_utf16()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect();
                format!("{{\"text\": \"{units}\"}}")
            } else {
                serde_json::json!({ "id": 1, "text": text }).to_string()
            };
            proptest::prop_assert_eq!(check(&written), Ok(text));
        }
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
            let got = field(line, "text");
            assert!(
                matches!(got, Err(FieldError::Malformed(_))),
                "{line}: {got:?}"
            );
            assert_eq!(got, reference(line, "text"), "{line}");
        }
    }

    #[test]
    fn a_lone_surrogate_in_a_skipped_field_is_not_decoded() {
        let line = r#"{"other": "\ud800", "text": "y"}"#;
        assert_eq!(field(line, "text").unwrap(), "y");
        assert!(reference(line, "text").is_err());
    }

    #[test]
    fn another_field_name_is_read_the_same_way() {
        let line = r#"{"text": "no", "content": "yes \"quoted\""}"#;
        assert_eq!(field(line, "content").unwrap(), "yes \"quoted\"");
        assert_eq!(field(line, "content"), reference(line, "content"));
    }
}

//! Records as a chat template reads them: JSON as template values, objects keeping their
//! keys' order (as `json.loads` and HF hand them to the template).
//!
//! A JSONL line is parsed straight into these values: a serde_json tree in between cost a
//! second copy of every string and a hashed map per object, a third of what a conversation
//! costs before rendering. Records from elsewhere (Arrow rows, Python objects) come as
//! serde_json values and are converted by [`from_json`]; both give the same value.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectExt, Value, ValueKind};
use rustc_hash::FxHashMap;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use crate::json_scan::{MAX_DEPTH, Scanned, Scanner};

/// A JSON object: its keys in order, each once. Records, messages and what they hold have a
/// handful of keys, found sooner by comparing them in turn than by hashing; an object with
/// more (a tool's parameter schema, or a hostile record) is indexed, so that neither reading
/// it nor a key given twice costs the square of its keys. The template sees a map, as it
/// would see a `dict`.
#[derive(Debug, Default)]
pub struct JsonObject {
    pairs: Vec<(Value, Value)>,
    /// Each key's place in `pairs`, once there are more than [`COMPARED`] keys.
    index: Option<FxHashMap<Value, usize>>,
}

/// Objects of up to this many keys are searched in turn.
const COMPARED: usize = 16;

impl JsonObject {
    pub fn with_capacity(capacity: usize) -> JsonObject {
        JsonObject {
            pairs: Vec::with_capacity(capacity),
            index: None,
        }
    }

    /// The value of `key`, if the object has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.place(key).map(|at| &self.pairs[at].1)
    }

    /// Where `key` is in `pairs`. Keys are compared as strings, not through the template
    /// engine's equality of values, which looks at their kinds first: the templates look
    /// up a message's fields several times each.
    fn place(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&Value::from(key)).copied(),
            None => self.pairs.iter().position(|(k, _)| k.as_str() == Some(key)),
        }
    }

    /// Sets `key`: a key already there keeps its place and takes the new value (as a `dict`
    /// does, and as JSON parsers read a key given twice).
    pub fn set(&mut self, key: Value, value: Value) {
        match key.as_str().and_then(|key| self.place(key)) {
            Some(at) => self.pairs[at].1 = value,
            None => self.push(key, value),
        }
    }

    /// Adds `key`, known not to be there yet.
    pub fn push(&mut self, key: Value, value: Value) {
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.pairs.len());
        }
        self.pairs.push((key, value));
        if self.index.is_none() && self.pairs.len() > COMPARED {
            let places = self
                .pairs
                .iter()
                .enumerate()
                .map(|(at, (k, _))| (k.clone(), at));
            self.index = Some(places.collect());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.pairs.iter().map(|(key, value)| (key, value))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `pairs` as an object: a key given twice keeps its first place and its last value.
    fn from_pairs(pairs: Vec<(Value, Value)>) -> JsonObject {
        let mut object = JsonObject::with_capacity(pairs.len());
        for (key, value) in pairs {
            object.set(key, value);
        }
        object
    }

    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl Object for JsonObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get(key.as_str()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_rev_key_value_enumerator(|this| {
            Box::new(this.pairs.iter().map(|(k, v)| (k.clone(), v.clone())))
        })
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.pairs.len())
    }
}

/// The object `value` is, if it is one made here.
pub fn object(value: &Value) -> Option<&JsonObject> {
    value.downcast_object_ref::<JsonObject>()
}

/// The items of a list made here.
pub fn list(value: &Value) -> Option<&[Value]> {
    value.downcast_object_ref::<Vec<Value>>().map(Vec::as_slice)
}

/// A serde_json value as a template value.
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::from(()),
        Json::Bool(flag) => Value::from(*flag),
        Json::Number(number) => {
            if let Some(integer) = number.as_i64() {
                Value::from(integer)
            } else if let Some(integer) = number.as_u64() {
                Value::from(integer)
            } else {
                Value::from(number.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(text) => Value::from(text.as_str()),
        Json::Array(items) => items.iter().map(from_json).collect(),
        Json::Object(map) => JsonObject::from_pairs(
            map.iter()
                .map(|(key, item)| (Value::from(key.as_str()), from_json(item)))
                .collect(),
        )
        .into_value(),
    }
}

/// A JSON text (one JSONL line) as a template value; a syntax error as serde_json gives it.
pub fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    // A line of the usual shape is read in one pass, its strings found sixteen bytes at a
    // time (serde_json's own reading was a twelfth of what a conversation costs); serde_json
    // reads the rest and is the reference. A line checked once as UTF-8 is read without
    // checking each string again; one that is not is read as bytes, for serde_json's error
    // naming where.
    match std::str::from_utf8(text) {
        Ok(text) => match scanned(text) {
            Some(value) => Ok(value),
            None => read(serde_json::Deserializer::from_str(text)),
        },
        Err(_) => read(serde_json::Deserializer::from_slice(text)),
    }
}

/// `line` as [`parse`] reads it, in one pass; `None` where serde_json must decide (anything
/// unusual, a malformed line included).
fn scanned(line: &str) -> Option<Value> {
    let mut scanner = Scanner::new(line);
    let mut scratch = String::new();
    scanner.skip_space();
    let value = scanned_value(&mut scanner, line, &mut scratch, 0)?;
    scanner.skip_space();
    scanner.at_end().then_some(value)
}

fn scanned_value(
    scanner: &mut Scanner<'_>,
    line: &str,
    scratch: &mut String,
    depth: usize,
) -> Option<Value> {
    Some(match scanner.peek()? {
        b'"' => match scanner.text(line, scratch)? {
            Scanned::Borrowed(start, end) => Value::from(&line[start..end]),
            Scanned::Decoded => Value::from(scratch.as_str()),
            Scanned::Missing => return None,
        },
        b'{' | b'[' if depth >= MAX_DEPTH => return None,
        b'{' => {
            let mut object = JsonObject::with_capacity(4);
            scanner.entries(b'}', |scanner| {
                let key = scanner.plain_str(line)?;
                scanner.skip_space();
                scanner.expect(b':')?;
                scanner.skip_space();
                let value = scanned_value(scanner, line, scratch, depth + 1)?;
                object.set(Value::from(key), value);
                Some(())
            })?;
            object.into_value()
        }
        b'[' => {
            let mut items = Vec::new();
            scanner.entries(b']', |scanner| {
                items.push(scanned_value(scanner, line, scratch, depth + 1)?);
                Some(())
            })?;
            Value::from(items)
        }
        b't' => scanner.literal(b"true").map(|()| Value::from(true))?,
        b'f' => scanner.literal(b"false").map(|()| Value::from(false))?,
        b'n' => scanner.literal(b"null").map(|()| Value::from(()))?,
        _ => {
            let (start, end) = scanner.number()?;
            scanned_number(&line[start..end])?
        }
    })
}

/// A number as serde_json gives it to [`Build`]: digits alone that fit in 64 bits as an
/// integer (signed where it fits); any other (a sign, a fraction, an exponent, more digits)
/// as serde_json reads that number.
fn scanned_number(text: &str) -> Option<Value> {
    if text.bytes().all(|b| b.is_ascii_digit())
        && let Ok(integer) = text.parse::<u64>()
    {
        return Some(i64::try_from(integer).map_or_else(|_| Value::from(integer), Value::from));
    }
    serde_json::from_str::<Json>(text)
        .ok()
        .map(|number| from_json(&number))
}

fn read<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<Value, serde_json::Error> {
    let value = Build.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Builds template values from what serde_json reads, as [`from_json`] converts them.
#[derive(Clone, Copy)]
struct Build;

impl<'de> DeserializeSeed<'de> for Build {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::from(flag))
    }

    fn visit_i64<E>(self, integer: i64) -> Result<Value, E> {
        Ok(Value::from(integer))
    }

    fn visit_u64<E>(self, integer: u64) -> Result<Value, E> {
        // As serde_json's `as_i64` first: an integer that fits is signed.
        Ok(i64::try_from(integer).map_or_else(|_| Value::from(integer), Value::from))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Value, E> {
        Ok(Value::from(number))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::from(text))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::from(()))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::from(()))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::from(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = JsonObject::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(key) = map.next_key_seed(self)? {
            let value = map.next_value_seed(self)?;
            object.set(key, value);
        }
        Ok(object.into_value())
    }
}

/// What kind of JSON value `value` is, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::None | ValueKind::Undefined => "null",
        ValueKind::Bool => "a boolean",
        ValueKind::Number => "a number",
        ValueKind::String => "a string",
        ValueKind::Seq => "an array",
        ValueKind::Map => "an object",
        _ => "a value",
    }
}

/// The bytes of every string in a record (not its keys): its text.
pub fn text_bytes(value: &Value) -> usize {
    match value.kind() {
        ValueKind::String => value.as_str().map_or(0, str::len),
        ValueKind::Seq => list(value).map_or(0, |items| items.iter().map(text_bytes).sum()),
        ValueKind::Map => object(value).map_or(0, |object| {
            object.iter().map(|(_, item)| text_bytes(item)).sum()
        }),
        _ => 0,
    }
}

/// Short JSON text of a value for an error message, cut at 60 characters.
pub fn short(value: &Value) -> String {
    let text = super::pyjson::compact(value);
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::from),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            (-1e9f64..1e9).prop_map(Json::from),
            "[a-c\"\\\\\u{e9}\u{1F600}\n]{0,30}".prop_map(Json::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::vec(("[a-d]{1,2}", inner), 0..6)
                    .prop_map(|pairs| Json::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// The same structure, kinds and order, compared through minijinja's own equality
    /// plus the keys' order (which equality of maps does not look at).
    fn same(a: &Value, b: &Value) -> bool {
        match (object(a), object(b)) {
            (Some(x), Some(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
            }
            (None, None) if a.kind() == ValueKind::Seq && b.kind() == ValueKind::Seq => {
                let (xs, ys): (Vec<Value>, Vec<Value>) = (
                    a.try_iter().unwrap().collect(),
                    b.try_iter().unwrap().collect(),
                );
                xs.len() == ys.len() && xs.iter().zip(&ys).all(|(x, y)| same(x, y))
            }
            (None, None) => a.kind() == b.kind() && a == b,
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn parsing_a_line_gives_the_converted_value(json in json()) {
            let text = serde_json::to_vec(&json).unwrap();
            // Read back by serde_json, as it reads records from elsewhere (its floats need
            // not round-trip).
            let json: Json = serde_json::from_slice(&text).unwrap();
            let parsed = parse(&text).unwrap();
            prop_assert!(same(&parsed, &from_json(&json)), "{parsed:?} != {:?}", from_json(&json));
            prop_assert_eq!(text_bytes(&parsed), json_text_bytes(&json));
        }
    }

    proptest! {
        /// Every line, valid or made invalid by a cut, a changed byte or an added one, read in
        /// one pass gives the value serde_json reads, or is left to serde_json.
        #[test]
        fn one_pass_reads_what_serde_json_reads(
            json in json(),
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![any::<u8>(), prop::sample::select(b"{}[]\",:\\-0.eE \t".to_vec())],
            change in 0..4u8,
        ) {
            let mut text = serde_json::to_vec(&json).unwrap();
            match change {
                0 => text.truncate(at.index(text.len() + 1)),
                1 if !text.is_empty() => {
                    let i = at.index(text.len());
                    text[i] = byte;
                }
                2 => text.insert(at.index(text.len() + 1), byte),
                _ => {}
            }
            if let Ok(line) = std::str::from_utf8(&text) {
                let theirs = read(serde_json::Deserializer::from_str(line));
                match (scanned(line), theirs) {
                    (Some(ours), Ok(theirs)) => prop_assert!(same(&ours, &theirs), "{line}"),
                    (Some(ours), Err(error)) => {
                        prop_assert!(false, "{line}: read as {ours:?}, refused by serde_json: {error}")
                    }
                    (None, _) => {}
                }
            }
        }
    }

    #[test]
    fn a_conversation_is_read_in_one_pass() {
        let line = r#"{"messages": [{"role": "user", "content": "caf\u00e9 \"q\"\n"},
            {"role": "assistant", "content": "SELECT 1;", "weight": 1, "train": true}],
            "tools": null, "source": "x"}"#;
        let value = scanned(line).expect("the usual shape is read in one pass");
        assert!(same(
            &value,
            &read(serde_json::Deserializer::from_str(line)).unwrap()
        ));
        // Numbers other than plain digits are read by serde_json, in place.
        let line = r#"{"w": [0.5, -3, 1e2, -0, 18446744073709551615, 18446744073709551616]}"#;
        let value = scanned(line).unwrap();
        assert!(same(
            &value,
            &read(serde_json::Deserializer::from_str(line)).unwrap()
        ));
    }

    fn json_text_bytes(json: &Json) -> usize {
        match json {
            Json::String(text) => text.len(),
            Json::Array(items) => items.iter().map(json_text_bytes).sum(),
            Json::Object(map) => map.values().map(json_text_bytes).sum(),
            _ => 0,
        }
    }

    #[test]
    fn a_key_given_twice_keeps_its_first_place_and_last_value() {
        let parsed = parse(br#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        let expected = from_json(&serde_json::from_str(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap());
        assert!(same(&parsed, &expected));
        let fields = object(&parsed).unwrap();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(fields.get("a"), Some(&Value::from(3)));
        let many: String = (0..40).map(|i| format!("\"k{}\": {i},", i % 30)).collect();
        let parsed = parse(format!("{{{}\"z\": 0}}", many).as_bytes()).unwrap();
        assert_eq!(object(&parsed).unwrap().len(), 31);
        assert_eq!(object(&parsed).unwrap().get("k5"), Some(&Value::from(35)));
    }

    #[test]
    fn an_object_finds_its_keys_before_and_after_it_is_indexed() {
        let mut fields = JsonObject::with_capacity(0);
        for i in 0..40 {
            let key = Value::from(format!("key {i} of a schema with long names"));
            fields.push(key.clone(), Value::from(i));
            fields.set(key, Value::from(i + 100));
            let keys = fields.iter().map(|(k, _)| k.as_str().unwrap().to_owned());
            let wanted = (0..=i).map(|j| format!("key {j} of a schema with long names"));
            assert!(keys.eq(wanted), "order after {i}");
            for j in 0..=i {
                let key = format!("key {j} of a schema with long names");
                assert_eq!(fields.get(&key), Some(&Value::from(j + 100)), "{j} of {i}");
            }
            assert_eq!(fields.get("key 99"), None);
        }
        let object = fields.into_value();
        assert_eq!(
            object
                .get_item(&Value::from("key 30 of a schema with long names"))
                .unwrap(),
            Value::from(130)
        );
        assert!(object.get_item(&Value::from(30)).unwrap().is_undefined());
    }

    #[test]
    fn malformed_lines_are_refused_as_serde_json_refuses_them() {
        let not_utf8 = b"{\"a\": \"caf\xe9\"}";
        let lone_surrogate = b"[\"\\ud800\"]";
        for bad in [
            &b"{\"a\": 1"[..],
            b"{\"a\": 1} x",
            b"[1,]",
            b"\"\\x\"",
            not_utf8,
            lone_surrogate,
        ] {
            let ours = parse(bad).unwrap_err().to_string();
            let theirs = serde_json::from_slice::<Json>(bad).unwrap_err().to_string();
            assert_eq!(ours, theirs);
        }
    }
}

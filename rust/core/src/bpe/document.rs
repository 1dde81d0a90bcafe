//! A `tokenizer.json` as it is parsed: the model's vocabulary and merges straight into
//! vectors, everything else as `serde_json::Value`s for [`super::load`] to check field by
//! field.
//!
//! As a `Value`, a 32k vocabulary is a B-tree of 32k boxed values that is then copied into
//! a hash map: parsing that way took most of a tokenizer's load time (25 of 57 ms, measured
//! on a 32k GPT-2-style file). Each part here is what the whole-`Value` parse would give for
//! it (duplicate keys: the last wins), or, where it has the wrong type, the kind of value it
//! holds for the error message.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A part of the document, or the kind of value found where an object or a list belongs.
pub(crate) enum Part<T> {
    Found(T),
    Wrong(&'static str),
}

pub(crate) struct Document {
    /// The top-level fields but `model`.
    pub(crate) fields: Map<String, Value>,
    pub(crate) model: Option<Part<ModelFields>>,
}

pub(crate) struct ModelFields {
    /// The model's fields but `vocab` and `merges`.
    pub(crate) fields: Map<String, Value>,
    /// `(token, id)` in file order; an id is checked by the caller.
    pub(crate) vocab: Option<Part<Vec<(String, Value)>>>,
    pub(crate) merges: Option<Part<Vec<Value>>>,
}

/// Parses the document; `Err` is serde_json's message.
pub(crate) fn parse(json: &str) -> Result<Part<Document>, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// Implements the visitor methods of every JSON value that is not the expected one, each
/// giving the kind of value it met.
macro_rules! wrong_kinds {
    ($value:ty; $($skip:ident)*) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$value, E> {
            Ok(Part::Wrong("a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$value, E> {
            Ok(Part::Wrong("a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$value, E> {
            Ok(Part::Wrong("a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$value, E> {
            Ok(Part::Wrong("a number"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$value, E> {
            Ok(Part::Wrong("a string"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
            Ok(Part::Wrong("null"))
        }
        $(wrong_kinds!(@$skip $value);)*
    };
    (@seq $value:ty) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<$value, A::Error> {
            IgnoredAny.visit_seq(seq)?;
            Ok(Part::Wrong("a list"))
        }
    };
    (@map $value:ty) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$value, A::Error> {
            IgnoredAny.visit_map(map)?;
            Ok(Part::Wrong("an object"))
        }
    };
}

/// Deserializes a `Part<T>` with the visitor `$visitor`, which reads the expected value.
macro_rules! part_of {
    ($t:ty, $visitor:ident) => {
        impl<'de> Deserialize<'de> for Part<$t> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any($visitor)
            }
        }
    };
}

struct DocumentVisitor;
part_of!(Document, DocumentVisitor);

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Part<Document>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tokenizer.json document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut document = Document {
            fields: Map::new(),
            model: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == "model" {
                document.model = Some(map.next_value()?);
            } else {
                document.fields.insert(key, map.next_value()?);
            }
        }
        Ok(Part::Found(document))
    }

    wrong_kinds!(Part<Document>; seq);
}

struct ModelVisitor;
part_of!(ModelFields, ModelVisitor);

impl<'de> Visitor<'de> for ModelVisitor {
    type Value = Part<ModelFields>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a model")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut model = ModelFields {
            fields: Map::new(),
            vocab: None,
            merges: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "vocab" => model.vocab = Some(map.next_value()?),
                "merges" => model.merges = Some(map.next_value()?),
                _ => {
                    model.fields.insert(key, map.next_value()?);
                }
            }
        }
        Ok(Part::Found(model))
    }

    wrong_kinds!(Part<ModelFields>; seq);
}

struct VocabVisitor;
part_of!(Vec<(String, Value)>, VocabVisitor);

impl<'de> Visitor<'de> for VocabVisitor {
    type Value = Part<Vec<(String, Value)>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a vocabulary")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Part::Found(entries))
    }

    wrong_kinds!(Part<Vec<(String, Value)>>; seq);
}

struct MergesVisitor;
part_of!(Vec<Value>, MergesVisitor);

impl<'de> Visitor<'de> for MergesVisitor {
    type Value = Part<Vec<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of merges")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut merges = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(merge) = seq.next_element()? {
            merges.push(merge);
        }
        Ok(Part::Found(merges))
    }

    wrong_kinds!(Part<Vec<Value>>; map);
}

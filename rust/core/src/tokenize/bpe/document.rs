//! A `tokenizer.json` as it is parsed: the model's vocabulary and merges straight into
//! vectors of strings borrowed from the text, everything else as `serde_json::Value`s for
//! [`super::load`] to check field by field.
//!
//! As a `Value`, a 32k vocabulary is a B-tree of 32k boxed values that is then copied into
//! a hash map: parsing that way took most of a tokenizer's load time (25 of 57 ms, measured
//! on a 32k GPT-2-style file). Tokens and merges are borrowed, not copied into a string each
//! (64k allocations and frees for a 32k vocabulary), unless they hold escapes. Each part here
//! is what the whole-`Value` parse would give for it (duplicate keys: the last wins), or,
//! where it has the wrong type, the kind of value it holds for the error message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::json::{Borrowed, StrOrKind, visit_other_kinds, visit_strings, visitor};

/// A part of the document, or the kind of value found where an object or a list belongs.
pub(crate) enum Part<T> {
    Found(T),
    Wrong(&'static str),
}

#[derive(Default)]
pub(crate) struct Document<'a> {
    /// The top-level fields but `model`.
    pub(crate) fields: Map<String, Value>,
    pub(crate) model: Option<Part<ModelFields<'a>>>,
}

#[derive(Default)]
pub(crate) struct ModelFields<'a> {
    /// The model's fields but `vocab` and `merges`.
    pub(crate) fields: Map<String, Value>,
    pub(crate) vocab: Option<Part<Vec<VocabEntry<'a>>>>,
    pub(crate) merges: Option<Part<Vec<Merge<'a>>>>,
}

/// `(token, id)`, in file order; an id is checked by the caller.
pub(crate) type VocabEntry<'a> = (Cow<'a, str>, Value);

/// One entry of `merges`.
pub(crate) enum Merge<'a> {
    /// `"left right"`, as written.
    Joined(Cow<'a, str>),
    /// `["left", "right"]`.
    Pair(Cow<'a, str>, Cow<'a, str>),
    /// A list that is not two strings.
    NotAPair,
    /// Another kind of value, by name.
    Wrong(&'static str),
}

/// Parses the document; `Err` is serde_json's message.
pub(crate) fn parse(json: &str) -> Result<Part<Document<'_>>, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

visitor! {
    DocumentVisitor: Part<Document<'de>>, deserialize_any, "a tokenizer.json document";

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut document = Document::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "model" {
                document.model = Some(map.next_value()?);
            } else {
                document.fields.insert(key, map.next_value()?);
            }
        }
        Ok(Part::Found(document))
    }

    visit_other_kinds!(Part<Document<'de>>, Part::Wrong; bool, number, str, unit, seq = "a list");
}

visitor! {
    ModelVisitor: Part<ModelFields<'de>>, deserialize_any, "a model";

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut model = ModelFields::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "vocab" => model.vocab = Some(map.next_value::<Part<Vocab>>()?.map(|v| v.0)),
                "merges" => model.merges = Some(map.next_value::<Part<Merges>>()?.map(|m| m.0)),
                _ => {
                    model.fields.insert(key, map.next_value()?);
                }
            }
        }
        Ok(Part::Found(model))
    }

    visit_other_kinds!(Part<ModelFields<'de>>, Part::Wrong; bool, number, str, unit, seq = "a list");
}

impl<T> Part<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Part<U> {
        match self {
            Part::Found(value) => Part::Found(f(value)),
            Part::Wrong(kind) => Part::Wrong(kind),
        }
    }
}

struct Vocab<'a>(Vec<VocabEntry<'a>>);

visitor! {
    VocabVisitor: Part<Vocab<'de>>, deserialize_any, "a vocabulary";

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Borrowed(token)) = map.next_key()? {
            entries.push((token, map.next_value()?));
        }
        Ok(Part::Found(Vocab(entries)))
    }

    visit_other_kinds!(Part<Vocab<'de>>, Part::Wrong; bool, number, str, unit, seq = "a list");
}

struct Merges<'a>(Vec<Merge<'a>>);

visitor! {
    MergesVisitor: Part<Merges<'de>>, deserialize_any, "a list of merges";

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut merges = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(merge) = seq.next_element()? {
            merges.push(merge);
        }
        Ok(Part::Found(Merges(merges)))
    }

    visit_other_kinds!(Part<Merges<'de>>, Part::Wrong; bool, number, str, unit, map);
}

visitor! {
    MergeVisitor: Merge<'de>, deserialize_any, "a merge";

    visit_strings!(Merge<'de>, Merge::Joined);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let left = seq.next_element::<StrOrKind>()?;
        let right = seq.next_element::<StrOrKind>()?;
        let mut more = false;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            more = true;
        }
        Ok(match (left, right, more) {
            (Some(StrOrKind::Str(left)), Some(StrOrKind::Str(right)), false) => {
                Merge::Pair(left, right)
            }
            _ => Merge::NotAPair,
        })
    }

    visit_other_kinds!(Merge<'de>, Merge::Wrong; map, bool, number, unit);
}

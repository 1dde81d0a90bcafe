//! Token strings (as `tokenizer.json` spells them) and ids, both ways, for `token_to_id`,
//! `id_to_token` and decoding.
//!
//! The strings and decoded bytes of all ids live in two buffers, each id holding a span of
//! them, and the map from a model token to its id holds only ids, looked up through those
//! spans: one allocation per table instead of one per token keeps loading a vocabulary
//! cheap.

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::bytes;

pub(crate) struct Vocab {
    /// The model's token strings by id.
    strings: Spans,
    /// The model's ids, found by their token strings in `strings`.
    ids: HashTable<u32>,
    /// Ids found by their strings outside `ids`: the added tokens, which take precedence
    /// over the model's for the same content (as in HF), and a model token whose id another
    /// token of the file took over in `strings`.
    other_ids: FxHashMap<String, u32>,
    /// The added tokens' contents by id, which take precedence over the model's strings.
    added_contents: FxHashMap<u32, String>,
    /// What each id decodes to: a model token's bytes, an added token's content.
    decoded: Spans,
    len: u32,
}

impl Vocab {
    /// The model's tokens and ids, then the added tokens' `(content, id)` pairs.
    pub(crate) fn new<'a>(
        model: &FxHashMap<Cow<'_, str>, u32>,
        added: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Self {
        let size = model.values().max().map_or(0, |&id| id as usize + 1);
        let mut vocab = Vocab {
            strings: Spans::with_capacity(size),
            ids: HashTable::with_capacity(model.len()),
            other_ids: FxHashMap::default(),
            added_contents: FxHashMap::default(),
            decoded: Spans::with_capacity(size),
            len: size as u32,
        };
        let mut decoded = Vec::new();
        for (token, &id) in model {
            // The ByteLevel decoder's rule: a token of byte characters is those bytes;
            // anything else (never produced by merges) is its own UTF-8.
            decoded.clear();
            let bytes = if bytes::append_token_bytes(token, &mut decoded) {
                &decoded[..]
            } else {
                token.as_bytes()
            };
            if let Some(earlier) = vocab.strings.get(id) {
                // The id's entry in `ids` is hashed by the earlier token's string but would
                // now compare with this one's: both are found outside it.
                let earlier = String::from_utf8(earlier.to_vec()).expect("tokens are UTF-8");
                vocab.other_ids.insert(earlier, id);
                vocab.other_ids.insert(token.to_string(), id);
            } else {
                let strings = &vocab.strings;
                vocab.ids.insert_unique(hash(token.as_bytes()), id, |&id| {
                    hash(strings.get(id).unwrap_or_default())
                });
            }
            vocab.strings.set(id, token.as_bytes());
            vocab.decoded.set(id, bytes);
        }
        for (content, id) in added {
            vocab.decoded.set(id, content.as_bytes());
            vocab.other_ids.insert(content.to_owned(), id);
            vocab.added_contents.insert(id, content.to_owned());
            vocab.len = vocab.len.max(id + 1);
        }
        vocab
    }

    /// Ids run from 0 to `len() - 1` (with holes if the file has them).
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    pub(crate) fn id(&self, token: &str) -> Option<u32> {
        if let Some(&id) = self.other_ids.get(token) {
            return Some(id);
        }
        let strings = &self.strings;
        self.ids
            .find(hash(token.as_bytes()), |&id| {
                strings.get(id) == Some(token.as_bytes())
            })
            .copied()
    }

    pub(crate) fn token(&self, id: u32) -> Option<&str> {
        if let Some(content) = self.added_contents.get(&id) {
            return Some(content);
        }
        // Only whole `&str`s are stored in `strings`.
        self.strings
            .get(id)
            .map(|b| std::str::from_utf8(b).expect("token strings are UTF-8"))
    }

    pub(crate) fn decoded(&self, id: u32) -> Option<&[u8]> {
        self.decoded.get(id)
    }
}

fn hash(token: &[u8]) -> u64 {
    FxBuildHasher.hash_one(token)
}

/// Byte strings by id, stored end to end.
struct Spans {
    bytes: Vec<u8>,
    /// `(start, end)` in `bytes` per id; `None` for an id without a token.
    spans: Vec<Option<(usize, usize)>>,
}

impl Spans {
    fn with_capacity(ids: usize) -> Self {
        Spans {
            bytes: Vec::with_capacity(ids * 8),
            spans: Vec::with_capacity(ids),
        }
    }

    fn set(&mut self, id: u32, value: &[u8]) {
        let at = id as usize;
        if self.spans.len() <= at {
            self.spans.resize(at + 1, None);
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.spans[at] = Some((start, self.bytes.len()));
    }

    fn get(&self, id: u32) -> Option<&[u8]> {
        let (start, end) = (*self.spans.get(id as usize)?)?;
        Some(&self.bytes[start..end])
    }
}

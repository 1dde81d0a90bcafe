//! Token strings (as `tokenizer.json` spells them) and ids, both ways, for `token_to_id`,
//! `id_to_token` and decoding.
//!
//! The strings and decoded bytes of all ids live in two buffers, each id holding a span of
//! them: one allocation per table instead of one per token keeps loading a vocabulary cheap.

use rustc_hash::FxHashMap;

use super::bytes;

pub(crate) struct Vocab {
    ids: FxHashMap<String, u32>,
    strings: Spans,
    /// What each id decodes to: a model token's bytes, an added token's content.
    decoded: Spans,
}

impl Vocab {
    /// The model's tokens and ids, then the added tokens' `(content, id)` pairs, which take
    /// precedence for the same id or content as in HF.
    pub(crate) fn new<'a>(
        model: FxHashMap<String, u32>,
        added: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Self {
        let size = model.values().max().map_or(0, |&id| id as usize + 1);
        let mut vocab = Vocab {
            strings: Spans::with_capacity(size),
            decoded: Spans::with_capacity(size),
            ids: FxHashMap::default(),
        };
        let mut decoded = Vec::new();
        for (token, &id) in &model {
            // The ByteLevel decoder's rule: a token of byte characters is those bytes;
            // anything else (never produced by merges) is its own UTF-8.
            decoded.clear();
            let bytes = if bytes::append_token_bytes(token, &mut decoded) {
                &decoded[..]
            } else {
                token.as_bytes()
            };
            vocab.strings.set(id, token.as_bytes());
            vocab.decoded.set(id, bytes);
        }
        vocab.ids = model;
        for (content, id) in added {
            vocab.strings.set(id, content.as_bytes());
            vocab.decoded.set(id, content.as_bytes());
            vocab.ids.insert(content.to_owned(), id);
        }
        vocab
    }

    /// Ids run from 0 to `len() - 1` (with holes if the file has them).
    pub(crate) fn len(&self) -> u32 {
        self.strings.len() as u32
    }

    pub(crate) fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    pub(crate) fn token(&self, id: u32) -> Option<&str> {
        // Only whole `&str`s are stored in `strings`.
        self.strings
            .get(id)
            .map(|b| std::str::from_utf8(b).expect("token strings are UTF-8"))
    }

    pub(crate) fn decoded(&self, id: u32) -> Option<&[u8]> {
        self.decoded.get(id)
    }
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

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, id: u32) -> Option<&[u8]> {
        let (start, end) = (*self.spans.get(id as usize)?)?;
        Some(&self.bytes[start..end])
    }
}

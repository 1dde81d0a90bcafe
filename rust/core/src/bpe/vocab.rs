//! Token strings (as `tokenizer.json` spells them) and ids, both ways, for `token_to_id`,
//! `id_to_token` and decoding.

use rustc_hash::FxHashMap;

use super::bytes;

pub(crate) struct Vocab {
    strings: Vec<Option<Box<str>>>,
    ids: FxHashMap<Box<str>, u32>,
    /// What each id decodes to: a model token's bytes, an added token's content.
    decoded: Vec<Option<Box<[u8]>>>,
}

impl Vocab {
    /// The model's `(string, id)` pairs, then the added tokens' `(content, id)` pairs, which
    /// take precedence for the same id or content as in HF.
    pub(crate) fn new<'a>(
        model: impl IntoIterator<Item = (&'a str, u32)>,
        added: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Self {
        let mut vocab = Vocab {
            strings: Vec::new(),
            ids: FxHashMap::default(),
            decoded: Vec::new(),
        };
        for (token, id) in model {
            // The ByteLevel decoder's rule: a token of byte characters is those bytes;
            // anything else (never produced by merges) is its own UTF-8.
            let decoded = bytes::from_token_string(token).unwrap_or_else(|| token.into());
            vocab.set(token, id, decoded);
        }
        for (content, id) in added {
            vocab.set(content, id, content.as_bytes().to_vec());
        }
        vocab
    }

    fn set(&mut self, token: &str, id: u32, decoded: Vec<u8>) {
        let at = id as usize;
        if self.strings.len() <= at {
            self.strings.resize(at + 1, None);
            self.decoded.resize(at + 1, None);
        }
        self.strings[at] = Some(token.into());
        self.decoded[at] = Some(decoded.into());
        self.ids.insert(token.into(), id);
    }

    /// Ids run from 0 to `len() - 1` (with holes if the file has them).
    pub(crate) fn len(&self) -> u32 {
        self.strings.len() as u32
    }

    pub(crate) fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    pub(crate) fn token(&self, id: u32) -> Option<&str> {
        self.strings.get(id as usize)?.as_deref()
    }

    pub(crate) fn decoded(&self, id: u32) -> Option<&[u8]> {
        self.decoded.get(id as usize)?.as_deref()
    }
}

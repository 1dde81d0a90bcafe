//! The byte-level BPE tokenizer: `tokenizer.json` in, ids out, identical to HF `tokenizers`.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use super::added::{AddedTokens, Segment};
use super::bytes;
use super::cache::PerThread;
use super::fingerprint::Fingerprint;
use super::load::{Spec, parse};
use super::model::Model;
use super::pretokenize::PreTokenizer;
use super::template::{Piece, Template};
use super::vocab::Vocab;
use crate::Result;
use crate::tokenize::{Implementation, Tokenizer, unknown_id};

pub struct BpeTokenizer {
    model: Model,
    vocab: Vocab,
    pretokenizer: PreTokenizer,
    added: AddedTokens,
    template: Option<Template>,
    fingerprint: String,
    json: String,
    per_thread: PerThread,
}

impl BpeTokenizer {
    /// Builds a tokenizer from the text of a `tokenizer.json`.
    pub fn from_json(json: &str) -> Result<Self> {
        Self::from_json_named(json, "tokenizer JSON")
    }

    /// `name` stands for the document in error messages. What this reader does not implement
    /// is refused with [`crate::Error::UnsupportedTokenizer`], never approximated.
    pub(crate) fn from_json_named(json: &str, name: &str) -> Result<Self> {
        let spec = parse(json, name)?;
        let fingerprint = fingerprint(&spec);
        // The model keeps only the single-byte tokens, or all of them when it may look
        // words up whole (`ignore_merges`): only those are converted.
        let byte_vocab: Vec<(Box<[u8]>, u32)> = spec
            .vocab
            .iter()
            .filter(|(token, _)| spec.ignore_merges || token.chars().nth(1).is_none())
            .filter_map(|(token, &id)| Some((bytes::from_token_string(token)?.into(), id)))
            .collect();
        let model = Model::new(&byte_vocab, &spec.merges, spec.ignore_merges, spec.unknown);
        let added = spec.added;
        let vocab = Vocab::new(
            &spec.vocab,
            added.iter().map(|t| (t.content.as_str(), t.id)),
        );
        Ok(BpeTokenizer {
            model,
            vocab,
            pretokenizer: PreTokenizer::new(spec.stages),
            added: AddedTokens::new(added),
            template: spec.template,
            fingerprint,
            json: json.to_owned(),
            per_thread: PerThread::default(),
        })
    }
}

impl Tokenizer for BpeTokenizer {
    fn implementation(&self) -> Implementation {
        Implementation::Bpe
    }

    /// Pieces are cut from the text and merged from its bytes; no normalizer loads.
    fn decodes_to_its_text(&self) -> bool {
        true
    }

    /// Added tokens found in the text always become their ids; `add_special_tokens` adds
    /// what the file's `TemplateProcessing` post-processor puts around the text.
    fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len() / 3);
        self.encode_into(text, &mut ids)?;
        Ok(match (&self.template, add_special_tokens) {
            (Some(template), true) => template.apply(ids),
            _ => ids,
        })
    }

    fn encode_into(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        self.per_thread.with(|local| {
            self.added
                .for_each_segment(text, &mut |segment| match segment {
                    Segment::Token(id) => {
                        ids.push(id);
                        Ok(())
                    }
                    Segment::Text(text) => self.pretokenizer.for_each_piece(text, &mut |piece| {
                        local.encode_piece(&self.model, piece.as_bytes(), ids);
                    }),
                })
        })
    }

    /// The exact inverse of encoding (an added token gives its content).
    fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for (index, &id) in ids.iter().enumerate() {
            let bytes = self
                .vocab
                .decoded(id)
                .ok_or_else(|| unknown_id(index, id, self.vocab_size()))?;
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    fn vocab_size(&self) -> u32 {
        self.vocab.len()
    }

    /// See [`super::fingerprint`].
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.vocab.token(id).map(str::to_owned)
    }

    fn to_json(&self) -> &str {
        &self.json
    }
}

#[cfg(test)]
impl BpeTokenizer {
    /// The ids of one piece, without pre-tokenization.
    pub(crate) fn encode_piece(&self, piece: &[u8]) -> Vec<u32> {
        let mut ids = Vec::new();
        self.model
            .encode_word(piece, &mut Default::default(), &mut ids);
        ids
    }
}

/// Everything that decides the ids, in a canonical order.
fn fingerprint(spec: &Spec) -> String {
    let mut f = Fingerprint::new();
    let vocab = by_id(&spec.vocab);
    f.u32(vocab.len() as u32);
    for (token, id) in vocab {
        f.u32(id).str(token);
    }
    f.u32(spec.merges.len() as u32);
    for &(left, right, merged) in &spec.merges {
        f.u32(left).u32(right).u32(merged);
    }
    f.flag(spec.ignore_merges);
    match spec.unknown {
        Some(unk) => f.flag(true).u32(unk.id).flag(unk.fuse),
        None => f.flag(false),
    };
    let stages = PreTokenizer::describe_stages(&spec.stages);
    f.u32(stages.len() as u32);
    for stage in &stages {
        f.str(stage);
    }
    f.u32(spec.added.len() as u32);
    for t in &spec.added {
        f.u32(t.id).str(&t.content);
        for flag in [t.special, t.single_word, t.lstrip, t.rstrip, t.normalized] {
            f.flag(flag);
        }
    }
    let pieces = spec.template.as_ref().map_or(&[][..], |t| &t.pieces[..]);
    f.u32(pieces.len() as u32);
    for piece in pieces {
        match piece {
            Piece::Sequence => f.str("sequence"),
            Piece::Special(ids) => {
                f.str("special").u32(ids.len() as u32);
                ids.iter().fold(&mut f, |f, &id| f.u32(id))
            }
        };
    }
    f.finish()
}

/// The vocabulary in the order of ids (and of strings, for tokens that share an id).
fn by_id<'s>(vocab: &'s FxHashMap<Cow<'_, str>, u32>) -> Vec<(&'s str, u32)> {
    let size = vocab.values().max().map_or(0, |&id| id as usize + 1);
    // Placing each token at its id is linear, where sorting 32k tokens took a tenth of the
    // load; ids far sparser than this are sorted instead.
    if size <= 2 * vocab.len() + 1024 {
        let mut at_id: Vec<Option<&str>> = vec![None; size];
        let mut shared = false;
        for (token, &id) in vocab {
            let slot = &mut at_id[id as usize];
            shared |= slot.is_some();
            *slot = Some(token);
        }
        if !shared {
            return at_id
                .into_iter()
                .enumerate()
                .filter_map(|(id, token)| Some((token?, id as u32)))
                .collect();
        }
    }
    let mut sorted: Vec<(&str, u32)> = vocab.iter().map(|(t, &id)| (t.as_ref(), id)).collect();
    sorted.sort_unstable_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    sorted
}

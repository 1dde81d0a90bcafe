//! Reading a HuggingFace `tokenizer.json` whose model is byte-level BPE. What HF would do
//! with the file is what seqpack does; what seqpack does not implement is refused with an
//! error that names the field, never approximated.

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::added::AddedToken;
use super::document::{self, Document, Merge, ModelFields, Part};
use super::model::Unknown;
use super::pretokenize::{GPT2_PATTERN, Stage};
use super::template::{Piece, Template};
use crate::tokenize::load::sparse_ids;
use crate::{Error, Result};

/// Ids at or above this are refused: they would only make the id tables huge.
const MAX_ID: u64 = 1 << 26;

/// Everything a tokenizer is built from, as read from the file (whose text the tokens
/// borrow).
pub(crate) struct Spec<'a> {
    /// The model's tokens and ids.
    pub(crate) vocab: FxHashMap<Cow<'a, str>, u32>,
    /// `(left, right, merged)` ids, in rank order.
    pub(crate) merges: Vec<(u32, u32, u32)>,
    pub(crate) ignore_merges: bool,
    pub(crate) unknown: Option<Unknown>,
    pub(crate) stages: Vec<Stage>,
    /// In HF's order: special tokens first, then the others.
    pub(crate) added: Vec<AddedToken>,
    pub(crate) template: Option<Template>,
}

pub(crate) fn parse<'a>(json: &'a str, path: &str) -> Result<Spec<'a>> {
    let r = Reader { path };
    let document = document::parse(json)
        .map_err(|e| r.invalid("(document)", format!("not valid JSON: {e}")))?;
    let Document {
        fields: root,
        model,
    } = r.found(document, "(document)", "an object")?;
    for key in ["truncation", "padding"] {
        if !is_null(root.get(key)) {
            return Err(r.unsupported(key, format!("{key} inside the tokenizer")));
        }
    }
    r.normalizer(root.get("normalizer"))?;
    let model = model.ok_or_else(|| r.invalid("model", "missing"))?;
    let (vocab, merges, ignore_merges, unknown) =
        r.model(r.found(model, "model", "an object")?)?;
    let stages = r.pre_tokenizer(root.get("pre_tokenizer"))?;
    r.decoder(root.get("decoder"))?;
    let template = r.post_processor(root.get("post_processor"))?;
    let added = r.added_tokens(root.get("added_tokens"), &vocab)?;
    Ok(Spec {
        vocab,
        merges,
        ignore_merges,
        unknown,
        stages,
        added,
        template,
    })
}

fn is_null(v: Option<&Value>) -> bool {
    v.is_none_or(Value::is_null)
}

type Model<'a> = (
    FxHashMap<Cow<'a, str>, u32>,
    Vec<(u32, u32, u32)>,
    bool,
    Option<Unknown>,
);

struct Reader<'a> {
    path: &'a str,
}

impl Reader<'_> {
    fn invalid(&self, at: &str, message: impl Into<String>) -> Error {
        Error::InvalidTokenizer {
            path: self.path.to_owned(),
            at: at.to_owned(),
            message: message.into(),
        }
    }

    fn unsupported(&self, at: &str, what: impl Into<String>) -> Error {
        Error::UnsupportedTokenizer {
            path: self.path.to_owned(),
            at: at.to_owned(),
            what: what.into(),
        }
    }

    /// The part, or an error naming what was found instead of `expected`.
    fn found<T>(&self, part: Part<T>, at: &str, expected: &str) -> Result<T> {
        match part {
            Part::Found(value) => Ok(value),
            Part::Wrong(kind) => Err(self.invalid(at, format!("expected {expected}, got {kind}"))),
        }
    }

    fn object<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Map<String, Value>> {
        v.as_object()
            .ok_or_else(|| self.invalid(at, format!("expected an object, got {}", kind(v))))
    }

    /// The object in `obj`'s field `key`, which must be there; `at` names the field.
    fn required_object<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        at: &str,
    ) -> Result<&'v Map<String, Value>> {
        let v = obj.get(key).ok_or_else(|| self.invalid(at, "missing"))?;
        self.object(v, at)
    }

    fn array<'v>(&self, v: Option<&'v Value>, at: &str) -> Result<&'v [Value]> {
        match v {
            Some(Value::Array(items)) => Ok(items),
            Some(v) => Err(self.invalid(at, format!("expected a list, got {}", kind(v)))),
            None => Err(self.invalid(at, "missing")),
        }
    }

    fn string<'v>(&self, v: Option<&'v Value>, at: &str) -> Result<&'v str> {
        match v {
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(self.invalid(at, format!("expected a string, got {}", kind(v)))),
            None => Err(self.invalid(at, "missing")),
        }
    }

    /// A boolean field; absent or null means `default`.
    fn flag(&self, v: Option<&Value>, at: &str, default: bool) -> Result<bool> {
        match v {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.invalid(at, format!("expected true or false, got {}", kind(v)))),
        }
    }

    /// An id; `at` names its place, spelled out only for an error (formatting it for each
    /// of a 32k vocabulary's entries took a tenth of the load).
    fn id(&self, v: Option<&Value>, at: impl FnOnce() -> String) -> Result<u32> {
        match v.and_then(Value::as_u64) {
            Some(id) if id < MAX_ID => Ok(id as u32),
            Some(id) => {
                Err(self.invalid(&at(), format!("id {id} is too large (at most {MAX_ID})")))
            }
            None => Err(self.invalid(&at(), "expected a non-negative integer id")),
        }
    }

    fn type_of<'v>(&self, obj: &'v Map<String, Value>, at: &str) -> Result<&'v str> {
        self.string(obj.get("type"), &format!("{at}.type"))
    }

    fn normalizer(&self, v: Option<&Value>) -> Result<()> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(());
        };
        let obj = self.object(v, "normalizer")?;
        let kind = self.type_of(obj, "normalizer")?;
        // An empty sequence normalizes nothing.
        if kind == "Sequence"
            && self
                .array(obj.get("normalizers"), "normalizer.normalizers")?
                .is_empty()
        {
            return Ok(());
        }
        Err(self.unsupported("normalizer", format!("normalizer {kind:?}")))
    }

    fn model<'a>(&self, model: ModelFields<'a>) -> Result<Model<'a>> {
        let m = &model.fields;
        if let Some(t) = m.get("type") {
            let t = self.string(Some(t), "model.type")?;
            if t != "BPE" {
                return Err(self.unsupported("model.type", format!("model {t:?}")));
            }
        }
        match m.get("dropout") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_f64() == Some(0.0) => {}
            Some(v) => return Err(self.unsupported("model.dropout", format!("BPE dropout {v}"))),
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            match m.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(v) => {
                    return Err(self.unsupported(&format!("model.{key}"), format!("{key} {v}")));
                }
            }
        }
        if self.flag(m.get("byte_fallback"), "model.byte_fallback", false)? {
            return Err(self.unsupported("model.byte_fallback", "byte_fallback"));
        }
        let fuse = self.flag(m.get("fuse_unk"), "model.fuse_unk", false)?;
        let ignore_merges = self.flag(m.get("ignore_merges"), "model.ignore_merges", false)?;

        let entries = model
            .vocab
            .ok_or_else(|| self.invalid("model.vocab", "missing"))?;
        let entries = self.found(entries, "model.vocab", "an object")?;
        let mut vocab = FxHashMap::default();
        vocab.reserve(entries.len());
        for (token, id) in entries {
            let id = self.id(Some(&id), || format!("model.vocab[{token:?}]"))?;
            vocab.insert(token, id);
        }
        if let Some(message) = vocab
            .values()
            .max()
            .and_then(|&largest| sparse_ids(largest, vocab.len()))
        {
            return Err(self.invalid("model.vocab", message));
        }

        let listed = model
            .merges
            .ok_or_else(|| self.invalid("model.merges", "missing"))?;
        let listed = self.found(listed, "model.merges", "a list")?;
        let mut merges = Vec::with_capacity(listed.len());
        let mut joined = String::new();
        for (i, merge) in listed.iter().enumerate() {
            let at = || format!("model.merges[{i}]");
            let (left, right) = match merge {
                Merge::Joined(s) => s
                    .split_once(' ')
                    .filter(|(_, r)| !r.contains(' '))
                    .ok_or_else(|| {
                        self.invalid(
                            &at(),
                            format!("expected two tokens separated by one space, got {s:?}"),
                        )
                    })?,
                Merge::Pair(left, right) => (left.as_ref(), right.as_ref()),
                Merge::NotAPair => {
                    return Err(self.invalid(&at(), "expected a pair of token strings"));
                }
                Merge::Wrong(kind) => {
                    return Err(
                        self.invalid(&at(), format!("expected a string or a pair, got {kind}"))
                    );
                }
            };
            let id = |token: &str| {
                vocab
                    .get(token)
                    .copied()
                    .ok_or_else(|| self.invalid(&at(), format!("{token:?} is not in model.vocab")))
            };
            joined.clear();
            joined.push_str(left);
            joined.push_str(right);
            merges.push((id(left)?, id(right)?, id(&joined)?));
        }

        let unknown = match m.get("unk_token") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let unk = self.string(Some(v), "model.unk_token")?;
                vocab.get(unk).map(|&id| Unknown { id, fuse })
            }
        };
        Ok((vocab, merges, ignore_merges, unknown))
    }

    fn pre_tokenizer(&self, v: Option<&Value>) -> Result<Vec<Stage>> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Err(self.unsupported(
                "pre_tokenizer",
                "a tokenizer without a ByteLevel pre-tokenizer",
            ));
        };
        let obj = self.object(v, "pre_tokenizer")?;
        let mut stages = Vec::new();
        match self.type_of(obj, "pre_tokenizer")? {
            "ByteLevel" => self.byte_level(obj, "pre_tokenizer", &mut stages)?,
            "Sequence" => {
                let list = self.array(obj.get("pretokenizers"), "pre_tokenizer.pretokenizers")?;
                for (i, item) in list.iter().enumerate() {
                    let at = format!("pre_tokenizer.pretokenizers[{i}]");
                    let item = self.object(item, &at)?;
                    match (self.type_of(item, &at)?, i + 1 == list.len()) {
                        ("Split", false) => stages.push(self.split(item, &at)?),
                        ("ByteLevel", true) => self.byte_level(item, &at, &mut stages)?,
                        ("ByteLevel", false) => {
                            return Err(self
                                .unsupported(&at, "a ByteLevel pre-tokenizer before another one"));
                        }
                        (kind, _) => {
                            return Err(self.unsupported(&at, format!("pre-tokenizer {kind:?} in this position (supported: Split ..., then ByteLevel last)")));
                        }
                    }
                }
                if list.is_empty() {
                    return Err(
                        self.unsupported("pre_tokenizer.pretokenizers", "an empty sequence")
                    );
                }
            }
            kind => {
                return Err(
                    self.unsupported("pre_tokenizer.type", format!("pre-tokenizer {kind:?}"))
                );
            }
        }
        Ok(stages)
    }

    fn byte_level(
        &self,
        obj: &Map<String, Value>,
        at: &str,
        stages: &mut Vec<Stage>,
    ) -> Result<()> {
        if self.flag(
            obj.get("add_prefix_space"),
            &format!("{at}.add_prefix_space"),
            true,
        )? {
            stages.push(Stage::PrefixSpace);
        }
        if self.flag(obj.get("use_regex"), &format!("{at}.use_regex"), true)? {
            stages.push(Stage::split(GPT2_PATTERN).expect("the GPT-2 pattern needs no regex"));
        }
        Ok(())
    }

    fn split(&self, obj: &Map<String, Value>, at: &str) -> Result<Stage> {
        let behavior = self.string(obj.get("behavior"), &format!("{at}.behavior"))?;
        if behavior != "Isolated" {
            return Err(self.unsupported(
                &format!("{at}.behavior"),
                format!("Split behavior {behavior:?}"),
            ));
        }
        if self.flag(obj.get("invert"), &format!("{at}.invert"), false)? {
            return Err(self.unsupported(&format!("{at}.invert"), "an inverted Split"));
        }
        let pattern_at = format!("{at}.pattern");
        let pattern = self.required_object(obj, "pattern", &pattern_at)?;
        let regex = match (pattern.get("Regex"), pattern.get("String")) {
            (Some(regex), None) => self
                .string(Some(regex), &format!("{pattern_at}.Regex"))?
                .to_owned(),
            (None, Some(literal)) => {
                regex_syntax::escape(self.string(Some(literal), &format!("{pattern_at}.String"))?)
            }
            _ => {
                return Err(self.invalid(
                    &pattern_at,
                    "expected {\"Regex\": ...} or {\"String\": ...}",
                ));
            }
        };
        Stage::split(&regex)
            .map_err(|e| self.unsupported(&pattern_at, format!("the pattern {regex:?} ({e})")))
    }

    fn decoder(&self, v: Option<&Value>) -> Result<()> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(());
        };
        match self.type_of(self.object(v, "decoder")?, "decoder")? {
            "ByteLevel" => Ok(()),
            kind => Err(self.unsupported("decoder.type", format!("decoder {kind:?}"))),
        }
    }

    fn post_processor(&self, v: Option<&Value>) -> Result<Option<Template>> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let obj = self.object(v, "post_processor")?;
        match self.type_of(obj, "post_processor")? {
            // ByteLevel only trims offsets; ids are unchanged.
            "ByteLevel" => Ok(None),
            "TemplateProcessing" => self.template(obj, "post_processor").map(Some),
            "RobertaProcessing" | "BertProcessing" => self.around(obj, "post_processor").map(Some),
            "Sequence" => {
                let mut template = None;
                let list = self.array(obj.get("processors"), "post_processor.processors")?;
                for (i, item) in list.iter().enumerate() {
                    let at = format!("post_processor.processors[{i}]");
                    let item = self.object(item, &at)?;
                    match self.type_of(item, &at)? {
                        "ByteLevel" => {}
                        "TemplateProcessing" if template.is_none() => {
                            template = Some(self.template(item, &at)?)
                        }
                        "RobertaProcessing" | "BertProcessing" if template.is_none() => {
                            template = Some(self.around(item, &at)?)
                        }
                        kind => {
                            return Err(self.unsupported(
                                &at,
                                format!(
                                    "post-processor {kind:?} in a sequence (at most one adds tokens)"
                                ),
                            ));
                        }
                    }
                }
                Ok(template)
            }
            kind => {
                Err(self.unsupported("post_processor.type", format!("post-processor {kind:?}")))
            }
        }
    }

    /// RoBERTa's and BERT's processors: `cls`, the text, `sep`, each given as
    /// `[token, id]`.
    fn around(&self, obj: &Map<String, Value>, at: &str) -> Result<Template> {
        let token = |key: &str| {
            let key_at = format!("{at}.{key}");
            match obj.get(key) {
                Some(Value::Array(pair)) if pair.len() == 2 => {
                    self.id(pair.get(1), || key_at.clone())
                }
                _ => Err(self.invalid(&key_at, "expected [token, id]")),
            }
        };
        let (cls, sep) = (token("cls")?, token("sep")?);
        let pieces = vec![
            Piece::Special(vec![cls]),
            Piece::Sequence,
            Piece::Special(vec![sep]),
        ];
        Ok(Template { pieces })
    }

    fn template(&self, obj: &Map<String, Value>, at: &str) -> Result<Template> {
        let specials_at = format!("{at}.special_tokens");
        let specials = self.required_object(obj, "special_tokens", &specials_at)?;
        let mut pieces = Vec::new();
        for (i, item) in self
            .array(obj.get("single"), &format!("{at}.single"))?
            .iter()
            .enumerate()
        {
            let item_at = format!("{at}.single[{i}]");
            let item = self.object(item, &item_at)?;
            if let Some(sequence) = item.get("Sequence") {
                let which = self.string(
                    self.object(sequence, &item_at)?.get("id"),
                    &format!("{item_at}.Sequence.id"),
                )?;
                if which != "A" {
                    return Err(self.invalid(
                        &item_at,
                        format!("a single-sequence template refers to sequence {which:?}"),
                    ));
                }
                pieces.push(Piece::Sequence);
            } else if let Some(special) = item.get("SpecialToken") {
                let name = self.string(
                    self.object(special, &item_at)?.get("id"),
                    &format!("{item_at}.SpecialToken.id"),
                )?;
                let entry_at = format!("{specials_at}[{name:?}]");
                let entry = specials
                    .get(name)
                    .ok_or_else(|| self.invalid(&entry_at, "missing"))?;
                let ids = self.array(
                    self.object(entry, &entry_at)?.get("ids"),
                    &format!("{entry_at}.ids"),
                )?;
                let ids = ids
                    .iter()
                    .map(|id| self.id(Some(id), || format!("{entry_at}.ids")))
                    .collect::<Result<_>>()?;
                pieces.push(Piece::Special(ids));
            } else {
                return Err(self.invalid(
                    &item_at,
                    "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}",
                ));
            }
        }
        Ok(Template { pieces })
    }

    /// The added tokens with the ids HF gives them when it loads the file: the model's id
    /// when the content is a model token, else the next id after the model's vocabulary
    /// and the tokens added before. (HF warns and uses its own when the file disagrees.)
    fn added_tokens(
        &self,
        v: Option<&Value>,
        vocab: &FxHashMap<Cow<'_, str>, u32>,
    ) -> Result<Vec<AddedToken>> {
        if is_null(v) {
            return Ok(Vec::new());
        }
        let model_size = vocab.len() as u32;
        let mut added: Vec<AddedToken> = Vec::new();
        for (i, item) in self.array(v, "added_tokens")?.iter().enumerate() {
            let at = format!("added_tokens[{i}]");
            let obj = self.object(item, &at)?;
            self.id(obj.get("id"), || format!("{at}.id"))?;
            let special = self.flag(obj.get("special"), &format!("{at}.special"), false)?;
            let flag =
                |key: &str, default| self.flag(obj.get(key), &format!("{at}.{key}"), default);
            let mut token = AddedToken {
                id: 0,
                content: self
                    .string(obj.get("content"), &format!("{at}.content"))?
                    .to_owned(),
                special,
                single_word: flag("single_word", false)?,
                lstrip: flag("lstrip", false)?,
                rstrip: flag("rstrip", false)?,
                normalized: flag("normalized", !special)?,
            };
            if token.content.is_empty() {
                continue;
            }
            if let Some(earlier) = added.iter().find(|t| t.content == token.content) {
                token.id = earlier.id;
                if *earlier == token {
                    continue;
                }
                return Err(self.unsupported(
                    &at,
                    format!(
                        "a second added token {:?} with other options",
                        token.content
                    ),
                ));
            }
            token.id = match vocab.get(token.content.as_str()) {
                Some(&id) => id,
                None => match added.iter().map(|t| t.id).max() {
                    Some(max) if max >= model_size || model_size == 0 => max + 1,
                    _ => model_size,
                },
            };
            added.push(token);
        }
        added.sort_by_key(|t| !t.special);
        Ok(added)
    }
}

/// What a JSON value is, for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

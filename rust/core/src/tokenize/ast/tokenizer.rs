//! Byte-level AST-BPE for whole documents (source code, SQL): the units are bytes, the
//! layout is the document's syntax tree, and a document that does not parse is merged as
//! plain byte-level BPE (flat layout) and counted.
//!
//! The file (`tokenizer.json`-like, so one `--tokenizer` option takes either):
//!
//! ```json
//! {"model": {"type": "AstBPE", "language": "python", "merges": [[32, 32], [256, 32]]},
//!  "special_tokens": ["<|endoftext|>"]}
//! ```
//!
//! Ids 0–255 are the bytes; merge `t` (a pair of earlier ids) is id `256 + t`; the special
//! tokens follow the merges. Special tokens are ids only (for `--append-eos`): they are not
//! looked for inside the text.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;
use serde_json::{Value, json};
use thread_local::ThreadLocal;

use super::encode::Ranks;
use super::layout::Layout;
use super::syntax::{Language, Parse};
use super::train::{LearnOptions, learn};
use crate::tokenize::bpe::bytes;
use crate::tokenize::{Implementation, Tokenizer, unknown_id};
use crate::{Error, Result, parallel};

const BYTES: u32 = 256;

/// Leaf tokens remembered per thread before the memory is emptied, and the longest remembered:
/// names, keywords and operators repeat; long literals rarely do.
const WORDS: usize = 1 << 16;
const MAX_WORD_BYTES: usize = 64;

/// The bytes all tokens may spell together. Merges spell their tokens from earlier ones, so a
/// file of a few hundred bytes can double one token 41 times and ask for 2^41 bytes; trained
/// vocabularies spell a few megabytes at most.
const MAX_SPELLED_BYTES: usize = 1 << 26;

/// A leaf token's bytes and its ids.
type Words = FxHashMap<Box<[u8]>, Box<[u32]>>;

pub struct AstTokenizer {
    language: Language,
    merges: Vec<(u32, u32)>,
    specials: Vec<String>,
    ranks: Ranks,
    spelled: Vec<Vec<u8>>,
    by_spelling: FxHashMap<String, u32>,
    json: String,
    fingerprint: String,
    /// Documents encoded so far that did not parse.
    fallbacks: AtomicU64,
    /// Per thread, the ids of recent leaf tokens.
    words: ThreadLocal<RefCell<Words>>,
}

/// What training saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct AstTrainStats {
    pub documents: u64,
    /// Documents that did not parse (merged as plain byte-level BPE).
    pub unparsed: u64,
}

/// Appends `text`'s layout (its bytes are the units), flat when it does not parse; whether it
/// parsed.
fn structure(language: Language, text: &str, layout: &mut Layout) -> bool {
    let n = text.len();
    match language.parse(text) {
        Some(Parse { mut spans, .. }) => {
            layout.push(n, &mut spans);
            true
        }
        None => {
            layout.push(n, &mut []);
            false
        }
    }
}

impl AstTokenizer {
    /// `model.type` in the file.
    pub const MODEL_TYPE: &'static str = "AstBPE";

    /// Learns up to `vocab_size - 256 - specials` merges over `texts`; pairs seen fewer than
    /// `min_frequency` times are not merged.
    pub fn train<S: AsRef<str> + Sync>(
        texts: &[S],
        language: Language,
        vocab_size: u32,
        specials: Vec<String>,
        min_frequency: u64,
    ) -> Result<(Self, AstTrainStats)> {
        let reserved = BYTES + specials.len() as u32;
        if vocab_size < reserved {
            return Err(Error::invalid_option(
                "vocab_size",
                format!(
                    "{vocab_size} is below the 256 bytes and {} special tokens",
                    specials.len()
                ),
            ));
        }
        // Parsing is most of the cost before merging, and independent per document.
        let parsed = parallel::try_map(
            texts,
            |t| t.as_ref().len(),
            |t| Ok::<_, Error>(language.parse(t.as_ref()).map(|p| p.spans)),
        )?;
        let mut units = Vec::new();
        let mut layout = Layout::new();
        let mut stats = AstTrainStats::default();
        for (text, spans) in texts.iter().zip(parsed) {
            let text = text.as_ref();
            stats.documents += 1;
            match spans {
                Some(mut spans) => layout.push(text.len(), &mut spans),
                None => {
                    stats.unparsed += 1;
                    layout.push(text.len(), &mut []);
                }
            }
            units.extend(text.bytes().map(u32::from));
        }
        let learned = learn(
            BYTES,
            (units, layout),
            None,
            LearnOptions {
                max_merges: (vocab_size - reserved) as usize,
                min_count: min_frequency.max(1),
                stopping: None,
            },
        );
        let tokenizer = Self::new(language, learned.merges, specials, "training")?;
        Ok((tokenizer, stats))
    }

    fn new(
        language: Language,
        merges: Vec<(u32, u32)>,
        specials: Vec<String>,
        name: &str,
    ) -> Result<Self> {
        let mut spelled: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut spelled_bytes = 0usize;
        for (t, &(a, b)) in merges.iter().enumerate() {
            let known = BYTES + t as u32;
            if a >= known || b >= known {
                return Err(Error::InvalidTokenizer {
                    path: name.into(),
                    at: format!("model.merges[{t}]"),
                    message: format!("[{a}, {b}] uses an id not made before it (below {known})"),
                });
            }
            let (a, b) = (&spelled[a as usize], &spelled[b as usize]);
            spelled_bytes += a.len() + b.len();
            if spelled_bytes > MAX_SPELLED_BYTES {
                return Err(Error::InvalidTokenizer {
                    path: name.into(),
                    at: format!("model.merges[{t}]"),
                    message: format!(
                        "the merges up to here spell more than {MAX_SPELLED_BYTES} bytes \
                         together (a token {} bytes long); no vocabulary needs that",
                        a.len() + b.len()
                    ),
                });
            }
            let mut bytes = a.clone();
            bytes.extend_from_slice(b);
            spelled.push(bytes);
        }
        let mut by_spelling: FxHashMap<String, u32> = FxHashMap::default();
        for (id, s) in spelled.iter().enumerate() {
            by_spelling
                .entry(bytes::to_token_string(s))
                .or_insert(id as u32);
        }
        for (i, s) in specials.iter().enumerate() {
            by_spelling.insert(s.clone(), spelled.len() as u32 + i as u32);
        }
        let doc = json!({
            "model": {"type": Self::MODEL_TYPE, "language": language.name(), "merges": merges},
            "special_tokens": specials,
        });
        let json = crate::json::sorted_text(&doc);
        let fingerprint = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(format!("seqpack-ast-bpe-1 {json}").as_bytes())
        );
        Ok(AstTokenizer {
            language,
            ranks: Ranks::new(BYTES, &merges),
            merges,
            specials,
            spelled,
            by_spelling,
            json,
            fingerprint,
            fallbacks: AtomicU64::new(0),
            words: ThreadLocal::new(),
        })
    }

    pub fn from_json(json: &str) -> Result<Self> {
        Self::from_json_named(json, "tokenizer JSON")
    }

    pub(crate) fn from_json_named(json: &str, name: &str) -> Result<Self> {
        let invalid = |at: &str, message: String| Error::InvalidTokenizer {
            path: name.into(),
            at: at.into(),
            message,
        };
        let root: Value = serde_json::from_str(json)
            .map_err(|e| invalid("(document)", format!("not valid JSON: {e}")))?;
        let model = root.get("model");
        if model.and_then(|m| m.get("type")).and_then(Value::as_str) != Some(Self::MODEL_TYPE) {
            return Err(Error::UnsupportedTokenizer {
                path: name.into(),
                at: "model.type".into(),
                what: "a model other than AstBPE".into(),
            });
        }
        let model = model.expect("checked above");
        let language = model
            .get("language")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("model.language", "missing or not a string".into()))?
            .parse::<Language>()
            .map_err(|e| invalid("model.language", e.to_string()))?;
        let merges = model
            .get("merges")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("model.merges", "missing or not a list".into()))?
            .iter()
            .enumerate()
            .map(|(t, pair)| {
                let ids: Option<Vec<u32>> = pair.as_array().and_then(|p| {
                    p.iter()
                        .map(|v| v.as_u64().and_then(|v| u32::try_from(v).ok()))
                        .collect()
                });
                match ids.as_deref() {
                    Some(&[a, b]) => Ok((a, b)),
                    _ => Err(invalid(
                        &format!("model.merges[{t}]"),
                        format!("{pair} is not a pair of ids"),
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let specials = match root.get("special_tokens") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        invalid(
                            &format!("special_tokens[{i}]"),
                            format!("{v} is not a string"),
                        )
                    })
                })
                .collect::<Result<_>>()?,
            Some(v) => return Err(invalid("special_tokens", format!("{v} is not a list"))),
        };
        Self::new(language, merges, specials, name)
    }

    /// The ids of `text`. A leaf token's bytes merge among themselves first (from memory when
    /// the token was seen before): a merge across a leaf's edge needs the whole leaf as one
    /// symbol, so the inside of a leaf never depends on its neighbours, and this gives the ids
    /// that merging all bytes at once does.
    fn encode_text(&self, text: &str) -> Vec<u32> {
        let bytes = text.as_bytes();
        let mut layout = Layout::new();
        let Some(Parse { mut spans, leaves }) = self.language.parse(text) else {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            layout.push(bytes.len(), &mut []);
            let units: Vec<u32> = bytes.iter().map(|&b| u32::from(b)).collect();
            return self.ids(self.ranks.encode(&units, &layout, self.merges.len()));
        };
        layout.push(bytes.len(), &mut spans);
        let mut symbols: Vec<(u32, u32)> = Vec::with_capacity(bytes.len() / 2);
        let mut words = self.words.get_or_default().borrow_mut();
        let mut at = 0usize;
        for (start, end) in leaves {
            let (start, end) = (start as usize, end as usize);
            symbols.extend((at..start).map(|b| (u32::from(bytes[b]), b as u32)));
            let leaf = &bytes[start..end];
            let ids = match words.get(leaf) {
                Some(ids) => ids.clone(),
                None => {
                    let ids = self.leaf(leaf);
                    if leaf.len() <= MAX_WORD_BYTES {
                        if words.len() >= WORDS {
                            words.clear();
                        }
                        words.insert(leaf.into(), ids.clone());
                    }
                    ids
                }
            };
            let mut position = start;
            for &id in ids.iter() {
                symbols.push((id, position as u32));
                position += self.spelled[id as usize].len();
            }
            at = end;
        }
        symbols.extend((at..bytes.len()).map(|b| (u32::from(bytes[b]), b as u32)));
        let merged = self
            .ranks
            .encode_from(&symbols, bytes.len(), &layout, self.merges.len());
        self.ids(merged)
    }

    /// One leaf token on its own: every merge inside it is allowed.
    fn leaf(&self, leaf: &[u8]) -> Box<[u32]> {
        let mut layout = Layout::new();
        layout.push(leaf.len(), &mut []);
        let units: Vec<u32> = leaf.iter().map(|&b| u32::from(b)).collect();
        self.ids(self.ranks.encode(&units, &layout, self.merges.len()))
            .into()
    }

    fn ids(&self, symbols: Vec<(u32, u32)>) -> Vec<u32> {
        symbols.into_iter().map(|(id, _)| id).collect()
    }

    /// The bytes of an id (a special token's text).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let id = id as usize;
        self.spelled.get(id).map(Vec::as_slice).or_else(|| {
            self.specials
                .get(id.checked_sub(self.spelled.len())?)
                .map(|s| s.as_bytes())
        })
    }
}

impl Tokenizer for AstTokenizer {
    fn implementation(&self) -> Implementation {
        Implementation::AstBpe
    }

    /// AST-BPE has no template: `add_special_tokens` adds nothing. Encoding cannot fail.
    fn encode(&self, text: &str, _add_special_tokens: bool) -> Result<Vec<u32>> {
        Ok(self.encode_text(text))
    }

    fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (index, &id) in ids.iter().enumerate() {
            let bytes = self
                .token_bytes(id)
                .ok_or_else(|| unknown_id(index, id, self.vocab_size()))?;
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    fn vocab_size(&self) -> u32 {
        (self.spelled.len() + self.specials.len()) as u32
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A token spelled as in `tokenizer.json` (GPT-2's byte characters), or a special token.
    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.by_spelling.get(token).copied()
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        let id = id as usize;
        match self.spelled.get(id) {
            Some(bytes) => Some(bytes::to_token_string(bytes)),
            None => self
                .specials
                .get(id.checked_sub(self.spelled.len())?)
                .cloned(),
        }
    }

    fn to_json(&self) -> &str {
        &self.json
    }

    fn language(&self) -> Option<Language> {
        Some(self.language)
    }

    /// Documents encoded by this tokenizer so far that did not parse.
    fn parse_fallbacks(&self) -> Option<u64> {
        Some(self.fallbacks.load(Ordering::Relaxed))
    }
}

/// How many of the tokens of `text` (consecutive, of these byte lengths) are not a run of
/// sibling syntax nodes of its parse in `language`: symbols that cut across the tree. `None`
/// when `text` does not parse.
pub fn crossing(language: Language, text: &str, lengths: &[u32]) -> Result<Option<usize>> {
    let total: u64 = lengths.iter().map(|&n| u64::from(n)).sum();
    if total != text.len() as u64 {
        return Err(Error::invalid_option(
            "lengths",
            format!("add up to {total} bytes, but the text has {}", text.len()),
        ));
    }
    let mut layout = Layout::new();
    if !structure(language, text, &mut layout) {
        return Ok(None);
    }
    let mut at = 0;
    let mut crossing = 0;
    for &n in lengths {
        let end = at + n as usize;
        crossing += usize::from(!layout.is_run(at, end));
        at = end;
    }
    Ok(Some(crossing))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaf-first encoding against merging all bytes of the parse at once.
    #[test]
    fn leaves_first_gives_the_ids_of_merging_everything_at_once() {
        let texts = [
            "def f(x):\n    return x + 1  # one\n\n\nprint(f(2), 'a' 'b', f\"{x!r:>10}\")\n",
            "class A(B):\n    '''Doc.'''\n    def g(self, *a, **k):\n        return [i * i for i in range(10) if i % 2]\n",
            "x = {'k': [1, 2.5, 3j], **y}\nwhile x:\n\tx = x[1:] or None\n",
            "SELECT ( ( a ) ) , \"x y\" FROM t WHERE t.a = 'b' ;",
        ];
        for language in [Language::Python, Language::Sql] {
            let (tok, _) = AstTokenizer::train(&texts, language, 600, vec![], 1).unwrap();
            for text in texts {
                let mut layout = Layout::new();
                structure(language, text, &mut layout);
                let units: Vec<u32> = text.bytes().map(u32::from).collect();
                let all_at_once = tok.ids(tok.ranks.encode(&units, &layout, tok.merges.len()));
                assert_eq!(tok.encode_text(text), all_at_once, "{language:?} {text:?}");
                assert_eq!(tok.encode_text(text), all_at_once, "from memory");
            }
        }
    }
}

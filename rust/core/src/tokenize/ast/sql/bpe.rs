//! BPE over whole SQL tokens, as in "Byte-Pair Encoding for Text-to-SQL Generation" (Müller &
//! Vlachos, 2019): plain, or AST-BPE where merges follow the query's parse.
//!
//! The base symbols are the tokens of [`super::lex`], each spelled with the whitespace
//! written before it, so that symbols concatenate back to the query; the query is read as if
//! it started with one space (so its first `SELECT` is the same type as any other), which
//! decoding takes off again. A token never seen in training is spelled by its bytes, so every
//! query encodes and decodes exactly, without an unknown symbol.

use rustc_hash::FxHashMap;

use super::{lex, tree};
use crate::tokenize::ast::encode::Ranks;
use crate::tokenize::ast::layout::Layout;
use crate::tokenize::ast::train::{LearnOptions, Step, Stopping, learn};
use crate::{Error, Result};

/// Ids below this are bytes (for tokens unseen in training).
const BYTES: u32 = 256;

#[derive(Debug, Clone, Copy)]
pub struct SqlBpeOptions {
    /// Merges only along the parse (AST-BPE) or anywhere (plain BPE).
    pub syntax: bool,
    /// At most this many merges.
    pub max_merges: usize,
    /// The paper's criterion over the validation queries; without it, merges stop at
    /// `max_merges` or when no pair occurs twice.
    pub stopping: Option<Stopping>,
}

pub struct SqlBpe {
    syntax: bool,
    /// Base token spellings, their id is `BYTES + index`.
    tokens: FxHashMap<Vec<u8>, u32>,
    merges: Vec<(u32, u32)>,
    ranks: Ranks,
    /// The bytes of every id.
    spelled: Vec<Vec<u8>>,
    steps: Vec<Step>,
    rare_types_before: u64,
    unparsed: usize,
}

/// A query as units (base ids, or bytes for unseen tokens) with its layout.
struct Units {
    units: Vec<u32>,
    layout: Layout,
}

impl SqlBpe {
    pub fn train<S: AsRef<str>>(train: &[S], valid: &[S], options: SqlBpeOptions) -> Result<Self> {
        if options.stopping.is_some() && valid.is_empty() {
            return Err(Error::invalid_option(
                "valid",
                "is empty: the stopping criterion needs validation queries",
            ));
        }
        let mut model = SqlBpe {
            syntax: options.syntax,
            tokens: FxHashMap::default(),
            merges: Vec::new(),
            ranks: Ranks::default(),
            spelled: (0..=255u8).map(|b| vec![b]).collect(),
            steps: Vec::new(),
            rare_types_before: 0,
            unparsed: 0,
        };
        // Every type of both splits is a base symbol: validation types unseen in training
        // must count as rare, not vanish into bytes.
        for q in train.iter().chain(valid) {
            for spelling in spellings(q.as_ref()) {
                let next = BYTES + model.tokens.len() as u32;
                model.tokens.entry(spelling.clone()).or_insert_with(|| {
                    model.spelled.push(spelling);
                    next
                });
            }
        }
        let base = BYTES + model.tokens.len() as u32;
        let (train_units, unparsed) = model.corpus(train);
        let (valid_units, _) = model.corpus(valid);
        let learned = learn(
            base,
            train_units,
            options.stopping.map(|_| valid_units),
            LearnOptions {
                max_merges: options.max_merges,
                min_count: 2,
                stopping: options.stopping,
            },
        );
        for &(a, b) in &learned.merges {
            let mut bytes = model.spelled[a as usize].clone();
            bytes.extend_from_slice(&model.spelled[b as usize]);
            model.spelled.push(bytes);
        }
        model.ranks = Ranks::new(base, &learned.merges);
        model.merges = learned.merges;
        model.steps = learned.steps;
        model.rare_types_before = learned.rare_types_before;
        model.unparsed = unparsed;
        Ok(model)
    }

    fn corpus<S: AsRef<str>>(&self, queries: &[S]) -> ((Vec<u32>, Layout), usize) {
        let mut all = Vec::new();
        let mut layout = Layout::new();
        let mut unparsed = 0;
        for q in queries {
            let (units, spans, parsed) = self.units_and_spans(q.as_ref(), self.syntax);
            unparsed += usize::from(!parsed);
            let mut spans = spans;
            layout.push(units.len(), &mut spans);
            all.extend(units);
        }
        ((all, layout), unparsed)
    }

    /// The units of `query`, the spans of its parse over them when `syntax` asks for it
    /// (and it parses), and whether it parses.
    fn units_and_spans(&self, query: &str, syntax: bool) -> (Vec<u32>, Vec<(u32, u32)>, bool) {
        let lexed = lex::lex(query);
        let mut units = Vec::with_capacity(lexed.tokens.len());
        // Where each token's units start, and one past the last.
        let mut at = Vec::with_capacity(lexed.tokens.len() + 1);
        let mut spans = Vec::new();
        for (i, token) in lexed.tokens.iter().enumerate() {
            at.push(units.len() as u32);
            let spelling = spelling(query, token, i == 0);
            match self.tokens.get(&spelling) {
                Some(&id) => units.push(id),
                None => {
                    let from = units.len() as u32;
                    units.extend(spelling.iter().map(|&b| u32::from(b)));
                    spans.push((from, units.len() as u32));
                }
            }
        }
        at.push(units.len() as u32);
        let parsed = tree::parse(query, &lexed.tokens);
        let parsed_ok = lexed.balanced && parsed.balanced;
        if syntax && parsed_ok {
            spans.extend(
                parsed
                    .spans
                    .iter()
                    .map(|&(s, e)| (at[s as usize], at[e as usize])),
            );
        }
        (units, spans, parsed_ok)
    }

    fn units(&self, query: &str, syntax: bool) -> Units {
        let (units, mut spans, _) = self.units_and_spans(query, syntax);
        let mut layout = Layout::new();
        layout.push(units.len(), &mut spans);
        Units { units, layout }
    }

    /// The ids of `query` under the first `limit` merges (all by default).
    pub fn encode(&self, query: &str, limit: Option<usize>) -> Vec<u32> {
        let u = self.units(query, self.syntax);
        let limit = limit.unwrap_or(self.merges.len()).min(self.merges.len());
        self.ranks
            .encode(&u.units, &u.layout, limit)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// How many symbols of `query`'s encoding cut across its parse (a symbol AST-BPE could
    /// not make), and how many symbols there are.
    pub fn crossing(&self, query: &str) -> (usize, usize) {
        let model = self.units(query, self.syntax);
        let parse = self.units(query, true);
        let symbols = self
            .ranks
            .encode(&model.units, &model.layout, self.merges.len());
        let ends = symbols
            .iter()
            .skip(1)
            .map(|&(_, at)| at as usize)
            .chain([model.units.len()]);
        let crossing = symbols
            .iter()
            .zip(ends)
            .filter(|&(&(_, start), end)| !parse.layout.is_run(start as usize, end))
            .count();
        (crossing, symbols.len())
    }

    /// The query of ids that [`SqlBpe::encode`] made from a whole query.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for (index, &id) in ids.iter().enumerate() {
            let spelled = self.spelled.get(id as usize).ok_or(Error::UnknownTokenId {
                index,
                id,
                vocab_size: self.vocab_size(),
            })?;
            bytes.extend_from_slice(spelled);
        }
        // The space the query was read with.
        if !bytes.is_empty() {
            bytes.remove(0);
        }
        String::from_utf8(bytes).map_err(|e| {
            Error::invalid_option(
                "ids",
                format!(
                    "do not spell UTF-8 text (byte {}): not the ids of a whole query",
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }

    /// The spelling of an id: whitespace before a token included.
    pub fn spelling(&self, id: u32) -> Option<&[u8]> {
        self.spelled.get(id as usize).map(Vec::as_slice)
    }

    pub fn vocab_size(&self) -> u32 {
        self.spelled.len() as u32
    }

    pub fn base_size(&self) -> u32 {
        BYTES + self.tokens.len() as u32
    }

    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merges
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn rare_types_before(&self) -> u64 {
        self.rare_types_before
    }

    /// Training queries whose parse failed (unbalanced quotes or parentheses), merged as plain
    /// BPE.
    pub fn unparsed(&self) -> usize {
        self.unparsed
    }

    pub fn syntax(&self) -> bool {
        self.syntax
    }
}

/// The base tokens of a query, spelled with the whitespace before each.
pub fn spellings(query: &str) -> Vec<Vec<u8>> {
    lex::lex(query)
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| spelling(query, t, i == 0))
        .collect()
}

fn spelling(query: &str, token: &lex::Token, first: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(token.text.end - token.from + 1);
    if first {
        bytes.push(b' ');
    }
    bytes.extend_from_slice(&query.as_bytes()[token.from..token.text.end]);
    bytes
}

/// The parse of a query as spans over its tokens (those of [`spellings`]), and whether it
/// parsed.
pub fn sql_parse(query: &str) -> (Vec<(u32, u32)>, bool) {
    let lexed = lex::lex(query);
    let parsed = tree::parse(query, &lexed.tokens);
    (parsed.spans, lexed.balanced && parsed.balanced)
}

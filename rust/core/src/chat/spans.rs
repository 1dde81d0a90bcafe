//! Text spans to a token mask.
//!
//! The rule (HF's, from `apply_chat_template(return_assistant_tokens_mask=True)`): a token
//! is trained iff it overlaps a trained span, that is it starts before the span ends and
//! ends after it starts. So a token that holds both the last prompt byte and the first
//! answer byte is trained, and so is one that holds the answer's last byte and what
//! follows it. Each span edge that falls strictly inside a token is counted. (Like HF, an
//! empty span marks the one token that straddles it, if any, and counts no edge.)
//!
//! Spans are byte ranges of the rendered text. Tokens' byte ranges come from the
//! tokenizer's own alignment of its tokens with the text where it keeps one
//! ([`Tokenizer::encode_aligned_into`]: the `tokenizers` library's offsets, as HF reads
//! them; SentencePiece-style tokenizers need them, since a token decoded alone loses the
//! space its `▁` stands for). Otherwise they come from decoding each id alone (once per
//! tokenizer, [`TokenBytes`]), which must give back the text byte for byte (true of
//! byte-level tokenizers). Of a tokenizer that guarantees it
//! ([`Tokenizer::decodes_to_its_text`]) the lengths are added up; any other's tokens are
//! compared with the text one by one, and a difference refuses the record.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use super::RecordFault;
use crate::tokenize::Tokenizer;

/// Every id's bytes, as decoding it alone gives them: read once per tokenizer, so finding
/// where each token of a text ends costs no decoding.
#[derive(Debug)]
pub struct TokenBytes {
    fingerprint: String,
    /// The tokenizer's encodings decode to their text: tokens are placed by their lengths.
    exact: bool,
    /// The ids' bytes end to end, then [`WORD`] bytes of padding, so that a word can be
    /// read from where any id's bytes start.
    bytes: Vec<u8>,
    /// Id `i`'s bytes are `bytes[start..end]` for `[start, end] = pieces[i]`; an id that
    /// decodes to nothing (a hole in the vocabulary) has `start > end`.
    pieces: Vec<[u32; 2]>,
}

/// Tokens this long or shorter (nearly all) are compared with the text as one word.
const WORD: usize = 8;

/// The tables of the last tokenizers used, by fingerprint: one costs a decode of every id,
/// too much to repeat per call.
static RECENT: Mutex<Vec<Arc<TokenBytes>>> = Mutex::new(Vec::new());
const KEPT: usize = 4;

thread_local! {
    /// The table this thread used last: a run asks for the same one for every record, and
    /// finds it here without taking the lock the threads share.
    static LAST: RefCell<Option<Arc<TokenBytes>>> = const { RefCell::new(None) };
}

impl TokenBytes {
    /// The table of `tokenizer`, read on its first use and kept while it is among the last
    /// [`KEPT`] used.
    pub fn of(tokenizer: &dyn Tokenizer) -> Arc<TokenBytes> {
        LAST.with_borrow_mut(|last| match last {
            Some(table) if table.is_of(tokenizer) => Arc::clone(table),
            _ => {
                let table = TokenBytes::shared(tokenizer);
                *last = Some(Arc::clone(&table));
                table
            }
        })
    }

    /// [`TokenBytes::of`] from the tables all threads share.
    fn shared(tokenizer: &dyn Tokenizer) -> Arc<TokenBytes> {
        let mut recent = RECENT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(at) = recent.iter().position(|table| table.is_of(tokenizer)) {
            let table = recent.remove(at);
            recent.push(Arc::clone(&table));
            return table;
        }
        let table = Arc::new(TokenBytes::new(tokenizer));
        if recent.len() == KEPT {
            recent.remove(0);
        }
        recent.push(Arc::clone(&table));
        table
    }

    pub fn new(tokenizer: &dyn Tokenizer) -> TokenBytes {
        let size = tokenizer.vocab_size() as usize;
        let mut table = TokenBytes {
            fingerprint: tokenizer.fingerprint().to_owned(),
            exact: tokenizer.decodes_to_its_text(),
            bytes: Vec::with_capacity(size * 4 + WORD),
            pieces: Vec::with_capacity(size),
        };
        for id in 0..size {
            let start = table.bytes.len() as u32;
            match tokenizer.decode(&[id as u32]) {
                Ok(piece) => {
                    table.bytes.extend_from_slice(&piece);
                    table.pieces.push([start, table.bytes.len() as u32]);
                }
                Err(_) => table.pieces.push([1, 0]),
            }
        }
        table.bytes.extend_from_slice(&[0; WORD]);
        table
    }

    /// The same table, comparing every token with the text even where the tokenizer
    /// guarantees it (to test that comparison).
    #[cfg(test)]
    pub(crate) fn comparing_every_token(mut self) -> TokenBytes {
        self.exact = false;
        self
    }

    /// Whether the table was read from `tokenizer`.
    pub fn is_of(&self, tokenizer: &dyn Tokenizer) -> bool {
        self.fingerprint == tokenizer.fingerprint()
    }

    fn piece(&self, id: u32) -> Option<&[u8]> {
        let &[start, end] = self.pieces.get(id as usize)?;
        self.bytes.get(start as usize..end as usize)
    }

    /// Where `id`'s bytes end in `text` if they are there from `at`; `None` if they are
    /// not, or `id` stands for nothing.
    #[inline]
    fn spelled_at(&self, id: u32, text: &[u8], at: usize) -> Option<usize> {
        let &[start, end] = self.pieces.get(id as usize)?;
        let len = end.checked_sub(start)? as usize;
        let start = start as usize;
        if len <= WORD
            && let Some(here) = text.get(at..at + WORD)
        {
            // One comparison of a word, not a call to `memcmp`: most tokens are a few
            // bytes. The bytes past the token's are masked off.
            let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("a word"));
            let piece = word(&self.bytes[start..start + WORD]);
            let kept = u64::MAX.checked_shr(64 - 8 * len as u32).unwrap_or(0);
            return ((word(here) ^ piece) & kept == 0).then_some(at + len);
        }
        (text.get(at..at + len)? == &self.bytes[start..start + len]).then_some(at + len)
    }
}

/// Where each of `ids` ends in `text` (bytes): token `i` covers `ends[i - 1]..ends[i]`
/// (from 0 for the first). Each token's bytes must be the text's at that place: of an
/// exact tokenizer their lengths must add up to the text's (and, in builds with debug
/// assertions, each is compared as well); of any other each is compared.
pub fn token_ends(table: &TokenBytes, ids: &[u32], text: &str) -> Result<Vec<usize>, RecordFault> {
    if !table.exact || cfg!(debug_assertions) {
        let ends = compared_ends(table, ids, text)?;
        debug_assert!(!table.exact || ends == lengths_ends(table, ids, text)?);
        return Ok(ends);
    }
    lengths_ends(table, ids, text)
}

/// Token ends from the tokens' lengths alone; their sum must be the text's length.
pub(crate) fn lengths_ends(
    table: &TokenBytes,
    ids: &[u32],
    text: &str,
) -> Result<Vec<usize>, RecordFault> {
    let mut ends = Vec::with_capacity(ids.len());
    let mut at = 0usize;
    for (index, &id) in ids.iter().enumerate() {
        match table.pieces.get(id as usize) {
            Some(&[start, end]) if start <= end => {
                at += (end - start) as usize;
                ends.push(at);
            }
            _ => return Err(misspelled(table, index, id, at)),
        }
    }
    if at != text.len() {
        return Err(decoded_length(at, text));
    }
    Ok(ends)
}

/// Token ends found by comparing each token's bytes with the text's at its place.
fn compared_ends(table: &TokenBytes, ids: &[u32], text: &str) -> Result<Vec<usize>, RecordFault> {
    let bytes = text.as_bytes();
    let mut ends = Vec::with_capacity(ids.len());
    let mut at = 0;
    for (index, &id) in ids.iter().enumerate() {
        match table.spelled_at(id, bytes, at) {
            Some(end) => {
                ends.push(end);
                at = end;
            }
            None => return Err(misspelled(table, index, id, at)),
        }
    }
    if at != bytes.len() {
        return Err(decoded_length(at, text));
    }
    Ok(ends)
}

#[cold]
fn decoded_length(at: usize, text: &str) -> RecordFault {
    RecordFault {
        reason: "tokenizer_offsets",
        message: format!(
            "the tokens decode to {at} bytes of the {}-byte rendered text",
            text.len()
        ),
    }
}

/// Why token `index` (id `id`) is not the text at byte `at`.
#[cold]
fn misspelled(table: &TokenBytes, index: usize, id: u32, at: usize) -> RecordFault {
    let message = match table.piece(id) {
        None => format!("token {index} (id {id}) stands for nothing in the vocabulary"),
        Some(piece) => format!(
            "token {index} (id {id}) decodes to {:?}, which is not the rendered text at byte \
             {at}: the tokenizer does not give the text back byte for byte, so the trained \
             text cannot be mapped to tokens",
            String::from_utf8_lossy(piece)
        ),
    };
    RecordFault {
        reason: "tokenizer_offsets",
        message,
    }
}

/// Where each token of a text lies: its end, and its start where the tokenizer aligns its
/// tokens itself (two tokens may share a character there: SentencePiece's `▁` before a
/// byte token); else a token starts where the one before it ends.
#[derive(Debug, Default)]
pub struct TokenPlaces {
    pub ends: Vec<usize>,
    pub starts: Option<Vec<usize>>,
}

impl TokenPlaces {
    /// Where token `index` starts.
    fn start(&self, index: usize) -> usize {
        match &self.starts {
            Some(starts) => starts[index],
            None => index.checked_sub(1).map_or(0, |before| self.ends[before]),
        }
    }
}

/// The mask of the tokens at `places` for `spans` (sorted), and how many span edges fell
/// inside a token.
///
/// Token `i` overlaps span `s..e` iff it ends after `s` and starts before `e`: the tokens
/// from the first ending after `s` to the last starting before `e`, found by binary search
/// (starts and ends never go back), so the cost is per span, not per token.
#[cfg(test)]
pub fn mask_tokens(places: &TokenPlaces, spans: &[Range<usize>]) -> (Vec<bool>, u64) {
    let mut mask = vec![0; places.ends.len()];
    let edges = mark_tokens(places, spans, &mut mask);
    (mask.into_iter().map(|m| m != 0).collect(), edges)
}

/// [`mask_tokens`] into `mask` (as long as the tokens, all 0): 1 for each trained token.
pub fn mark_tokens(places: &TokenPlaces, spans: &[Range<usize>], mask: &mut [u8]) -> u64 {
    let ends = &places.ends;
    for span in spans.iter().filter(|span| span.end > 0) {
        let first = ends.partition_point(|&end| end <= span.start);
        let through = match &places.starts {
            Some(starts) => starts.partition_point(|&start| start < span.end),
            // Token `i` starts where `i - 1` ends: it starts before `e` iff `i - 1` ends
            // before `e`.
            None => (ends.partition_point(|&end| end < span.end) + 1).min(ends.len()),
        };
        if first < through {
            mask[first..through].fill(1);
        }
    }
    // An edge is inside the first token ending after it if that token starts before it.
    let inside = |at: usize| {
        let token = ends.partition_point(|&end| end <= at);
        token < ends.len() && places.start(token) < at
    };
    spans
        .iter()
        .filter(|span| !span.is_empty())
        .map(|span| u64::from(inside(span.start)) + u64::from(inside(span.end)))
        .sum()
}

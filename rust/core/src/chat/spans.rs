//! Text spans to a token mask.
//!
//! The rule (HF's, from `apply_chat_template(return_assistant_tokens_mask=True)`): a token
//! is trained iff it overlaps a trained span, that is it starts before the span ends and
//! ends after it starts. So a token that holds both the last prompt byte and the first
//! answer byte is trained, and so is one that holds the answer's last byte and what
//! follows it. Each span edge that falls strictly inside a token is counted. (Like HF, an
//! empty span marks the one token that straddles it, if any, and counts no edge.)
//!
//! Spans are byte ranges of the rendered text; tokens' byte ranges come from decoding each
//! id alone (once per tokenizer, [`TokenBytes`]), which must give back the text byte for
//! byte (true of byte-level tokenizers).

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
    bytes: Vec<u8>,
    /// Id `i`'s bytes are `bytes[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    /// Ids that decode to nothing (holes in the vocabulary).
    unknown: Vec<bool>,
}

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
            bytes: Vec::with_capacity(size * 4),
            starts: Vec::with_capacity(size + 1),
            unknown: vec![false; size],
        };
        table.starts.push(0);
        for id in 0..size {
            match tokenizer.decode(&[id as u32]) {
                Ok(piece) => table.bytes.extend_from_slice(&piece),
                Err(_) => table.unknown[id] = true,
            }
            table.starts.push(table.bytes.len());
        }
        table
    }

    /// Whether the table was read from `tokenizer`.
    pub fn is_of(&self, tokenizer: &dyn Tokenizer) -> bool {
        self.fingerprint == tokenizer.fingerprint()
    }

    fn piece(&self, id: u32) -> Option<&[u8]> {
        let id = id as usize;
        (id < self.unknown.len() && !self.unknown[id])
            .then(|| &self.bytes[self.starts[id]..self.starts[id + 1]])
    }
}

/// Where each of `ids` ends in `text` (bytes): token `i` covers `ends[i - 1]..ends[i]`
/// (from 0 for the first). Each token's bytes must be the text's at that place.
pub fn token_ends(table: &TokenBytes, ids: &[u32], text: &str) -> Result<Vec<usize>, RecordFault> {
    let bytes = text.as_bytes();
    let mut ends = Vec::with_capacity(ids.len());
    let mut at = 0;
    for (index, &id) in ids.iter().enumerate() {
        let piece = table.piece(id).ok_or_else(|| RecordFault {
            reason: "tokenizer_offsets",
            message: format!("token {index} (id {id}) stands for nothing in the vocabulary"),
        })?;
        let end = at + piece.len();
        if bytes.get(at..end) != Some(piece) {
            return Err(RecordFault {
                reason: "tokenizer_offsets",
                message: format!(
                    "token {index} (id {id}) decodes to {:?}, which is not the rendered text at \
                     byte {at}: the tokenizer does not give the text back byte for byte, so \
                     the trained text cannot be mapped to tokens",
                    String::from_utf8_lossy(piece)
                ),
            });
        }
        ends.push(end);
        at = end;
    }
    if at != bytes.len() {
        return Err(RecordFault {
            reason: "tokenizer_offsets",
            message: format!(
                "the tokens decode to {at} bytes of the {}-byte rendered text",
                bytes.len()
            ),
        });
    }
    Ok(ends)
}

/// The mask of the tokens ending at `ends` for `spans` (sorted, not overlapping), and how
/// many span edges fell inside a token.
pub fn mask_tokens(ends: &[usize], spans: &[Range<usize>]) -> (Vec<bool>, u64) {
    let mut mask = vec![false; ends.len()];
    let mut span = 0;
    let mut start = 0;
    for (index, &end) in ends.iter().enumerate() {
        while span < spans.len() && start >= spans[span].end {
            span += 1;
        }
        if span == spans.len() {
            break;
        }
        mask[index] = end > spans[span].start;
        start = end;
    }
    let total = ends.last().copied().unwrap_or(0);
    let inside = |at: usize| at > 0 && at < total && ends.binary_search(&at).is_err();
    let edges = spans
        .iter()
        .filter(|span| !span.is_empty())
        .map(|span| u64::from(inside(span.start)) + u64::from(inside(span.end)))
        .sum();
    (mask, edges)
}

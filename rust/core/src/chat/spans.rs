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
//! id, which must give back the text byte for byte (true of byte-level tokenizers).

use std::ops::Range;

use super::RecordFault;
use crate::tokenize::Tokenizer;

/// Where each of `ids` ends in `text` (bytes): token `i` covers
/// `ends[i - 1]..ends[i]` (from 0 for the first).
pub fn token_ends(
    tokenizer: &dyn Tokenizer,
    ids: &[u32],
    text: &str,
) -> Result<Vec<usize>, RecordFault> {
    let bytes = text.as_bytes();
    let mut ends = Vec::with_capacity(ids.len());
    let mut at = 0;
    for (index, &id) in ids.iter().enumerate() {
        let piece = tokenizer.decode(&[id]).map_err(|error| RecordFault {
            reason: "tokenizer_offsets",
            message: error.to_string(),
        })?;
        let end = at + piece.len();
        if bytes.get(at..end) != Some(&piece[..]) {
            return Err(RecordFault {
                reason: "tokenizer_offsets",
                message: format!(
                    "token {index} (id {id}) decodes to {:?}, which is not the rendered text at \
                     byte {at}: the tokenizer does not give the text back byte for byte, so \
                     the trained text cannot be mapped to tokens",
                    String::from_utf8_lossy(&piece)
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

//! What a worker makes of a batch: each record's tokens (and, in a dataset with loss
//! masks, their mask), or why it has none.
//!
//! Plain text takes the path it always took: its text field is found without parsing the
//! rest of the line, and tokenized. A structured record (a conversation, a prompt/completion
//! pair) is parsed whole and handed to its format's [`crate::chat::RecordEncoder`].

use std::cell::RefCell;

use super::PreprocessOptions;
use super::input::{Batch, Payload};
use super::json_text::{FieldError, text_field};
use super::record_format::RecordFormat;
use crate::Error;
use crate::chat::{self, RecordEncoder, RecordFault, string_field};
use crate::tokenize::Tokenizer;

/// What a worker encodes with.
pub(super) struct Encoding<'a> {
    pub tokenizer: &'a dyn Tokenizer,
    pub options: &'a PreprocessOptions,
    /// The dataset has loss masks: every record's tokens come with theirs.
    pub masked: bool,
}

/// The outcome of one record, computed on a worker.
pub(super) enum Outcome {
    /// A document: the next `tokens` of the batch's tokens (and of its mask), from
    /// `text_bytes` of text, `trained` of them trained on.
    Tokens {
        tokens: usize,
        text_bytes: usize,
        trained: usize,
        edges_inside_tokens: u64,
    },
    Bad {
        reason: &'static str,
        message: String,
    },
    Failed(Error),
}

/// A tokenized record, still named by its source and line.
pub(super) struct Tokenized {
    pub source: u32,
    pub line: u64,
    pub outcome: Outcome,
}

/// A tokenized batch: its records' outcomes in order, their tokens end to end (and their
/// loss masks, 1 where trained, in a dataset with masks), and the memory of the input, to
/// be reused.
pub(super) struct TokenizedBatch {
    pub records: Vec<Tokenized>,
    pub tokens: Vec<u32>,
    pub mask: Vec<u8>,
    pub input: Option<Vec<u8>>,
}

/// Tokenizes `batch` in order into `records`, `tokens` and `mask` (all empty, reused
/// memory; `mask` is filled only in a dataset with masks).
pub(super) fn tokenize(
    batch: Batch,
    encoding: &Encoding<'_>,
    records: Vec<Tokenized>,
    tokens: Vec<u32>,
    mask: Vec<u8>,
) -> TokenizedBatch {
    let (tokenizer, options) = (encoding.tokenizer, encoding.options);
    let mut out = TokenizedBatch {
        records,
        tokens,
        mask,
        input: None,
    };
    // Room for the tokens (and their mask) at once (text takes over 2 bytes a token in
    // every corpus here), rather than growing a fresh buffer step by step, copying it each
    // time.
    out.tokens.reserve(batch.text_bytes() / 2);
    if encoding.masked {
        out.mask.reserve(batch.text_bytes() / 2);
    }
    let bad = |reason, message| Outcome::Bad { reason, message };
    match batch {
        Batch::Records(records) => {
            for record in records {
                let outcome = match record.payload {
                    Payload::Bad { reason, message } => bad(reason, message),
                    Payload::Str(text) => encode(&text, tokenizer, options, &mut out.tokens),
                    Payload::Text(bytes) => text(&bytes, tokenizer, options, &mut out.tokens),
                    Payload::Json { format, value } => structured(
                        format,
                        &chat::value::from_json(&value),
                        encoding,
                        &mut out.tokens,
                        &mut out.mask,
                    ),
                };
                mask_plain_text(encoding, &outcome, &mut out);
                out.records.push(Tokenized {
                    source: record.source,
                    line: record.line,
                    outcome,
                });
            }
        }
        Batch::Lines(chunk) => DECODED.with_borrow_mut(|scratch| {
            for (line, bytes) in chunk.lines() {
                let outcome = if !chunk.json {
                    text(bytes, tokenizer, options, &mut out.tokens)
                } else if bytes.iter().all(u8::is_ascii_whitespace) {
                    // A blank line is not a record.
                    continue;
                } else if chunk.format == RecordFormat::PromptCompletion {
                    json_pair(bytes, encoding, &mut out.tokens, &mut out.mask)
                } else if chunk.format != RecordFormat::Text {
                    match chat::value::parse(bytes) {
                        Ok(value) => structured(
                            chunk.format,
                            &value,
                            encoding,
                            &mut out.tokens,
                            &mut out.mask,
                        ),
                        Err(e) => bad("malformed_json", format!("malformed JSON: {e}")),
                    }
                } else {
                    match json_text(bytes, &options.text_field, scratch) {
                        Ok(text) => encode(text, tokenizer, options, &mut out.tokens),
                        Err(outcome) => outcome,
                    }
                };
                mask_plain_text(encoding, &outcome, &mut out);
                out.records.push(Tokenized {
                    source: chunk.source,
                    line,
                    outcome,
                });
            }
            out.input = chunk.bytes.into_buffer();
            if scratch.capacity() > MAX_KEPT_DECODED {
                // Grown for one very long document: not kept for the rest of the run.
                *scratch = String::new();
            }
        }),
    }
    out
}

/// A worker's decoded text is kept from batch to batch up to this size.
const MAX_KEPT_DECODED: usize = 4 * super::batches::BATCH_BYTES;

thread_local! {
    /// The decoded text of a JSONL line with escapes, kept by each worker from batch to
    /// batch: grown afresh in every batch, it made the allocator sweep the tokenizer's
    /// small freed blocks at each step (2 % of a run).
    static DECODED: RefCell<String> = const { RefCell::new(String::new()) };
    /// The same for the prompt and the completion of a prompt/completion line.
    static PAIR_DECODED: RefCell<(String, String)> =
        const { RefCell::new((String::new(), String::new())) };
}

/// Raw text bytes, which must be UTF-8.
fn text(
    bytes: &[u8],
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
    tokens: &mut Vec<u32>,
) -> Outcome {
    match std::str::from_utf8(bytes) {
        Ok(text) => encode(text, tokenizer, options, tokens),
        Err(e) => Outcome::Bad {
            reason: "invalid_utf8",
            message: invalid_utf8(&e),
        },
    }
}

fn encode(
    text: &str,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
    tokens: &mut Vec<u32>,
) -> Outcome {
    if text.is_empty() {
        return Outcome::Bad {
            reason: "empty",
            message: "empty document".into(),
        };
    }
    let start = tokens.len();
    tokens.extend(options.prepend);
    if let Err(error) = tokenizer.encode_into(text, tokens) {
        tokens.truncate(start);
        return Outcome::Failed(error);
    }
    tokens.extend(options.append);
    Outcome::Tokens {
        tokens: tokens.len() - start,
        text_bytes: text.len(),
        trained: tokens.len() - start,
        edges_inside_tokens: 0,
    }
}

/// In a dataset with masks, a plain-text record's tokens are all trained on: its mask is
/// filled up to its tokens.
fn mask_plain_text(encoding: &Encoding<'_>, outcome: &Outcome, out: &mut TokenizedBatch) {
    if encoding.masked && matches!(outcome, Outcome::Tokens { .. }) {
        out.mask.resize(out.tokens.len(), 1);
    }
}

/// A structured record through its format's encoder: `prepend` (not trained: nothing
/// predicts it), the encoder's ids and mask, then `append` (trained: the end of a
/// completion or conversation is learnt).
fn structured(
    format: RecordFormat,
    record: &minijinja::Value,
    encoding: &Encoding<'_>,
    tokens: &mut Vec<u32>,
    mask: &mut Vec<u8>,
) -> Outcome {
    let encoders = &encoding.options.encoders;
    let encoder: &dyn RecordEncoder = match format {
        RecordFormat::PromptCompletion => {
            let fields = string_field(record, "prompt")
                .and_then(|prompt| Ok((prompt, string_field(record, "completion")?)));
            return match fields {
                Ok((prompt, completion)) => pair(prompt, completion, encoding, tokens, mask),
                Err(fault) => Outcome::Bad {
                    reason: fault.reason,
                    message: fault.message,
                },
            };
        }
        RecordFormat::Messages => match &encoders.messages {
            Some(encoder) => encoder.as_ref(),
            // Refused before the run started.
            None => unreachable!("conversations without a chat template"),
        },
        RecordFormat::Text => unreachable!("plain text is not a structured record"),
    };
    let text_bytes = chat::value::text_bytes(record);
    framed(encoding, tokens, mask, text_bytes, |tokens, mask| {
        encoder.append(record, encoding.tokenizer, tokens, mask)
    })
}

/// A prompt/completion pair through seqpack's own encoder, which writes into the batch.
fn pair(
    prompt: &str,
    completion: &str,
    encoding: &Encoding<'_>,
    tokens: &mut Vec<u32>,
    mask: &mut Vec<u8>,
) -> Outcome {
    let encoder = &encoding.options.encoders.prompt_completion;
    let text_bytes = prompt.len() + completion.len();
    framed(encoding, tokens, mask, text_bytes, |tokens, mask| {
        encoder.encode_into(prompt, completion, encoding.tokenizer, tokens, mask)
    })
}

/// `encode` (which appends a record's ids and mask, and returns its edges inside tokens)
/// between `prepend` and `append`, as the outcome of a record of `text_bytes` bytes of
/// text; on a fault, or without ids, nothing is left appended.
fn framed(
    encoding: &Encoding<'_>,
    tokens: &mut Vec<u32>,
    mask: &mut Vec<u8>,
    text_bytes: usize,
    encode: impl FnOnce(&mut Vec<u32>, &mut Vec<u8>) -> Result<u64, RecordFault>,
) -> Outcome {
    let options = encoding.options;
    let start = tokens.len();
    tokens.extend(options.prepend);
    mask.extend(options.prepend.map(|_| 0));
    let encoded = encode(tokens, mask);
    let empty = tokens.len() == start + usize::from(options.prepend.is_some());
    let edges_inside_tokens = match encoded {
        Ok(_) if empty => {
            tokens.truncate(start);
            mask.truncate(start);
            return Outcome::Bad {
                reason: "empty",
                message: "empty document".into(),
            };
        }
        Ok(edges) => edges,
        Err(fault) => {
            tokens.truncate(start);
            mask.truncate(start);
            return Outcome::Bad {
                reason: fault.reason,
                message: fault.message,
            };
        }
    };
    tokens.extend(options.append);
    mask.extend(options.append.map(|_| 1));
    Outcome::Tokens {
        tokens: tokens.len() - start,
        text_bytes,
        trained: count_trained(&mask[start..]),
        edges_inside_tokens,
    }
}

/// How many tokens of `mask` are trained (not 0): summed a block of 255 at a time in
/// bytes, which the compiler does 16 or 32 at once (counted one by one into a `usize` it
/// took a percent of a conversation's cost).
fn count_trained(mask: &[u8]) -> usize {
    mask.chunks(255)
        .map(|block| usize::from(block.iter().fold(0u8, |sum, &m| sum + u8::from(m != 0))))
        .sum()
}

/// The `prompt` and `completion` of a JSONL line, found as plain text's field is (without
/// parsing the rest of the line), and encoded.
fn json_pair(
    bytes: &[u8],
    encoding: &Encoding<'_>,
    tokens: &mut Vec<u32>,
    mask: &mut Vec<u8>,
) -> Outcome {
    let bad = |reason, message| Outcome::Bad { reason, message };
    let line = match std::str::from_utf8(bytes) {
        Ok(line) => line,
        Err(e) => return bad("invalid_utf8", invalid_utf8(&e)),
    };
    PAIR_DECODED.with_borrow_mut(|(prompt_scratch, completion_scratch)| {
        let field = |name: &str, scratch| {
            text_field(line, name, scratch).map_err(|error| match error {
                FieldError::Malformed(message) => {
                    bad("malformed_json", format!("malformed JSON: {message}"))
                }
                FieldError::Missing | FieldError::NotAString("null") => {
                    bad("missing_field", format!("no field {name:?}"))
                }
                FieldError::NotAString(kind) => bad(
                    "not_a_string",
                    format!("field {name:?} is not a string but {kind}"),
                ),
            })
        };
        let prompt = match field("prompt", prompt_scratch) {
            Ok(prompt) => prompt,
            Err(outcome) => return outcome,
        };
        let completion = match field("completion", completion_scratch) {
            Ok(completion) => completion,
            Err(outcome) => return outcome,
        };
        let outcome = pair(prompt, completion, encoding, tokens, mask);
        for scratch in [prompt_scratch, completion_scratch] {
            if scratch.capacity() > MAX_KEPT_DECODED {
                *scratch = String::new();
            }
        }
        outcome
    })
}

fn invalid_utf8(error: &std::str::Utf8Error) -> String {
    format!("invalid UTF-8 at byte {}", error.valid_up_to())
}

/// The text field of a JSONL line, borrowed from it when it has no escapes, else decoded
/// into `scratch`.
fn json_text<'a>(
    bytes: &'a [u8],
    field: &str,
    scratch: &'a mut String,
) -> Result<&'a str, Outcome> {
    let bad = |reason, message| Outcome::Bad { reason, message };
    let line = std::str::from_utf8(bytes).map_err(|e| bad("invalid_utf8", invalid_utf8(&e)))?;
    text_field(line, field, scratch).map_err(|error| match error {
        FieldError::Malformed(message) => {
            bad("malformed_json", format!("malformed JSON: {message}"))
        }
        FieldError::Missing => bad("missing_field", format!("no field {field:?}")),
        FieldError::NotAString(kind) => bad(
            "missing_field",
            format!("field {field:?} is not a string but {kind}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::count_trained;

    proptest! {
        /// Blocks of up to 255 bytes never overflow their byte sum, whatever the values.
        #[test]
        fn trained_tokens_are_the_nonzero_bytes(mask in prop::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..2000,
        )) {
            prop_assert_eq!(count_trained(&mask), mask.iter().filter(|&&m| m != 0).count());
        }
    }

    #[test]
    fn a_long_fully_trained_mask_counts_every_token() {
        assert_eq!(count_trained(&[1; 100_000]), 100_000);
    }
}

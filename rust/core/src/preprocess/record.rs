//! What a worker makes of one record: its tokens, or why it has none.

use std::borrow::Cow;

use super::input::{Payload, Record};
use super::json_text::{FieldError, text_field};
use super::{Encoder, PreprocessOptions};
use crate::Error;

/// The outcome of one record, computed on a worker.
pub(super) enum Outcome {
    Tokens {
        tokens: Vec<u32>,
        text_bytes: usize,
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

pub(super) fn tokenize(
    record: Record,
    encoder: &dyn Encoder,
    options: &PreprocessOptions,
) -> Tokenized {
    let bad = |reason, message| Outcome::Bad { reason, message };
    let outcome = match record.payload {
        Payload::Bad { reason, message } => bad(reason, message),
        Payload::Str(text) => encode(&text, encoder, options),
        Payload::Text(bytes) => match std::str::from_utf8(&bytes) {
            Ok(text) => encode(text, encoder, options),
            Err(e) => bad("invalid_utf8", invalid_utf8(&e)),
        },
        Payload::Json(bytes) => match json_text(&bytes, &options.text_field) {
            Ok(text) => encode(&text, encoder, options),
            Err(outcome) => outcome,
        },
    };
    Tokenized {
        source: record.source,
        line: record.line,
        outcome,
    }
}

fn encode(text: &str, encoder: &dyn Encoder, options: &PreprocessOptions) -> Outcome {
    if text.is_empty() {
        return Outcome::Bad {
            reason: "empty",
            message: "empty document".into(),
        };
    }
    match encoder.encode(text) {
        Ok(ids) => {
            let tokens = match options.prepend {
                None => {
                    let mut tokens = ids;
                    tokens.extend(options.append);
                    tokens
                }
                Some(first) => {
                    let mut tokens = Vec::with_capacity(ids.len() + 2);
                    tokens.push(first);
                    tokens.extend(ids);
                    tokens.extend(options.append);
                    tokens
                }
            };
            Outcome::Tokens {
                tokens,
                text_bytes: text.len(),
            }
        }
        Err(error) => Outcome::Failed(error),
    }
}

fn invalid_utf8(error: &std::str::Utf8Error) -> String {
    format!("invalid UTF-8 at byte {}", error.valid_up_to())
}

/// The text field of a JSONL line, borrowed from it when it has no escapes.
fn json_text<'a>(bytes: &'a [u8], field: &str) -> Result<Cow<'a, str>, Outcome> {
    let bad = |reason, message| Outcome::Bad { reason, message };
    let line = std::str::from_utf8(bytes).map_err(|e| bad("invalid_utf8", invalid_utf8(&e)))?;
    text_field(line, field).map_err(|error| match error {
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

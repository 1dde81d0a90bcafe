//! The encoder of `prompt`/`completion` records, as TRL's `SFTTrainer` prepares
//! non-conversational prompt/completion data: the ids are those of `prompt + completion`
//! encoded as one text, and the completion starts where they stop agreeing with the ids of
//! the prompt encoded alone (their common prefix).
//!
//! Edge rule: when the last tokens of the prompt merge with the first of the completion
//! (`"… is"` + `"  SELECT"`), the prompt's ids are not a prefix of the whole's, and the
//! first token that differs, which holds the end of the prompt and the start of the
//! completion, is trained on (as TRL does). Each such record counts one edge inside a
//! token.

use minijinja::Value;

use super::{RecordEncoder, RecordFault, TrainOn, value};
use crate::tokenize::Tokenizer;

/// Encodes `{"prompt": str, "completion": str}` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptCompletion {
    /// `Completion` (or the assistant modes, for which the completion is the assistant's
    /// turn) trains on the completion only; `All` on every token.
    pub train_on: TrainOn,
}

impl PromptCompletion {
    pub fn new(train_on: TrainOn) -> Self {
        PromptCompletion { train_on }
    }

    fn trains_prompt(&self) -> bool {
        self.train_on == TrainOn::All
    }
}

/// The string field `name` of `record`, or why it has none (a null field is missing).
pub fn string_field<'r>(record: &'r Value, name: &str) -> Result<&'r str, RecordFault> {
    let Some(object) = value::object(record) else {
        return Err(RecordFault {
            reason: "not_an_object",
            message: format!("the record is {}, not an object", value::kind(record)),
        });
    };
    match object.get(name) {
        None => Err(RecordFault {
            reason: "missing_field",
            message: format!("no field {name:?}"),
        }),
        Some(field) if field.is_none() => Err(RecordFault {
            reason: "missing_field",
            message: format!("no field {name:?}"),
        }),
        Some(field) => field.as_str().ok_or_else(|| RecordFault {
            reason: "not_a_string",
            message: format!("field {name:?} is not a string but {}", value::kind(field)),
        }),
    }
}

impl PromptCompletion {
    /// Appends the ids of `prompt + completion` to `ids` and their mask (1 where trained)
    /// to `mask`, which must be as long as `ids`; returns the mask edges that fell inside a
    /// token (0 or 1). On an error both are left as they were.
    pub fn encode_into(
        &self,
        prompt: &str,
        completion: &str,
        tokenizer: &dyn Tokenizer,
        ids: &mut Vec<u32>,
        mask: &mut Vec<u8>,
    ) -> Result<u64, RecordFault> {
        debug_assert_eq!(ids.len(), mask.len(), "a mask runs beside its ids");
        let tokenize_error = |error: crate::Error| RecordFault {
            reason: "tokenizer_error",
            message: error.to_string(),
        };
        let start = ids.len();
        SCRATCH.with_borrow_mut(|(whole, prompt_ids)| {
            whole.clear();
            whole.push_str(prompt);
            whole.push_str(completion);
            prompt_ids.clear();
            tokenizer
                .encode_into(prompt, prompt_ids)
                .map_err(tokenize_error)?;
            if let Err(error) = tokenizer.encode_into(whole, ids) {
                ids.truncate(start);
                return Err(tokenize_error(error));
            }
            let prompt_len = prompt_ids
                .iter()
                .zip(&ids[start..])
                .take_while(|(a, b)| a == b)
                .count();
            mask.extend(std::iter::repeat_n(
                u8::from(self.trains_prompt()),
                prompt_len,
            ));
            mask.resize(ids.len(), 1);
            if whole.capacity() > MAX_KEPT_SCRATCH {
                // Grown for one very long record: not kept for the rest of the run.
                *whole = String::new();
                *prompt_ids = Vec::new();
            }
            Ok(u64::from(prompt_len < prompt_ids.len()))
        })
    }
}

/// A worker's scratch text and prompt ids are kept from record to record up to this size.
const MAX_KEPT_SCRATCH: usize = 1 << 20;

thread_local! {
    /// The text `prompt + completion` and the prompt's own ids, kept by each thread from
    /// record to record rather than allocated for each.
    static SCRATCH: std::cell::RefCell<(String, Vec<u32>)> =
        const { std::cell::RefCell::new((String::new(), Vec::new())) };
}

impl RecordEncoder for PromptCompletion {
    fn append(
        &self,
        record: &Value,
        tokenizer: &dyn Tokenizer,
        ids: &mut Vec<u32>,
        mask: &mut Vec<u8>,
    ) -> Result<u64, RecordFault> {
        let prompt = string_field(record, "prompt")?;
        let completion = string_field(record, "completion")?;
        self.encode_into(prompt, completion, tokenizer, ids, mask)
    }

    fn fingerprint(&self) -> String {
        let description = format!("prompt-completion|v1|{:?}", self.trains_prompt());
        format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(description.as_bytes())
        )
    }
}

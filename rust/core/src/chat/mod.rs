//! Conversations and instruction records: which of their tokens are trained on.
//!
//! A record that is more than plain text (a conversation of `messages`, a
//! `prompt`/`completion` pair) becomes token ids with a loss mask through one
//! [`RecordEncoder`]; preprocessing stores both, and the loader turns the mask into labels.

mod clock;
pub mod conversation;
mod encoder;
mod encoders;
mod generation;
mod literals;
mod prefix;
mod prompt_completion;
mod pyfilters;
mod pyjson;
mod pyrepr;
mod pystr;
mod pytests;
pub mod source;
pub mod spans;
pub mod template;
pub mod value;

#[cfg(test)]
mod tests;

pub use encoder::{ChatEncoding, ChatOptions, ChatTemplate};
pub use encoders::{EncoderOptions, RecordEncoders, record_encoders};
pub use prompt_completion::{PromptCompletion, string_field};

use crate::tokenize::Tokenizer;

/// Token ids with a per-token loss mask: `mask[i]` is true where token `i` is trained on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskedIds {
    pub ids: Vec<u32>,
    pub mask: Vec<bool>,
    /// Mask edges that fell inside a token (the text to train on started or ended within
    /// it), resolved by the encoder's documented rule and counted here.
    pub edges_inside_tokens: u64,
}

impl MaskedIds {
    /// From what an encoder appended: the mask as bytes, 1 where trained.
    fn from_appended(ids: Vec<u32>, mask: Vec<u8>, edges_inside_tokens: u64) -> MaskedIds {
        MaskedIds {
            ids,
            mask: mask.into_iter().map(|m| m != 0).collect(),
            edges_inside_tokens,
        }
    }
}

/// Which tokens of a record are trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainOn {
    /// Every assistant turn (what the template marks as generated).
    #[default]
    Assistant,
    /// Only the last assistant turn.
    LastAssistant,
    /// Every token.
    All,
    /// The completion of a `prompt`/`completion` record.
    Completion,
}

impl TrainOn {
    pub const ALL: [TrainOn; 4] = [
        TrainOn::Assistant,
        TrainOn::LastAssistant,
        TrainOn::All,
        TrainOn::Completion,
    ];

    /// The name in options and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TrainOn::Assistant => "assistant",
            TrainOn::LastAssistant => "last-assistant",
            TrainOn::All => "all",
            TrainOn::Completion => "completion",
        }
    }
}

impl std::str::FromStr for TrainOn {
    type Err = crate::Error;
    fn from_str(name: &str) -> crate::Result<Self> {
        TrainOn::ALL
            .into_iter()
            .find(|choice| choice.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = TrainOn::ALL.iter().map(|c| c.name()).collect();
                crate::Error::invalid_option(
                    "train_on",
                    format!("{name:?} is not one of {names:?}"),
                )
            })
    }
}

/// Why one record could not be encoded: a short reason key (counted under `--on-error
/// skip`, e.g. `unknown_role`, `template_error`) and a message. The caller adds the file and
/// line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFault {
    pub reason: &'static str,
    pub message: String,
}

/// Turns one parsed record (a JSON object, as [`value`] reads it) into ids and a loss mask.
pub trait RecordEncoder: Send + Sync {
    /// Appends the record's ids to `ids` and their mask (1 where trained) to `mask`, and
    /// returns the mask edges that fell inside a token. On a fault some may have been
    /// appended: the caller drops them.
    fn append(
        &self,
        record: &minijinja::Value,
        tokenizer: &dyn Tokenizer,
        ids: &mut Vec<u32>,
        mask: &mut Vec<u8>,
    ) -> Result<u64, RecordFault>;

    /// The record's ids and mask on their own.
    fn encode(
        &self,
        record: &minijinja::Value,
        tokenizer: &dyn Tokenizer,
    ) -> Result<MaskedIds, RecordFault> {
        let (mut ids, mut mask) = (Vec::new(), Vec::new());
        let edges_inside_tokens = self.append(record, tokenizer, &mut ids, &mut mask)?;
        Ok(MaskedIds::from_appended(ids, mask, edges_inside_tokens))
    }

    /// 16 hex digits that change whenever the ids or mask of some record could (the
    /// template's hash with the options); recorded in the manifest.
    fn fingerprint(&self) -> String;
}

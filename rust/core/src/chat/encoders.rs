//! The encoders a preprocess run uses for structured records, built from the options in one
//! place: the command line, the Python API and the tests all come through
//! [`record_encoders`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::prompt_completion::PromptCompletion;
use super::{RecordEncoder, TrainOn};
use crate::tokenize::Tokenizer;
use crate::{Error, Result};

/// The names of [`TrainOn`]'s choices, as options spell them.
pub const TRAIN_ON: &[(&str, TrainOn)] = &[
    ("assistant", TrainOn::Assistant),
    ("last-assistant", TrainOn::LastAssistant),
    ("all", TrainOn::All),
    ("completion", TrainOn::Completion),
];

impl std::str::FromStr for TrainOn {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        TRAIN_ON
            .iter()
            .find(|(known, _)| *known == name)
            .map(|&(_, train_on)| train_on)
            .ok_or_else(|| {
                let names: Vec<&str> = TRAIN_ON.iter().map(|(name, _)| *name).collect();
                Error::invalid_option(
                    "train_on",
                    format!("{name:?} is unknown; expected one of {}", names.join(", ")),
                )
            })
    }
}

/// What the encoders of structured records are made from.
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    /// What to train on; `None`: each format's default (`assistant` for conversations,
    /// `completion` for prompt/completion records).
    pub train_on: Option<TrainOn>,
    /// The chat template file for conversations.
    pub chat_template: Option<PathBuf>,
    /// Variables handed to the template (`enable_thinking`, …).
    pub template_vars: BTreeMap<String, serde_json::Value>,
}

/// The encoder of each structured record format.
#[derive(Clone)]
pub struct RecordEncoders {
    /// Conversations (`messages`), rendered with a chat template; `None` when no template
    /// was given, and a run that meets a conversation stops before it starts.
    pub messages: Option<Arc<dyn RecordEncoder>>,
    /// `prompt`/`completion` records (seqpack's own encoder, whose fields preprocess reads
    /// without parsing the whole record).
    pub prompt_completion: PromptCompletion,
}

impl Default for RecordEncoders {
    fn default() -> Self {
        RecordEncoders {
            messages: None,
            prompt_completion: PromptCompletion::new(TrainOn::Completion),
        }
    }
}

impl std::fmt::Debug for RecordEncoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordEncoders")
            .field("messages", &self.messages.as_ref().map(|e| e.fingerprint()))
            .field("prompt_completion", &self.prompt_completion.fingerprint())
            .finish()
    }
}

/// The encoders `options` ask for. The chat template engine plugs in here: conversations
/// are encoded by it, everything else stays as it is.
pub fn record_encoders(
    options: &ChatOptions,
    _tokenizer: &dyn Tokenizer,
) -> Result<RecordEncoders> {
    let messages: Option<Arc<dyn RecordEncoder>> = match &options.chat_template {
        Some(path) => {
            return Err(Error::invalid_option(
                "chat_template",
                format!(
                    "{}: this build of seqpack does not render chat templates",
                    path.display()
                ),
            ));
        }
        None => None,
    };
    let prompt_completion = PromptCompletion::new(options.train_on.unwrap_or(TrainOn::Completion));
    Ok(RecordEncoders {
        messages,
        prompt_completion,
    })
}

//! The encoders a preprocess run uses for structured records, built from the options in one
//! place: the command line, the Python API and the tests all come through
//! [`record_encoders`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::prompt_completion::PromptCompletion;
use super::{ChatOptions, ChatTemplate, RecordEncoder, TrainOn, source};
use crate::tokenize::Tokenizer;
use crate::{Error, Result};

/// What the encoders of structured records are made from.
#[derive(Debug, Clone, Default)]
pub struct EncoderOptions {
    /// What to train on; `None`: each format's default (`assistant` for conversations,
    /// `completion` for prompt/completion records).
    pub train_on: Option<TrainOn>,
    /// The chat template file for conversations; `None`: the default template beside
    /// `tokenizer_path`, if there is one.
    pub chat_template: Option<PathBuf>,
    /// The `tokenizer.json` the run uses, where it is a file: its directory may hold the
    /// chat template and the special tokens the template sees (`tokenizer_config.json`).
    pub tokenizer_path: Option<PathBuf>,
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

/// The encoders `options` ask for: conversations through the chat template (the one given,
/// else the default one beside the tokenizer), prompt/completion records through seqpack's
/// own encoder.
pub fn record_encoders(
    options: &EncoderOptions,
    _tokenizer: &dyn Tokenizer,
) -> Result<RecordEncoders> {
    let template = match (&options.chat_template, &options.tokenizer_path) {
        (Some(path), _) => Some(source::read_template(path)?),
        (None, Some(tokenizer_path)) => source::default_beside(tokenizer_path)?,
        (None, None) => None,
    };
    let messages: Option<Arc<dyn RecordEncoder>> = match template {
        Some(template) => {
            let mut chat = ChatOptions {
                train_on: options.train_on.unwrap_or(TrainOn::Assistant),
                variables: options.template_vars.clone().into_iter().collect(),
            };
            if let Some(tokenizer_path) = &options.tokenizer_path {
                chat.add_special_tokens_beside(tokenizer_path)?;
            }
            let encoder = ChatTemplate::new(&template.text, chat).map_err(|error| {
                Error::invalid_option("chat_template", format!("{}: {error}", template.origin))
            })?;
            Some(Arc::new(encoder))
        }
        None => None,
    };
    let prompt_completion = PromptCompletion::new(options.train_on.unwrap_or(TrainOn::Completion));
    Ok(RecordEncoders {
        messages,
        prompt_completion,
    })
}

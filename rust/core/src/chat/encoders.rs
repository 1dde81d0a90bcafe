//! The encoders a preprocess run uses for structured records, built from the options in one
//! place: the command line, the Python API and the tests all come through
//! [`record_encoders`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::prompt_completion::PromptCompletion;
use super::{ChatOptions, ChatTemplate, RecordEncoder, RecordFault, TrainOn, source};
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
/// else the one beside the tokenizer: its `tool_use` template for conversations with
/// `tools` where it has one, else its default), prompt/completion records through
/// seqpack's own encoder.
pub fn record_encoders(
    options: &EncoderOptions,
    _tokenizer: &dyn Tokenizer,
) -> Result<RecordEncoders> {
    let chat = || -> Result<ChatOptions> {
        let mut chat = ChatOptions {
            train_on: options.train_on.unwrap_or(TrainOn::Assistant),
            variables: options.template_vars.clone().into_iter().collect(),
        };
        if let Some(tokenizer_path) = &options.tokenizer_path {
            chat.add_special_tokens_beside(tokenizer_path)?;
        }
        Ok(chat)
    };
    let compile = |template: source::TemplateText| -> Result<ChatTemplate> {
        ChatTemplate::new(&template.text, chat()?).map_err(|error| {
            Error::invalid_option("chat_template", format!("{}: {error}", template.origin))
        })
    };
    let messages: Option<Arc<dyn RecordEncoder>> =
        match (&options.chat_template, &options.tokenizer_path) {
            (Some(path), _) => Some(Arc::new(compile(source::read_template(path)?)?)),
            (None, Some(tokenizer_path)) => {
                let defaults = source::defaults_beside(tokenizer_path)?;
                let default = defaults.default.map(compile).transpose()?;
                match defaults.tool_use.map(compile).transpose()? {
                    Some(tool_use) => Some(Arc::new(ByTools { default, tool_use })),
                    None => default.map(|d| Arc::new(d) as Arc<dyn RecordEncoder>),
                }
            }
            (None, None) => None,
        };
    let prompt_completion = PromptCompletion::new(options.train_on.unwrap_or(TrainOn::Completion));
    Ok(RecordEncoders {
        messages,
        prompt_completion,
    })
}

/// The templates beside a tokenizer that ships a `tool_use` one, picked per conversation
/// as transformers picks them: `tool_use` for a conversation with `tools`, else the default.
struct ByTools {
    default: Option<ChatTemplate>,
    tool_use: ChatTemplate,
}

impl RecordEncoder for ByTools {
    fn append(
        &self,
        record: &minijinja::Value,
        tokenizer: &dyn Tokenizer,
        ids: &mut Vec<u32>,
        mask: &mut Vec<u8>,
    ) -> std::result::Result<u64, RecordFault> {
        let has_tools = super::value::object(record)
            .and_then(|fields| fields.get("tools"))
            .is_some_and(|tools| !tools.is_none());
        match (&self.default, has_tools) {
            (_, true) => self.tool_use.append(record, tokenizer, ids, mask),
            (Some(default), false) => default.append(record, tokenizer, ids, mask),
            (None, false) => Err(RecordFault {
                reason: "template_error",
                message: "the conversation has no `tools`, and the tokenizer has no default \
                          template beside its `tool_use` one"
                    .into(),
            }),
        }
    }

    fn fingerprint(&self) -> String {
        let default = self.default.as_ref().map(RecordEncoder::fingerprint);
        let key = format!("{default:?}\0{}", self.tool_use.fingerprint());
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
    }
}

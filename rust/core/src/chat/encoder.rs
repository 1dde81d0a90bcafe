//! [`ChatTemplate`]: conversations to ids and a loss mask through a chat template.
//!
//! What is trained comes, in this order, from:
//! 1. the template's `{% generation %}` blocks, when it has them (one block per assistant
//!    message: the text the model generates);
//! 2. otherwise prefix rendering ([`prefix`]): assistant message `i` adds the text between
//!    the rendering of `messages[..i]` with the generation prompt and the rendering of
//!    `messages[..=i]`, found in the whole conversation's rendering where a template does
//!    not render a conversation as an extension of its shorter ones;
//! 3. and within either, the data's per-message `train`/`weight`, over [`TrainOn`]'s
//!    default (every assistant message, or only the last).
//!
//! The rendered text is tokenized with added tokens recognised and nothing added around it
//! (HF's `add_special_tokens=False`); [`spans::mark_tokens`] turns the trained text into
//! the mask.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use minijinja::value::Value;
use serde_json::{Map, Value as Json};

use super::conversation::Conversation;
use super::prefix;
use super::spans::{self, TokenBytes, TokenPlaces};
use super::template::{RESERVED, RenderFault, Template};
use super::{MaskedIds, RecordEncoder, RecordFault, TrainOn};
use crate::tokenize::Tokenizer;
use crate::{Error, Result};

/// How conversations are rendered and masked.
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    pub train_on: TrainOn,
    /// What the template sees besides the conversation: the special tokens (`bos_token`,
    /// …) and extra variables (`enable_thinking`), the latter overriding the former.
    pub variables: Map<String, Json>,
}

impl ChatOptions {
    /// Adds the special tokens of the `tokenizer_config.json` beside `tokenizer_json` (as
    /// HF passes them), under the variables already set.
    pub fn add_special_tokens_beside(&mut self, tokenizer_json: &Path) -> Result<()> {
        for (name, token) in super::source::special_tokens_beside(tokenizer_json)? {
            self.variables.entry(name).or_insert(token);
        }
        Ok(())
    }
}

/// A conversation rendered and encoded: the text, and its ids with the mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEncoding {
    pub text: String,
    pub masked: MaskedIds,
}

/// A chat template with its variables and what to train on.
#[derive(Debug)]
pub struct ChatTemplate {
    template: Template,
    variables: Arc<[(String, Value)]>,
    train_on: TrainOn,
    fingerprint: String,
}

impl ChatTemplate {
    /// Compiles `source`. `train_on` may not be [`TrainOn::Completion`] (that is for
    /// `prompt`/`completion` records), and no variable may be named as one HF sets itself.
    pub fn new(source: &str, options: ChatOptions) -> Result<ChatTemplate> {
        if options.train_on == TrainOn::Completion {
            return Err(Error::InvalidOption {
                name: "train_on",
                message: "\"completion\" is for prompt/completion records; a conversation \
                          trains on \"assistant\", \"last-assistant\" or \"all\""
                    .into(),
            });
        }
        if let Some(name) = RESERVED
            .iter()
            .find(|n| options.variables.contains_key(**n))
        {
            return Err(Error::InvalidOption {
                name: "variables",
                message: format!("may not set {name:?}: the conversation sets it"),
            });
        }
        let template = Template::new(source)?;
        let fingerprint = fingerprint(source, &options);
        let variables = options
            .variables
            .iter()
            .map(|(name, value)| (name.clone(), super::value::from_json(value)))
            .collect();
        Ok(ChatTemplate {
            template,
            variables,
            train_on: options.train_on,
            fingerprint,
        })
    }

    /// The template's text.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    /// Whether the template has `{% generation %}` blocks (else prefix rendering).
    pub fn has_generation(&self) -> bool {
        self.template.has_generation()
    }

    /// Renders and encodes one conversation record (`messages`, optional `tools`).
    pub fn encode_record(
        &self,
        record: &Value,
        tokenizer: &dyn Tokenizer,
        add_generation_prompt: bool,
    ) -> std::result::Result<ChatEncoding, RecordFault> {
        let (mut ids, mut mask) = (Vec::new(), Vec::new());
        let (text, edges_inside_tokens) = self.append_rendered(
            record,
            tokenizer,
            add_generation_prompt,
            &mut ids,
            &mut mask,
        )?;
        Ok(ChatEncoding {
            text,
            masked: MaskedIds::from_appended(ids, mask, edges_inside_tokens),
        })
    }

    /// Renders one conversation record, appends its ids and mask (1 where trained) to
    /// `ids` and `mask`; the rendered text and the mask edges inside tokens.
    fn append_rendered(
        &self,
        record: &Value,
        tokenizer: &dyn Tokenizer,
        add_generation_prompt: bool,
        ids: &mut Vec<u32>,
        mask: &mut Vec<u8>,
    ) -> std::result::Result<(String, u64), RecordFault> {
        let conversation = Conversation::from_record(record)?;
        let (text, trained) = self.trained_text(&conversation, add_generation_prompt)?;
        let start = ids.len();
        let tokenizer_error = |error: Error| RecordFault {
            reason: "tokenizer_error",
            message: error.to_string(),
        };
        let mut places = TokenPlaces::default();
        let mut starts = Vec::new();
        match tokenizer.encode_aligned_into(&text, ids, &mut starts, &mut places.ends) {
            Some(encoded) => {
                encoded.map_err(tokenizer_error)?;
                places.starts = Some(starts);
            }
            None => {
                tokenizer.encode_into(&text, ids).map_err(tokenizer_error)?;
                places.ends = spans::token_ends(&TokenBytes::of(tokenizer), &ids[start..], &text)?;
            }
        }
        mask.resize(ids.len(), 0);
        let edges_inside_tokens = spans::mark_tokens(&places, &trained, &mut mask[start..]);
        Ok((text, edges_inside_tokens))
    }

    /// The rendered conversation and the byte ranges of it to train on.
    fn trained_text(
        &self,
        conversation: &Conversation,
        add_generation_prompt: bool,
    ) -> std::result::Result<(String, Vec<Range<usize>>), RecordFault> {
        let full = self.render(&conversation.messages, conversation, add_generation_prompt)?;
        if self.train_on == TrainOn::All {
            let whole = 0..full.text.len();
            return Ok((full.text, vec![whole]));
        }
        let assistants: Vec<usize> = conversation.assistant_indices().collect();
        let last = assistants.last().copied();
        let chosen: Vec<bool> = assistants
            .iter()
            .map(|&index| {
                conversation.train[index].unwrap_or(match self.train_on {
                    TrainOn::LastAssistant => Some(index) == last,
                    _ => true,
                })
            })
            .collect();
        let trained = if self.template.has_generation() {
            if chosen.iter().all(|&c| c) {
                // Every block is trained, however many the template wrote per message.
                full.generated
            } else if full.generated.len() == assistants.len() {
                full.generated
                    .iter()
                    .zip(&chosen)
                    .filter(|(_, chosen)| **chosen)
                    .map(|(span, _)| span.clone())
                    .collect()
            } else {
                return Err(RecordFault {
                    reason: "generation_blocks",
                    message: format!(
                        "the template rendered {} generation blocks for {} assistant \
                         messages; choosing messages to train on needs one block each",
                        full.generated.len(),
                        assistants.len()
                    ),
                });
            }
        } else {
            let render = |messages: &[Value], add_generation_prompt: bool| {
                self.template
                    .render_text(
                        messages,
                        &conversation.tools,
                        add_generation_prompt,
                        &self.variables,
                    )
                    .map_err(record_fault)
            };
            let mut trained = Vec::new();
            for (&index, _) in assistants.iter().zip(&chosen).filter(|(_, c)| **c) {
                trained.push(prefix::added_by(
                    &render,
                    &conversation.messages,
                    index,
                    &full.text,
                    add_generation_prompt,
                )?);
            }
            trained
        };
        Ok((full.text, trained))
    }

    fn render(
        &self,
        messages: &[Value],
        conversation: &Conversation,
        add_generation_prompt: bool,
    ) -> std::result::Result<super::template::Rendered, RecordFault> {
        self.template
            .render(
                messages,
                &conversation.tools,
                add_generation_prompt,
                &self.variables,
            )
            .map_err(record_fault)
    }
}

fn record_fault(fault: RenderFault) -> RecordFault {
    match fault {
        RenderFault::Raised(message) => RecordFault {
            reason: "raise_exception",
            message: format!("the template raised: {message}"),
        },
        RenderFault::Failed(message) => RecordFault {
            reason: "template_error",
            message,
        },
    }
}

impl RecordEncoder for ChatTemplate {
    fn append(
        &self,
        record: &Value,
        tokenizer: &dyn Tokenizer,
        ids: &mut Vec<u32>,
        mask: &mut Vec<u8>,
    ) -> std::result::Result<u64, RecordFault> {
        Ok(self.append_rendered(record, tokenizer, false, ids, mask)?.1)
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
}

/// The template's text, the variables (in key order: the order they were given in does not
/// change a rendering) and what is trained on.
fn fingerprint(source: &str, options: &ChatOptions) -> String {
    let sorted: std::collections::BTreeMap<&String, &Json> = options.variables.iter().collect();
    let variables = serde_json::to_string(&sorted).expect("JSON values serialize");
    let key = format!(
        "seqpack-chat-1\0{source}\0{variables}\0{:?}",
        options.train_on
    );
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
}

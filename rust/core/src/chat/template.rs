//! A chat template compiled once, rendered as HF's `apply_chat_template` renders it: the
//! Jinja environment of `_compile_jinja_template` (`trim_blocks`, `lstrip_blocks`, loop
//! controls, `raise_exception`, `strftime_now`, `namespace`, `dict`, `|tojson` as
//! `json.dumps`, `|trim` as `str.strip`), Python's string and dict methods (`.strip()`,
//! `.split()`, `.items()`, …),
//! and the variables HF passes: `messages`, `tools`, `documents`, `add_generation_prompt`,
//! the special tokens and any extra variable.

use std::ops::Range;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value, ValueKind};
use minijinja::{Environment, Error as JinjaError, ErrorKind, UndefinedBehavior};

use super::clock::Civil;
use super::generation::{self, Rewrite};
use super::{literals, pyfilters, pyjson, pyrepr, pystr, pytests};
use crate::{Error, Result};

/// The template's name in the environment (and in its error messages).
const NAME: &str = "chat_template";

/// What the template sees besides the conversation; set by HF itself, so not a variable.
pub(crate) const RESERVED: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

/// A compiled chat template.
pub struct Template {
    env: Environment<'static>,
    source: String,
    has_generation: bool,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .field("has_generation", &self.has_generation)
            .finish()
    }
}

/// One rendering: the text, and the byte ranges of its `{% generation %}` blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub generated: Vec<Range<usize>>,
}

/// Why a rendering failed: a `raise_exception` call, or any other template error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderFault {
    Raised(String),
    Failed(String),
}

/// What `raise_exception` attaches to its error, to tell it from the engine's errors.
#[derive(Debug)]
struct Raised(String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

impl Template {
    /// Compiles `source`; a syntax error names its line.
    pub fn new(source: &str) -> Result<Template> {
        let refuse_literal = |message| Error::InvalidOption {
            name: "chat_template",
            message,
        };
        let python_literals = literals::rewrite(source).map_err(refuse_literal)?;
        let (rewritten, has_generation) = generation::rewrite(&python_literals, Rewrite::Markers);
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .expect("the default delimiters are valid");
        env.set_syntax(syntax);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_formatter(write_value);
        env.set_unknown_method_callback(pystr::methods);
        env.add_filter("trim", pystr::trim);
        pyfilters::register(&mut env);
        env.add_filter("tojson", pyjson::tojson);
        env.add_test("iterable", |value: &Value| pytests::is_iterable(value));
        env.add_test("sequence", |value: &Value| pytests::is_sequence(value));
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<Value, JinjaError> {
                Err(
                    JinjaError::new(ErrorKind::InvalidOperation, message.clone())
                        .with_source(Raised(message)),
                )
            },
        );
        env.add_function("strftime_now", |format: String| {
            Civil::now()
                .strftime(&format)
                .map_err(|message| JinjaError::new(ErrorKind::InvalidOperation, message))
        });
        let refuse = |error: JinjaError| Error::InvalidOption {
            name: "chat_template",
            message: describe(&error, source),
        };
        if has_generation {
            let (nesting, _) = generation::rewrite(&python_literals, Rewrite::Nesting);
            env.add_template_owned(NAME, nesting).map_err(refuse)?;
        }
        env.add_template_owned(NAME, rewritten).map_err(refuse)?;
        Ok(Template {
            env,
            source: source.to_owned(),
            has_generation,
        })
    }

    /// The text the template was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template marks generated text with `{% generation %}` blocks.
    pub fn has_generation(&self) -> bool {
        self.has_generation
    }

    /// Renders `messages` (and `tools`, `None` if absent) with `variables` (the special
    /// tokens and extra variables, already checked not to be [`RESERVED`]).
    pub fn render(
        &self,
        messages: &[Value],
        tools: &Value,
        add_generation_prompt: bool,
        variables: &Arc<[(String, Value)]>,
    ) -> std::result::Result<Rendered, RenderFault> {
        let mut text = self.render_text(messages, tools, add_generation_prompt, variables)?;
        let generated = generation::take_spans(&mut text).map_err(RenderFault::Failed)?;
        Ok(Rendered { text, generated })
    }

    /// [`Template::render`]'s text as the engine writes it: generation markers (and any
    /// the messages were given) still in it.
    pub(crate) fn render_text(
        &self,
        messages: &[Value],
        tools: &Value,
        add_generation_prompt: bool,
        variables: &Arc<[(String, Value)]>,
    ) -> std::result::Result<String, RenderFault> {
        let context = Value::from_object(Context {
            messages: Value::from(messages.to_vec()),
            tools: tools.clone(),
            add_generation_prompt,
            variables: variables.clone(),
        });
        let template = self
            .env
            .get_template(NAME)
            .map_err(|error| RenderFault::Failed(describe(&error, &self.source)))?;
        template.render(context).map_err(|error| {
            match std::error::Error::source(&error).and_then(|s| s.downcast_ref::<Raised>()) {
                Some(Raised(message)) => RenderFault::Raised(message.clone()),
                None => RenderFault::Failed(describe(&error, &self.source)),
            }
        })
    }
}

/// Writes a value the template outputs without escaping: a string (nearly every value a
/// chat template outputs) straight, not through `Display`; floats and the records' lists and
/// dicts as Python prints them ([`pyrepr`]); anything else as minijinja's own formatter does.
fn write_value(
    out: &mut minijinja::Output,
    _: &mut minijinja::State,
    value: &Value,
) -> std::result::Result<(), JinjaError> {
    let written = match value.kind() {
        ValueKind::String => out.write_str(value.as_str().unwrap_or_default()),
        _ => pyrepr::write_printed(out, value).unwrap_or_else(|| write!(out, "{value}")),
    };
    written.map_err(JinjaError::from)
}

/// What a rendering reads: the conversation and HF's flag, and the variables, each found
/// by name without building a map per rendering.
#[derive(Debug)]
struct Context {
    messages: Value,
    tools: Value,
    add_generation_prompt: bool,
    variables: Arc<[(String, Value)]>,
}

impl Object for Context {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        match key {
            "messages" => Some(self.messages.clone()),
            "tools" => Some(self.tools.clone()),
            "documents" => Some(Value::from(())),
            "add_generation_prompt" => Some(Value::from(self.add_generation_prompt)),
            _ => self
                .variables
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone()),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names = self.variables.iter().map(|(name, _)| name.as_str());
        Enumerator::Values(names.chain(RESERVED).map(Value::from).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.variables.len() + RESERVED.len())
    }
}

/// A template error with the line of the template it happened on, as written.
fn describe(error: &JinjaError, source: &str) -> String {
    let detail = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    match error.line() {
        Some(line) => {
            let text = source
                .lines()
                .nth(line.saturating_sub(1))
                .unwrap_or("")
                .trim();
            format!("template line {line} ({text}): {detail}")
        }
        None => detail,
    }
}

//! Where a model's chat template and special tokens are, as HF's `from_pretrained` finds
//! them in the tokenizer's directory: `chat_template.jinja` (the default) and
//! `additional_chat_templates/NAME.jinja` first; else `chat_template` in
//! `tokenizer_config.json`, a string or a list of `{"name", "template"}`. The special tokens
//! (`bos_token`, `eos_token`, …) come from `tokenizer_config.json`, a string or an
//! `AddedToken` object with `content`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::{Error, Result};

/// The special tokens HF passes to templates (`special_tokens_map`).
pub const SPECIAL_TOKENS: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// A template's text and where it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateText {
    pub text: String,
    pub origin: String,
}

/// The name of the template HF uses for conversations with tools, when a tokenizer has one.
const TOOL_USE: &str = "tool_use";

/// Reads a template file.
pub fn read_template(path: &Path) -> Result<TemplateText> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(TemplateText {
        text,
        origin: path.display().to_string(),
    })
}

/// The template beside `tokenizer_json` as transformers' `get_chat_template` picks it: the
/// one called `name`; without a name, `tool_use` for a conversation `with_tools` if there is
/// one, else the default.
pub fn beside_tokenizer(
    tokenizer_json: &Path,
    name: Option<&str>,
    with_tools: bool,
) -> Result<TemplateText> {
    let named = templates_beside(tokenizer_json)?;
    if named.is_empty() {
        return Err(Error::InvalidOption {
            name: "chat_template",
            message: format!(
                "none beside {}: no chat_template.jinja, and no `chat_template` in \
                 tokenizer_config.json; give the template",
                tokenizer_json.display()
            ),
        });
    }
    let wanted = match name {
        Some(name) => name,
        None if with_tools && named.iter().any(|(n, _)| n == TOOL_USE) => TOOL_USE,
        None => "default",
    };
    let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
    named
        .into_iter()
        .find(|(n, _)| n == wanted)
        .map(|(_, template)| template)
        .ok_or_else(|| Error::InvalidOption {
            name: "chat_template",
            message: format!(
                "{wanted:?} is not among the templates beside {}: {names:?}",
                tokenizer_json.display()
            ),
        })
}

/// The templates beside `tokenizer_json` that a run picks from per conversation, as
/// [`beside_tokenizer`] does without a name.
#[derive(Debug, Default)]
pub struct Defaults {
    pub default: Option<TemplateText>,
    /// For conversations with `tools`.
    pub tool_use: Option<TemplateText>,
}

/// The default and `tool_use` templates beside `tokenizer_json`, those there are.
pub fn defaults_beside(tokenizer_json: &Path) -> Result<Defaults> {
    let mut defaults = Defaults::default();
    for (name, template) in templates_beside(tokenizer_json)? {
        match name.as_str() {
            "default" => defaults.default = Some(template),
            TOOL_USE => defaults.tool_use = Some(template),
            _ => {}
        }
    }
    Ok(defaults)
}

/// The templates beside `tokenizer_json` by name, found as HF finds them:
/// `chat_template.jinja` (the default) and `additional_chat_templates/*.jinja`, else
/// `chat_template` in `tokenizer_config.json`.
fn templates_beside(tokenizer_json: &Path) -> Result<Vec<(String, TemplateText)>> {
    let dir = directory(tokenizer_json);
    let mut named: Vec<(String, TemplateText)> = Vec::new();
    let default_file = dir.join("chat_template.jinja");
    if default_file.is_file() {
        named.push(("default".into(), read_template(&default_file)?));
    }
    let extra_dir = dir.join("additional_chat_templates");
    if extra_dir.is_dir() {
        let entries = std::fs::read_dir(&extra_dir).map_err(|e| Error::io(&extra_dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&extra_dir, e))?.path();
            if let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".jinja"))
            {
                named.push((stem.to_owned(), read_template(&path)?));
            }
        }
    }
    if named.is_empty() {
        named = from_config(&dir)?;
    }
    Ok(named)
}

/// The special tokens in the `tokenizer_config.json` beside `tokenizer_json`, if any.
pub fn special_tokens_beside(tokenizer_json: &Path) -> Result<Map<String, Json>> {
    let Some((path, config)) = read_config(&directory(tokenizer_json))? else {
        return Ok(Map::new());
    };
    let mut tokens = Map::new();
    for key in SPECIAL_TOKENS {
        let content = match config.get(key) {
            None | Some(Json::Null) => continue,
            Some(Json::String(content)) => content.clone(),
            Some(Json::Object(token)) => match token.get("content") {
                Some(Json::String(content)) => content.clone(),
                _ => {
                    return Err(bad_config(
                        &path,
                        &format!("`{key}` has no string `content`"),
                    ));
                }
            },
            Some(_) => return Err(bad_config(&path, &format!("`{key}` is not a token"))),
        };
        tokens.insert(key.to_owned(), Json::String(content));
    }
    Ok(tokens)
}

fn directory(tokenizer_json: &Path) -> PathBuf {
    if tokenizer_json.is_dir() {
        return tokenizer_json.to_owned();
    }
    tokenizer_json
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

fn read_config(dir: &Path) -> Result<Option<(PathBuf, Map<String, Json>)>> {
    let path = dir.join("tokenizer_config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    match serde_json::from_str(&text) {
        Ok(Json::Object(config)) => Ok(Some((path, config))),
        Ok(_) => Err(bad_config(&path, "not a JSON object")),
        Err(error) => Err(bad_config(&path, &error.to_string())),
    }
}

fn from_config(dir: &Path) -> Result<Vec<(String, TemplateText)>> {
    let Some((path, config)) = read_config(dir)? else {
        return Ok(Vec::new());
    };
    let origin = |name: &str| format!("{} chat_template[{name}]", path.display());
    match config.get("chat_template") {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::String(text)) => Ok(vec![(
            "default".into(),
            TemplateText {
                text: text.clone(),
                origin: origin("default"),
            },
        )]),
        Some(Json::Array(templates)) => templates
            .iter()
            .map(|entry| match (entry.get("name"), entry.get("template")) {
                (Some(Json::String(name)), Some(Json::String(text))) => Ok((
                    name.clone(),
                    TemplateText {
                        text: text.clone(),
                        origin: origin(name),
                    },
                )),
                _ => Err(bad_config(
                    &path,
                    "a `chat_template` entry lacks a string `name` or `template`",
                )),
            })
            .collect(),
        Some(_) => Err(bad_config(
            &path,
            "`chat_template` is neither a string nor a list of named templates",
        )),
    }
}

fn bad_config(path: &Path, message: &str) -> Error {
    Error::Format {
        path: path.display().to_string(),
        message: message.to_owned(),
    }
}

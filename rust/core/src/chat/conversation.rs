//! A `messages` record checked and shaped as HF hands it to a template: every message an
//! object with a known `role` and a `content` that is a string or a list of text parts,
//! keys whose value is `null` dropped, reasoning under its three names (`thinking`,
//! `reasoning_content`, `reasoning`) as `_alias_reasoning_fields` does; plus what the data
//! says per message about training (`train`, `weight`).

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectExt, Value};
use serde_json::{Map, Value as Json};

use super::RecordFault;
use super::generation::holds_marker;
use super::template::to_value;

/// Roles a message may have.
pub const ROLES: [&str; 7] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
    "ipython",
];

/// Names HF reads a message's reasoning under; it fills `thinking` and
/// `reasoning_content` from the first present.
const REASONING: [&str; 3] = ["reasoning_content", "thinking", "reasoning"];

/// A conversation ready to render.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The messages as the template sees them.
    pub messages: Vec<Value>,
    /// Whether each message is the assistant's.
    pub is_assistant: Vec<bool>,
    /// The data's own choice per message (`train`, or `weight` > 0), if it made one.
    pub train: Vec<Option<bool>>,
    /// The record's `tools`, or none.
    pub tools: Value,
}

/// `map[key]`. Records and messages have a handful of keys, found sooner by comparing them
/// in turn than by hashing the key.
fn field<'m>(map: &'m Map<String, Json>, key: &str) -> Option<&'m Json> {
    if map.len() <= SMALL_MAP {
        map.iter()
            .find_map(|(k, value)| (k == key).then_some(value))
    } else {
        map.get(key)
    }
}

/// Maps up to this many keys are searched in turn.
const SMALL_MAP: usize = 8;

fn fault(reason: &'static str, message: String) -> RecordFault {
    RecordFault { reason, message }
}

/// `value` as `pick` reads it; else a fault for `reason`, saying it is `missing` or what
/// kind of value it is instead (`wrong` gets the kind).
fn required<'v, T>(
    value: Option<&'v Json>,
    pick: impl FnOnce(&'v Json) -> Option<T>,
    reason: &'static str,
    missing: impl FnOnce() -> String,
    wrong: impl FnOnce(&str) -> String,
) -> Result<T, RecordFault> {
    match value {
        None => Err(fault(reason, missing())),
        Some(value) => {
            let kind = kind(value);
            pick(value).ok_or_else(|| fault(reason, wrong(kind)))
        }
    }
}

impl Conversation {
    /// Checks `record` (a JSON object with `messages` and optionally `tools`).
    pub fn from_record(record: &Json) -> Result<Conversation, RecordFault> {
        let top = |key| record.as_object().and_then(|fields| field(fields, key));
        let messages = required(
            top("messages"),
            Json::as_array,
            "missing_messages",
            || "the record has no `messages`".into(),
            |kind| format!("`messages` is {kind}, not a list of messages"),
        )?;
        let tools = match top("tools") {
            None | Some(Json::Null) => Value::from(()),
            Some(tools @ Json::Array(_)) => {
                if value_holds_marker(tools) {
                    return Err(marker_fault("`tools`"));
                }
                to_value(tools)
            }
            Some(other) => {
                return Err(fault(
                    "bad_tools",
                    format!("`tools` is {}, not a list of tool schemas", kind(other)),
                ));
            }
        };
        let mut conversation = Conversation {
            messages: Vec::with_capacity(messages.len()),
            is_assistant: Vec::with_capacity(messages.len()),
            train: Vec::with_capacity(messages.len()),
            tools,
        };
        for (index, message) in messages.iter().enumerate() {
            let Json::Object(message) = message else {
                return Err(fault(
                    "bad_message",
                    format!("message {index} is {}, not an object", kind(message)),
                ));
            };
            let role = required(
                field(message, "role"),
                Json::as_str,
                "unknown_role",
                || format!("message {index} has no `role`"),
                |kind| format!("message {index}: `role` is {kind}, not a string"),
            )?;
            if !ROLES.contains(&role) {
                return Err(fault(
                    "unknown_role",
                    format!("message {index} has role {role:?}, not one of {ROLES:?}"),
                ));
            }
            check_content(field(message, "content"), index)?;
            let train = training_choice(message, index, role)?;
            refuse_markers_in(message, index)?;
            conversation.messages.push(template_message(message));
            conversation.is_assistant.push(role == "assistant");
            conversation.train.push(train);
        }
        Ok(conversation)
    }

    /// Indices of the assistant's messages.
    pub fn assistant_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.is_assistant
            .iter()
            .enumerate()
            .filter_map(|(index, &assistant)| assistant.then_some(index))
    }
}

/// `content`: a string, a list of `{"type": "text", "text": …}` parts, or absent/null.
fn check_content(content: Option<&Json>, index: usize) -> Result<(), RecordFault> {
    match content {
        None | Some(Json::Null | Json::String(_)) => Ok(()),
        Some(Json::Array(parts)) => {
            for (part_index, part) in parts.iter().enumerate() {
                let text_part = part.get("type").and_then(Json::as_str) == Some("text")
                    && part.get("text").is_some_and(Json::is_string);
                if !text_part {
                    return Err(fault(
                        "bad_content",
                        format!(
                            "message {index}, content part {part_index}: expected \
                             {{\"type\": \"text\", \"text\": \"…\"}}, got {}",
                            short(part)
                        ),
                    ));
                }
            }
            Ok(())
        }
        Some(other) => Err(fault(
            "bad_content",
            format!(
                "message {index}: `content` is {}, not a string or a list of text parts",
                kind(other)
            ),
        )),
    }
}

/// The data's choice for one message: `train` (a boolean) or `weight` (a number; > 0
/// trains). Only the assistant's messages can be chosen: what a template marks as
/// generated is theirs.
fn training_choice(
    message: &Map<String, Json>,
    index: usize,
    role: &str,
) -> Result<Option<bool>, RecordFault> {
    let train = field(message, "train").filter(|value| !value.is_null());
    let weight = field(message, "weight").filter(|value| !value.is_null());
    let choice = match (train, weight) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(fault(
                "bad_override",
                format!("message {index} has both `train` and `weight`; give one"),
            ));
        }
        (Some(Json::Bool(train)), None) => *train,
        (None, Some(Json::Number(weight))) => {
            let weight = weight.as_f64().unwrap_or(f64::NAN);
            if weight.is_nan() || weight < 0.0 {
                return Err(fault(
                    "bad_override",
                    format!("message {index}: `weight` is {weight}; it must be 0 or more"),
                ));
            }
            weight > 0.0
        }
        (Some(other), None) | (None, Some(other)) => {
            return Err(fault(
                "bad_override",
                format!(
                    "message {index}: `train` must be true or false and `weight` a number, \
                     got {}",
                    short(other)
                ),
            ));
        }
    };
    if role != "assistant" {
        return Err(fault(
            "bad_override",
            format!(
                "message {index} ({role}) sets `train`/`weight`, which only the assistant's \
                 messages can"
            ),
        ));
    }
    Ok(Some(choice))
}

/// The message as HF renders it: `null` values dropped, and reasoning found under any of
/// its names given as `thinking` and `reasoning_content` too (HF's
/// `{"thinking": r, **message, "reasoning_content": r}`).
fn template_message(message: &Map<String, Json>) -> Value {
    let reasoning = REASONING
        .iter()
        .find_map(|key| field(message, key).filter(|value| !value.is_null()))
        .map(to_value);
    let mut fields = Message(Vec::with_capacity(message.len() + 2));
    if let Some(reasoning) = &reasoning {
        fields.set("thinking", reasoning.clone());
    }
    for (key, value) in message {
        if value.is_null() {
            continue;
        }
        // The data's keys are distinct: only the one set above can be there already, and
        // searching for every key would make a message of many keys cost their square.
        if key == "thinking" {
            fields.set(key, to_value(value));
        } else {
            fields.0.push((Value::from(key.as_str()), to_value(value)));
        }
    }
    if let Some(reasoning) = reasoning {
        fields.set("reasoning_content", reasoning);
    }
    Value::from_object(fields)
}

/// A message as the template reads it: a map of its few keys in the data's order, found by
/// comparing them in turn, which costs less to build and to read than a hashed map.
#[derive(Debug)]
struct Message(Vec<(Value, Value)>);

impl Message {
    /// Sets `key`; a key set before keeps its place and takes the new value (as a dict
    /// does).
    fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
            Some((_, old)) => *old = value,
            None => self.0.push((Value::from(key), value)),
        }
    }
}

impl Object for Message {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, value)| value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_rev_key_value_enumerator(|this| {
            Box::new(this.0.iter().map(|(k, v)| (k.clone(), v.clone())))
        })
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Text holding the characters that mark generated spans would be misread; no real text
/// holds them (they are Unicode noncharacters).
fn refuse_markers_in(message: &Map<String, Json>, index: usize) -> Result<(), RecordFault> {
    let holds = message
        .iter()
        .any(|(key, value)| holds_marker(key) || value_holds_marker(value));
    if holds {
        return Err(marker_fault(&format!("message {index}")));
    }
    Ok(())
}

fn value_holds_marker(value: &Json) -> bool {
    match value {
        Json::String(text) => holds_marker(text),
        Json::Array(items) => items.iter().any(value_holds_marker),
        Json::Object(map) => map
            .iter()
            .any(|(key, item)| holds_marker(key) || value_holds_marker(item)),
        _ => false,
    }
}

fn marker_fault(what: &str) -> RecordFault {
    fault(
        "bad_content",
        format!(
            "{what} holds U+FDD0 or U+FDD1, Unicode noncharacters that seqpack reserves to \
             mark generated text"
        ),
    )
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// A value for an error message, cut short.
fn short(value: &Json) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

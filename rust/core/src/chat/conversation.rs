//! A `messages` record checked and shaped as HF hands it to a template: every message an
//! object with a known `role` and a `content` that is a string or a list of text parts,
//! keys whose value is `null` dropped, reasoning under its three names (`thinking`,
//! `reasoning_content`, `reasoning`) as `_alias_reasoning_fields` does; plus what the data
//! says per message about training (`train`, `weight`).

use minijinja::value::{Value, ValueKind};

use super::RecordFault;
use super::generation::holds_marker;
use super::value::{JsonObject, kind, list, object, short};

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

fn fault(reason: &'static str, message: String) -> RecordFault {
    RecordFault { reason, message }
}

/// `value` as `pick` reads it; else a fault for `reason`, saying it is `missing` or what
/// kind of value it is instead (`wrong` gets the kind).
fn required<'v, T>(
    value: Option<&'v Value>,
    pick: impl FnOnce(&'v Value) -> Option<T>,
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
    /// Checks `record` (an object with `messages` and optionally `tools`).
    pub fn from_record(record: &Value) -> Result<Conversation, RecordFault> {
        let top = |key| object(record).and_then(|fields| fields.get(key));
        let messages = required(
            top("messages"),
            list,
            "missing_messages",
            || "the record has no `messages`".into(),
            |kind| format!("`messages` is {kind}, not a list of messages"),
        )?;
        let tools = match top("tools") {
            None => Value::from(()),
            Some(tools) if tools.is_none() => Value::from(()),
            Some(tools) if tools.kind() == ValueKind::Seq => {
                if value_holds_marker(tools) {
                    return Err(marker_fault("`tools`"));
                }
                tools.clone()
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
        for (index, value) in messages.iter().enumerate() {
            let Some(message) = object(value) else {
                return Err(fault(
                    "bad_message",
                    format!("message {index} is {}, not an object", kind(value)),
                ));
            };
            let role = required(
                message.get("role"),
                Value::as_str,
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
            check_content(message.get("content"), index)?;
            let train = training_choice(message, index, role)?;
            refuse_markers_in(message, index)?;
            conversation.messages.push(template_message(value, message));
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

/// A value that is there and not `null`.
fn given(value: Option<&Value>) -> Option<&Value> {
    value.filter(|value| !value.is_none())
}

/// `content`: a string, a list of `{"type": "text", "text": …}` parts, or absent/null.
fn check_content(content: Option<&Value>, index: usize) -> Result<(), RecordFault> {
    let Some(content) = given(content) else {
        return Ok(());
    };
    if content.kind() == ValueKind::String {
        return Ok(());
    }
    let Some(parts) = list(content) else {
        return Err(fault(
            "bad_content",
            format!(
                "message {index}: `content` is {}, not a string or a list of text parts",
                kind(content)
            ),
        ));
    };
    for (part_index, part) in parts.iter().enumerate() {
        let field = |key| object(part).and_then(|part| part.get(key));
        let text_part = field("type").and_then(Value::as_str) == Some("text")
            && field("text").is_some_and(|text| text.kind() == ValueKind::String);
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

/// The data's choice for one message: `train` (a boolean) or `weight` (a number; > 0
/// trains). Only the assistant's messages can be chosen: what a template marks as
/// generated is theirs.
fn training_choice(
    message: &JsonObject,
    index: usize,
    role: &str,
) -> Result<Option<bool>, RecordFault> {
    let train = given(message.get("train"));
    let weight = given(message.get("weight"));
    let choice = match (train, weight) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(fault(
                "bad_override",
                format!("message {index} has both `train` and `weight`; give one"),
            ));
        }
        (Some(train), None) if train.kind() == ValueKind::Bool => train.is_true(),
        (None, Some(weight)) if weight.kind() == ValueKind::Number => {
            let weight = f64::try_from(weight.clone()).unwrap_or(f64::NAN);
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
fn template_message(value: &Value, message: &JsonObject) -> Value {
    let as_given = message.iter().all(|(key, item)| {
        !item.is_none() && !key.as_str().is_some_and(|key| REASONING.contains(&key))
    });
    if as_given {
        // Nothing to drop or alias (nearly every message): the parsed object itself.
        return value.clone();
    }
    let reasoning = REASONING
        .iter()
        .find_map(|key| given(message.get(key)))
        .cloned();
    let mut fields = JsonObject::with_capacity(message.len() + 2);
    if let Some(reasoning) = &reasoning {
        fields.push(Value::from("thinking"), reasoning.clone());
    }
    for (key, value) in message.iter() {
        if value.is_none() {
            continue;
        }
        // The data's keys are distinct: only the one set above can be there already, and
        // searching for every key would make a message of many keys cost their square.
        if key.as_str() == Some("thinking") {
            fields.set(key.clone(), value.clone());
        } else {
            fields.push(key.clone(), value.clone());
        }
    }
    if let Some(reasoning) = reasoning {
        fields.set(Value::from("reasoning_content"), reasoning);
    }
    fields.into_value()
}

/// Text holding the characters that mark generated spans would be misread; no real text
/// holds them (they are Unicode noncharacters).
fn refuse_markers_in(message: &JsonObject, index: usize) -> Result<(), RecordFault> {
    let holds = message
        .iter()
        .any(|(key, value)| value_holds_marker(key) || value_holds_marker(value));
    if holds {
        return Err(marker_fault(&format!("message {index}")));
    }
    Ok(())
}

fn value_holds_marker(value: &Value) -> bool {
    if let Some(text) = value.as_str() {
        return holds_marker(text);
    }
    if let Some(items) = list(value) {
        return items.iter().any(value_holds_marker);
    }
    object(value).is_some_and(|fields| {
        fields
            .iter()
            .any(|(key, item)| value_holds_marker(key) || value_holds_marker(item))
    })
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

//! Prefix rendering: the text an assistant message adds to a conversation, for templates
//! without `{% generation %}` blocks.
//!
//! Where the template extends its own renderings (`messages[..i]` with the generation
//! prompt, then `messages[..=i]`, then the whole conversation, each a prefix of the next),
//! assistant message `i` adds the text between the first two.
//!
//! Many shipped templates do not: they drop a turn's reasoning once a later turn follows
//! (Qwen3, gpt-oss), open `<think>` in the generation prompt (DeepSeek-R1), or end the
//! conversation with the end-of-text token (Phi-3.5). For those the turn is found in the
//! whole rendering, which is what is trained:
//! - it starts where the whole rendering stops agreeing with `messages[..i]` rendered with
//!   the generation prompt (what the model is given when it answers), the two compared from
//!   the end of the previous message's text in each (from their starts if no message
//!   before has text); where they part inside what looks like one token (`<think>` in the
//!   prompt, `<|im_end|>` after an empty answer), at the whitespace or closing bracket
//!   before it;
//! - it ends after the message's text, with as much of what follows that text in the
//!   rendering of `messages[..=i]` (the turn's end token, its tool calls) as the whole
//!   rendering has there too (up to a whitespace or a closing bracket, where the two
//!   differ: `<|end|>` then `<|endoftext|>` in one, `<|user|>` in the other).
//!
//! Messages' texts are found by rendering them with a marker after each (a noncharacter
//! that data may not hold), put before trailing whitespace so that a template that strips
//! the text strips the same; an assistant message whose text the template does not write
//! is marked after the name of its last tool call. The rendering with its markers taken out must be the
//! rendering without them, and the message's marker must be there once, or the record is
//! refused: the template reads the text in a way the marker changes.

use std::ops::Range;

use minijinja::value::Value;

use super::RecordFault;
use super::generation::{CLOSE, OPEN, take_markers};
use super::pystr::is_python_space;
use super::value::{JsonObject, list, object};

/// Renders messages (with the generation prompt or not) to text, markers kept.
pub(crate) type Render<'a> = dyn Fn(&[Value], bool) -> Result<String, RecordFault> + 'a;

/// The byte range of `full` (the whole conversation rendered with `add_generation_prompt`)
/// that assistant message `index` adds.
pub(crate) fn added_by(
    render: &Render,
    messages: &[Value],
    index: usize,
    full: &str,
    add_generation_prompt: bool,
) -> Result<Range<usize>, RecordFault> {
    let before = render(&messages[..index], true)?;
    let rendered;
    let through = if index + 1 == messages.len() && !add_generation_prompt {
        // The same messages and flag as `full`: the same rendering, not made twice.
        full
    } else {
        rendered = render(&messages[..=index], false)?;
        rendered.as_str()
    };
    if through.starts_with(&before) && full.starts_with(through) {
        return Ok(before.len()..through.len());
    }
    found_in_full(
        render,
        messages,
        index,
        [full, &before, through],
        add_generation_prompt,
    )
}

/// What assistant message `index` adds, found in `full` where the renderings do not extend
/// each other: `before` and `through` are `messages[..index]` with the generation prompt and
/// `messages[..=index]` without.
fn found_in_full(
    render: &Render,
    messages: &[Value],
    index: usize,
    [full, before, through]: [&str; 3],
    add_generation_prompt: bool,
) -> Result<Range<usize>, RecordFault> {
    let refuse = |why: &str| RecordFault {
        reason: "not_a_prefix",
        message: format!(
            "assistant message {index}: the template renders earlier messages differently \
             once later ones follow, and {why}; give the template {{% generation %}} blocks"
        ),
    };
    let markings: Vec<Value> = [with_marker, with_tool_call_marker, with_empty_marker]
        .iter()
        .filter_map(|marking| marking(&messages[index], CLOSE))
        .collect();
    if markings.is_empty() {
        return Err(refuse(
            "the message has neither text nor a tool call nor empty content to find its turn \
             by",
        ));
    }
    let mut marked = messages.to_vec();
    // The previous message with text: the turn may not start before its text ends.
    if let Some((previous, message)) = (0..index)
        .rev()
        .find_map(|k| with_marker(&messages[k], OPEN).map(|message| (k, message)))
    {
        marked[previous] = message;
    }
    // A rendering that fails with a marker is one the marker changes.
    let find = |marked: &[Value], add_generation_prompt, plain| {
        Marked::find(render(marked, add_generation_prompt).ok()?, plain)
    };
    let previous_in_before = find(&marked[..index], true, before).and_then(|m| m.previous_end);
    for message in markings {
        marked[index] = message;
        let (Some(in_full), Some(in_through)) = (
            find(&marked, add_generation_prompt, full),
            find(&marked[..=index], false, through),
        ) else {
            continue;
        };
        let (Some(marked_end), Some(marked_end_in_through)) =
            (in_full.text_end, in_through.text_end)
        else {
            continue;
        };
        let turn_end = &through[marked_end_in_through..];
        let end = marked_end + agreeing_part(turn_end, &full[marked_end..]);
        let start = match (in_full.previous_end, previous_in_before) {
            // What the prompt has after the previous message's text, the whole rendering
            // has there too: where the two part, the turn starts.
            (Some(in_full), Some(in_before)) => {
                in_full + agreeing_part(&before[in_before..], &full[in_full..])
            }
            // No previous text to start from: the prompt must lead into the turn from the
            // start, and not start before the previous text, if only the prompt lacks it.
            (previous_end, _) => {
                let start = agreeing_part(before, full);
                if start < previous_end.unwrap_or(0) {
                    return Err(refuse(LEADS_ELSEWHERE));
                }
                start
            }
        };
        if start > marked_end {
            return Err(refuse(LEADS_ELSEWHERE));
        }
        return Ok(start..end);
    }
    Err(refuse(
        "marking the message's text or its last tool call changes the rendering",
    ))
}

const LEADS_ELSEWHERE: &str =
    "the rendering with the generation prompt does not lead into the message's turn";

/// Where the marked texts are in a rendering.
struct Marked {
    /// Where the assistant message's text (or last tool call's name) ends.
    text_end: Option<usize>,
    /// Where the previous message's text ends.
    previous_end: Option<usize>,
}

impl Marked {
    /// The places of the markers in `rendered`, if taking them out leaves `plain` and
    /// neither is there twice.
    fn find(mut rendered: String, plain: &str) -> Option<Marked> {
        let markers = take_markers(&mut rendered);
        if rendered != plain {
            return None;
        }
        let once = |which: char| {
            let mut found = markers
                .iter()
                .filter(|(_, m)| *m == which)
                .map(|(at, _)| *at);
            let first = found.next();
            found.next().is_none().then_some(first)
        };
        Some(Marked {
            text_end: once(CLOSE)?,
            previous_end: once(OPEN)?,
        })
    }
}

/// `message` with `marker` after its text and before the text's trailing whitespace (in
/// its last text part, if its content is a list of them); `None` if it has no text.
fn with_marker(message: &Value, marker: char) -> Option<Value> {
    let fields = object(message)?;
    let content = fields.get("content")?;
    let marked = if let Some(text) = content.as_str() {
        Value::from(marked_text(text, marker)?)
    } else {
        let parts = list(content)?;
        let last = parts
            .iter()
            .rposition(|part| text_of(part).is_some_and(|text| !text.is_empty()))?;
        let mut parts = parts.to_vec();
        let text = text_of(&parts[last])?;
        parts[last] = replaced(
            object(&parts[last])?,
            "text",
            Value::from(marked_text(text, marker)?),
        );
        Value::from(parts)
    };
    Some(replaced(fields, "content", marked))
}

/// `message` with `marker` after the name of the function its last tool call calls (as
/// `{"function": {"name": …}}` or `{"name": …}`); `None` if it calls none.
fn with_tool_call_marker(message: &Value, marker: char) -> Option<Value> {
    let fields = object(message)?;
    let mut calls = list(fields.get("tool_calls")?)?.to_vec();
    let call = object(calls.last()?)?;
    let marked_call = match call.get("function").and_then(object) {
        Some(function) => {
            let name = function.get("name")?.as_str()?;
            let marked = Value::from(marked_text(name, marker)?);
            replaced(call, "function", replaced(function, "name", marked))
        }
        None => {
            let name = call.get("name")?.as_str()?;
            replaced(call, "name", Value::from(marked_text(name, marker)?))
        }
    };
    *calls.last_mut()? = marked_call;
    Some(replaced(fields, "tool_calls", Value::from(calls)))
}

/// `message` with `marker` as its content, if it has no content or empty content: where the
/// template writes an empty answer's content, the marker is where its text would be. A
/// template that writes the content only if there is some writes the marker where it
/// writes nothing, which the check of the rendering without markers refuses.
fn with_empty_marker(message: &Value, marker: char) -> Option<Value> {
    let fields = object(message)?;
    let empty = fields
        .get("content")
        .is_none_or(|content| content.as_str() == Some(""));
    empty.then(|| replaced(fields, "content", Value::from(marker.to_string())))
}

fn text_of(part: &Value) -> Option<&str> {
    object(part)?.get("text")?.as_str()
}

fn marked_text(text: &str, marker: char) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let at = text.trim_end_matches(is_python_space).len();
    let mut marked = String::with_capacity(text.len() + marker.len_utf8());
    marked.push_str(&text[..at]);
    marked.push(marker);
    marked.push_str(&text[at..]);
    Some(marked)
}

/// `fields` with `key`'s value replaced, in its place (or added last, if it has none).
fn replaced(fields: &JsonObject, key: &str, value: Value) -> Value {
    let mut copy = JsonObject::with_capacity(fields.len() + 1);
    for (name, item) in fields.iter() {
        copy.push(name.clone(), item.clone());
    }
    copy.set(Value::from(key), value);
    copy.into_value()
}

/// How much of `expected` `found` begins with, in bytes. Where the two go on differently
/// after a few characters in common (`<|end|>\n<|endoftext|>` against `<|end|>\n<|user|>`,
/// or a prompt's `<think>` against an empty answer's `<|im_end|>`), those characters begin
/// something else in `found`: the part in common ends after the last whitespace or closing
/// bracket in it, where special tokens and words end.
fn agreeing_part(expected: &str, found: &str) -> usize {
    let bytes = common_prefix(expected, found);
    if bytes == expected.len() {
        return bytes;
    }
    expected[..bytes]
        .char_indices()
        .rfind(|(_, c)| c.is_whitespace() || matches!(c, '>' | ']' | '}' | ')'))
        .map_or(0, |(at, c)| at + c.len_utf8())
}

/// The length of the longest common prefix of `a` and `b`, ending between characters.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    n
}

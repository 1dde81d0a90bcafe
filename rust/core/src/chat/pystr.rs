//! Python's `str.strip()`, `lstrip()`, `rstrip()` and Jinja's `|trim` (which is
//! `str.strip`) for chat templates, which call them on nearly every message.
//!
//! Python strips what `str.isspace()` calls whitespace: Unicode's `White_Space` characters
//! (Rust's `char::is_whitespace`) and the four separators U+001C–U+001F, which the engine's
//! own `strip` and `trim` kept. A string with nothing to strip is handed back as it is, not
//! copied: the usual case, once per message.

use std::borrow::Cow;

use minijinja::value::{StringInput, Value, ValueKind, from_args};
use minijinja::{Error, State};

/// Which ends are stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    Both,
    Start,
    End,
}

/// Whether Python's `str.isspace()` is true of `c`.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `text` stripped at `ends` of the characters in `chars`, or of whitespace if `None`.
fn strip<'a>(text: &'a str, chars: Option<&str>, ends: Ends) -> &'a str {
    let strips = |c: char| match chars {
        Some(chars) => chars.contains(c),
        None => is_python_space(c),
    };
    match ends {
        Ends::Both => text.trim_matches(strips),
        Ends::Start => text.trim_start_matches(strips),
        Ends::End => text.trim_end_matches(strips),
    }
}

/// `value` (a string) stripped; the value itself if nothing was.
fn stripped(value: &Value, text: &str, chars: Option<&str>, ends: Ends) -> Value {
    let kept = strip(text, chars, ends);
    if kept.len() == text.len() {
        value.clone()
    } else {
        Value::from(kept)
    }
}

/// The engine's callback for methods it does not know: the strip family on strings here,
/// everything else as Python-compatible methods.
pub(crate) fn methods(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let ends = match method {
        "strip" => Some(Ends::Both),
        "lstrip" => Some(Ends::Start),
        "rstrip" => Some(Ends::End),
        _ => None,
    };
    match (ends, value.kind(), value.as_str()) {
        (Some(ends), ValueKind::String, Some(text)) => {
            let (chars,): (Option<&str>,) = from_args(args)?;
            Ok(stripped(value, text, chars, ends))
        }
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}

/// The `trim` filter: `str.strip(chars)` of the value as a string.
pub(crate) fn trim(
    state: &State,
    value: &Value,
    chars: Option<Cow<'_, str>>,
) -> Result<Value, Error> {
    if let (ValueKind::String, Some(text)) = (value.kind(), value.as_str()) {
        return Ok(stripped(value, text, chars.as_deref(), Ends::Both));
    }
    let input = StringInput::new(state, value)?;
    let kept = strip(input.as_str(), chars.as_deref(), Ends::Both).to_owned();
    Ok(input.preserve_safety(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_pythons() {
        // `"\x1c a \x1f".strip() == "a"` in Python; Rust's `trim` keeps the separators.
        assert_eq!(strip("\u{1c} a \u{1f}", None, Ends::Both), "a");
        assert_eq!(
            strip("\u{1d}\n a \u{3000}", None, Ends::Start),
            "a \u{3000}"
        );
        assert_eq!(
            strip("\u{1d}\n a \u{3000}\u{1e}", None, Ends::End),
            "\u{1d}\n a"
        );
        // Not whitespace to Python: the zero-width space and U+180E.
        assert_eq!(
            strip("\u{200b}a\u{180e}", None, Ends::Both),
            "\u{200b}a\u{180e}"
        );
        assert_eq!(strip("xxaxyx", Some("xy"), Ends::Both), "a");
        assert_eq!(strip("  a  ", Some(""), Ends::Both), "  a  ");
    }
}

//! Python's string methods where the engine's differ from Python's, for chat templates:
//! `.strip()`, `.lstrip()`, `.rstrip()` and Jinja's `|trim` (which is `str.strip`), which
//! templates call on nearly every message; `.split()` (which splits at Python's whitespace
//! without a separator), `.splitlines()` and `.isspace()`, which split at or test Python's
//! whitespace and line breaks; and `.rsplit()`, `.partition()`, `.rpartition()`,
//! `.removeprefix()` and `.removesuffix()`, which the engine lacks. The other methods are
//! the engine's Python-compatible ones.
//!
//! Python's whitespace (`str.isspace()`) is Unicode's `White_Space` characters (Rust's
//! `char::is_whitespace`) and the four separators U+001C–U+001F, which the engine's own
//! methods keep. A string with nothing to strip is handed back as it is, not copied: the
//! usual case, once per message.

use std::borrow::Cow;

use minijinja::value::{Kwargs, StringInput, Value, ValueKind, from_args};
use minijinja::{Error, ErrorKind, State};

/// Which ends are stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    Both,
    Start,
    End,
}

/// Whether Python's `str.isspace()` is true of `c`.
pub(crate) fn is_python_space(c: char) -> bool {
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

/// The engine's callback for methods it does not know: those of this module on strings,
/// everything else as Python-compatible methods.
pub(crate) fn methods(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let compat = minijinja_contrib::pycompat::unknown_method_callback;
    match (value.kind(), value.as_str()) {
        (ValueKind::String, Some(_)) if matches!(method, "index" | "rindex") => {
            // `find` that raises where it would give -1.
            let find = if method == "index" { "find" } else { "rfind" };
            let found = compat(state, value, find, args)?;
            if found.as_i64() == Some(-1) {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "substring not found",
                ));
            }
            Ok(found)
        }
        (ValueKind::String, Some(text)) => match string_method(value, text, method, args) {
            Some(result) => result,
            None => compat(state, value, method, args),
        },
        _ => compat(state, value, method, args),
    }
}

/// `value.method(*args)` for `value` a string (`text`), if it is a method of this module.
fn string_method(
    value: &Value,
    text: &str,
    method: &str,
    args: &[Value],
) -> Option<Result<Value, Error>> {
    let ends = match method {
        "strip" => Ends::Both,
        "lstrip" => Ends::Start,
        "rstrip" => Ends::End,
        "split" | "rsplit" => return Some(split_method(text, method == "rsplit", args)),
        "splitlines" => {
            return Some(keep_ends(args).map(|keep| Value::from(split_lines(text, keep))));
        }
        "isspace" => {
            return Some(
                from_args::<()>(args)
                    .map(|()| Value::from(!text.is_empty() && text.chars().all(is_python_space))),
            );
        }
        "partition" | "rpartition" => {
            return Some(separator(args).map(|sep| {
                let parts = partition(text, sep, method == "rpartition");
                Value::from(parts.map(Value::from).to_vec())
            }));
        }
        "removeprefix" | "removesuffix" => {
            return Some(from_args::<(&str,)>(args).map(|(affix,)| {
                let kept = if method == "removeprefix" {
                    text.strip_prefix(affix)
                } else {
                    text.strip_suffix(affix)
                };
                kept.map_or_else(|| value.clone(), Value::from)
            }));
        }
        "ljust" | "rjust" | "center" => {
            return Some(
                from_args(args).and_then(|(width, fill): (i64, Option<&str>)| {
                    let fill = fill_char(fill)?;
                    let padded = match method {
                        "ljust" => pad(text, width, fill, |_| 0),
                        "rjust" => pad(text, width, fill, |margin| margin),
                        _ => center(text, width, fill),
                    };
                    padded.map(Value::from)
                }),
            );
        }
        "zfill" => {
            return Some(
                from_args(args).and_then(|(width,): (i64,)| zfill(text, width).map(Value::from)),
            );
        }
        "title" => return Some(from_args::<()>(args).map(|()| Value::from(title(text)))),
        "swapcase" => return Some(from_args::<()>(args).map(|()| Value::from(swapcase(text)))),
        _ => return None,
    };
    Some(from_args(args).map(|(chars,): (Option<&str>,)| stripped(value, text, chars, ends)))
}

/// `str.title()`: a cased character after a cased one is lowercased, any other uppercased
/// (so `"q"` after a quote and `"re"` after an apostrophe start words, as in Python).
fn title(text: &str) -> String {
    let mut titled = String::with_capacity(text.len());
    let mut after_cased = false;
    for c in text.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if !cased {
            titled.push(c);
        } else if after_cased {
            titled.extend(c.to_lowercase());
        } else {
            titled.extend(c.to_uppercase());
        }
        after_cased = cased;
    }
    titled
}

/// `str.swapcase()`.
fn swapcase(text: &str) -> String {
    let mut swapped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_uppercase() {
            swapped.extend(c.to_lowercase());
        } else {
            swapped.extend(c.to_uppercase());
        }
    }
    swapped
}

/// The fill character of `ljust`, `rjust` and `center`: one character, a space by default.
fn fill_char(fill: Option<&str>) -> Result<char, Error> {
    let mut chars = fill.unwrap_or(" ").chars();
    match (chars.next(), chars.next()) {
        (Some(fill), None) => Ok(fill),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            "the fill character must be exactly one character long",
        )),
    }
}

/// The widest `ljust`, `rjust`, `center` and `zfill` pad to: a wider one is refused rather
/// than allocated (Python raises `MemoryError` where it cannot allocate; here an allocation
/// that fails would end the process).
const MAX_WIDTH: i64 = 1 << 24;

/// How many characters padding `text` to `width` adds (0 or less: none).
fn margin(text: &str, width: i64) -> Result<i64, Error> {
    if width > MAX_WIDTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot pad to {width} characters (at most {MAX_WIDTH})"),
        ));
    }
    Ok(width - text.chars().count() as i64)
}

/// `text` padded with `fill` to `width` characters, `left(margin)` of them before it.
fn pad(text: &str, width: i64, fill: char, left: impl Fn(i64) -> i64) -> Result<String, Error> {
    let margin = margin(text, width)?;
    if margin <= 0 {
        return Ok(text.to_owned());
    }
    let before = left(margin);
    let mut padded = String::with_capacity(text.len() + margin as usize * fill.len_utf8());
    padded.extend(std::iter::repeat_n(fill, before as usize));
    padded.push_str(text);
    padded.extend(std::iter::repeat_n(fill, (margin - before) as usize));
    Ok(padded)
}

/// `str.center(width, fill)`: of an odd margin, the extra character goes before the text
/// when `width` is odd, after it when even (CPython's rule).
pub(crate) fn center(text: &str, width: i64, fill: char) -> Result<String, Error> {
    pad(text, width, fill, |margin| {
        margin / 2 + (margin & width & 1)
    })
}

/// `str.zfill(width)`: zeros after the sign, to `width` characters.
fn zfill(text: &str, width: i64) -> Result<String, Error> {
    let margin = margin(text, width)?;
    if margin <= 0 {
        return Ok(text.to_owned());
    }
    let signed = text.starts_with(['+', '-']);
    let (sign, digits) = text.split_at(usize::from(signed));
    Ok(format!("{sign}{}{digits}", "0".repeat(margin as usize)))
}

/// The `keepends` argument of `splitlines` (by place or by name; false if not given).
fn keep_ends(args: &[Value]) -> Result<bool, Error> {
    let (positional, kwargs): (Option<bool>, Kwargs) = from_args(args)?;
    let named: Option<bool> = kwargs.get("keepends")?;
    kwargs.assert_all_used()?;
    Ok(positional.or(named).unwrap_or(false))
}

/// `str.split(sep=None, maxsplit=-1)` or `str.rsplit`: at Python's whitespace without a
/// separator, else at each separator; arguments by place or by name.
fn split_method(text: &str, from_end: bool, args: &[Value]) -> Result<Value, Error> {
    let (sep, maxsplit, kwargs): (Option<Value>, Option<i64>, Kwargs) = from_args(args)?;
    let sep = match sep {
        Some(sep) => Some(sep),
        None => kwargs.get::<Option<Value>>("sep")?,
    };
    let maxsplit = match maxsplit {
        Some(maxsplit) => Some(maxsplit),
        None => kwargs.get::<Option<i64>>("maxsplit")?,
    };
    kwargs.assert_all_used()?;
    let sep = match sep.as_ref().filter(|sep| !sep.is_none()) {
        None => None,
        Some(sep) => Some(
            sep.as_str()
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "must be str or None"))?,
        ),
    };
    // A negative count splits everywhere, as in Python.
    let limit = maxsplit.and_then(|m| usize::try_from(m).ok());
    let parts: Vec<&str> = match (sep, from_end) {
        (Some(""), _) => {
            return Err(Error::new(ErrorKind::InvalidOperation, "empty separator"));
        }
        (Some(sep), false) => match limit {
            Some(limit) => text.splitn(limit + 1, sep).collect(),
            None => text.split(sep).collect(),
        },
        (Some(sep), true) => {
            let mut parts: Vec<&str> = match limit {
                Some(limit) => text.rsplitn(limit + 1, sep).collect(),
                None => text.rsplit(sep).collect(),
            };
            parts.reverse();
            parts
        }
        (None, false) => split_whitespace(text, limit),
        (None, true) => rsplit_whitespace(text, limit),
    };
    Ok(Value::from(
        parts.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// `str.split(None, limit)`: the words between runs of Python's whitespace, at most `limit`
/// of them split off; the rest (its leading whitespace skipped) is the last part.
fn split_whitespace(text: &str, limit: Option<usize>) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text.trim_start_matches(is_python_space);
    while !rest.is_empty() {
        if limit == Some(parts.len()) {
            parts.push(rest);
            break;
        }
        let end = rest.find(is_python_space).unwrap_or(rest.len());
        parts.push(&rest[..end]);
        rest = rest[end..].trim_start_matches(is_python_space);
    }
    parts
}

/// `str.rsplit(None, limit)`: [`split_whitespace`] from the end.
fn rsplit_whitespace(text: &str, limit: Option<usize>) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text.trim_end_matches(is_python_space);
    while !rest.is_empty() {
        if limit == Some(parts.len()) {
            parts.push(rest);
            break;
        }
        let start = rest.rfind(is_python_space).map_or(0, |at| {
            at + rest[at..].chars().next().map_or(1, char::len_utf8)
        });
        parts.push(&rest[start..]);
        rest = rest[..start].trim_end_matches(is_python_space);
    }
    parts.reverse();
    parts
}

/// Whether Python's `str.splitlines()` ends a line at `c`.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// `str.splitlines(keepends)`: lines end at Python's line breaks (`\r\n` is one).
fn split_lines(text: &str, keep_ends: bool) -> Vec<Value> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(is_line_break) {
        let break_len = if rest[at..].starts_with("\r\n") {
            2
        } else {
            rest[at..].chars().next().map_or(1, char::len_utf8)
        };
        let end = if keep_ends { at + break_len } else { at };
        lines.push(Value::from(&rest[..end]));
        rest = &rest[at + break_len..];
    }
    if !rest.is_empty() {
        lines.push(Value::from(rest));
    }
    lines
}

/// The one separator argument of `partition`, which may not be empty.
fn separator(args: &[Value]) -> Result<&str, Error> {
    let (sep,): (&str,) = from_args(args)?;
    if sep.is_empty() {
        return Err(Error::new(ErrorKind::InvalidOperation, "empty separator"));
    }
    Ok(sep)
}

/// `str.partition(sep)` (or `rpartition`, at the last `sep`): before, separator, after.
fn partition<'a>(text: &'a str, sep: &'a str, last: bool) -> [&'a str; 3] {
    let found = if last {
        text.rfind(sep)
    } else {
        text.find(sep)
    };
    match found {
        Some(at) => [&text[..at], sep, &text[at + sep.len()..]],
        None if last => ["", "", text],
        None => [text, "", ""],
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

    #[test]
    fn words_split_at_python_whitespace() {
        // A text, a limit, and what Python's `str.split(None, limit)` and
        // `str.rsplit(None, limit)` give.
        type Case = (
            &'static str,
            Option<usize>,
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: [Case; 7] = [
            ("  a b  c ", None, &["a", "b", "c"], &["a", "b", "c"]),
            ("  a b  c ", Some(1), &["a", "b  c "], &["  a b", "c"]),
            ("  a b  c ", Some(0), &["a b  c "], &["  a b  c"]),
            (
                "\u{1c} x \u{1f} y\t",
                Some(1),
                &["x", "y\t"],
                &["\u{1c} x", "y"],
            ),
            ("", None, &[], &[]),
            ("   ", Some(0), &[], &[]),
            ("é\u{3000}ü", None, &["é", "ü"], &["é", "ü"]),
        ];
        for (text, limit, split, rsplit) in cases {
            assert_eq!(split_whitespace(text, limit), split, "{text:?} {limit:?}");
            assert_eq!(rsplit_whitespace(text, limit), rsplit, "{text:?} {limit:?}");
        }
    }

    #[test]
    fn lines_end_at_python_line_breaks() {
        let text = "a\r\nb\rc\n\n\u{2028}d\u{85}";
        let lines = |keep| -> Vec<String> {
            let lines = split_lines(text, keep);
            lines
                .iter()
                .map(|line| line.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(lines(false), ["a", "b", "c", "", "", "d"]);
        assert_eq!(
            lines(true),
            ["a\r\n", "b\r", "c\n", "\n", "\u{2028}", "d\u{85}"]
        );
        assert!(split_lines("", false).is_empty());
        assert_eq!(
            split_lines("\u{1c}x", false),
            [Value::from(""), Value::from("x")]
        );
    }

    #[test]
    fn partitions_are_pythons() {
        assert_eq!(partition("a=b=c", "=", false), ["a", "=", "b=c"]);
        assert_eq!(partition("a=b=c", "=", true), ["a=b", "=", "c"]);
        assert_eq!(partition("x", "y", false), ["x", "", ""]);
        assert_eq!(partition("x", "y", true), ["", "", "x"]);
    }
}

//! Jinja's filters where minijinja's differ from them or lack them: `string` and `join`
//! write floats and the records' lists and dicts as Python's `str()` does (`1e+20`, not
//! `100000000000000000000.0`); `int` gives its default, 0 unless given, for what it cannot
//! read; and `truncate`, `wordcount` and `center`.

use minijinja::value::{Kwargs, StringInput, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use super::pyrepr;
use super::pystr;

/// Adds the filters to `env`, over minijinja's own of the same names.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("string", string);
    env.add_filter("join", join);
    env.add_filter("int", int);
    env.add_filter("truncate", truncate);
    env.add_filter("wordcount", wordcount);
    env.add_filter("center", center);
}

/// `value` as Python's `str()` writes it, where that differs from the engine's writing.
fn python_str(value: &Value) -> Option<Result<String, Error>> {
    let mut printed = String::new();
    let written = pyrepr::write_printed(&mut printed, value)?;
    Some(written.map(|()| printed).map_err(Error::from))
}

fn string(state: &State, value: &Value) -> Result<Value, Error> {
    match python_str(value) {
        Some(printed) => printed.map(Value::from),
        None => minijinja::filters::string(state, value),
    }
}

fn join(
    state: &mut State,
    value: &Value,
    joiner: Option<StringInput<'_>>,
    attribute: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let items = match value.kind() {
        // Items joined as they are (not an attribute of each): each as `str()` writes it.
        ValueKind::Seq | ValueKind::Iterable
            if attribute.is_none() && kwargs.args().count() == 0 =>
        {
            let items: Result<Vec<Value>, Error> = value
                .try_iter()?
                .map(|item| match python_str(&item) {
                    Some(printed) => printed.map(Value::from),
                    None => Ok(item),
                })
                .collect();
            Value::from(items?)
        }
        _ => value.clone(),
    };
    minijinja::filters::join(state, &items, joiner, attribute, kwargs)
}

fn int(
    state: &State,
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = match default {
        Some(default) => default,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    let base = match base {
        Some(base) => Some(base),
        None => kwargs.get("base")?,
    };
    kwargs.assert_all_used()?;
    // Python reads a number between whitespace.
    let trimmed = value
        .as_str()
        .map(|text| Value::from(text.trim_matches(pystr::is_python_space)));
    let value = trimmed.as_ref().unwrap_or(value);
    minijinja::filters::int(
        state,
        value,
        Some(default),
        base,
        Kwargs::from_iter(None::<(&str, Value)>),
    )
}

/// `truncate(s, length=255, killwords=False, end='...', leeway=5)` (`leeway` by name
/// only): text longer than `length + leeway` characters cut to `length` with `end`, at a
/// space unless `killwords`.
fn truncate(
    value: &Value,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let text = value.to_string();
    let text = text.as_str();
    let length = length.or(kwargs.get("length")?).unwrap_or(255);
    let killwords = killwords.or(kwargs.get("killwords")?).unwrap_or(false);
    let end = end.or(kwargs.get("end")?).unwrap_or("...");
    let leeway = kwargs.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kwargs.assert_all_used()?;
    let end_chars = end.chars().count();
    if length < end_chars {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "expected length >= the length of end",
        ));
    }
    if text.chars().count() <= length.saturating_add(leeway) {
        return Ok(value.clone());
    }
    let kept_to = text
        .char_indices()
        .nth(length - end_chars)
        .map_or(text.len(), |(at, _)| at);
    let kept = &text[..kept_to];
    let kept = if killwords {
        kept
    } else {
        kept.rsplit_once(' ').map_or(kept, |(before, _)| before)
    };
    Ok(Value::from(format!("{kept}{end}")))
}

/// The number of words: runs of letters, digits and `_` (Python's `\w+`).
fn wordcount(state: &State, value: &Value) -> Result<Value, Error> {
    let input = StringInput::new(state, value)?;
    let words = input
        .as_str()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .count();
    Ok(Value::from(words))
}

fn center(state: &State, value: &Value, width: Option<i64>) -> Result<Value, Error> {
    let input = StringInput::new(state, value)?;
    pystr::center(input.as_str(), width.unwrap_or(80), ' ').map(Value::from)
}

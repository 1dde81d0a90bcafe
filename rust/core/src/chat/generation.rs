//! `{% generation %}` … `{% endgeneration %}`: HF's way for a template to mark the text a
//! model generates. minijinja has no tag extensions, so the source is rewritten: each tag
//! becomes an `{% if true %}` block that holds only a reserved character (one to open, one
//! to close), written as template text. The block keeps the tag's whitespace control (`{%-`
//! on its start, `-%}` on its end) and is trimmed by `trim_blocks`/`lstrip_blocks` exactly
//! where the tag was; the character costs the render nothing but its copy. After rendering,
//! [`take_spans`] removes the characters and returns where the generated text lies.
//!
//! The tags must pair up as blocks do (HF's Jinja parses them as one): the source is also
//! rewritten with each pair as a block of its own kind (a `filter` block, never run),
//! compiled only to refuse a template whose tags do not nest.

use std::ops::Range;

/// Opens a generated span in rendered text (a Unicode noncharacter, never in real text;
/// inputs that hold it are refused).
pub(crate) const OPEN: char = '\u{FDD0}';
/// Closes a generated span.
pub(crate) const CLOSE: char = '\u{FDD1}';

/// What the tags become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Blocks that write the markers: what is rendered.
    Markers,
    /// A block per generation block: what checks that the tags nest.
    Nesting,
}

/// `source` with every generation tag rewritten as `form` says, and whether it had any.
pub(crate) fn rewrite(source: &str, form: Rewrite) -> (String, bool) {
    let mut out = String::with_capacity(source.len() + 64);
    let mut rest = source;
    let mut found = false;
    while let Some(at) = rest.find("{%") {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        match parse_tag(tag) {
            Some((open_trim, word, close_trim, len)) => {
                found = true;
                let opens = word == "generation";
                match form {
                    Rewrite::Markers => {
                        let marker = if opens { OPEN } else { CLOSE };
                        out.push_str(&format!(
                            "{{%{open_trim} if true %}}{marker}{{% endif {close_trim}%}}"
                        ));
                    }
                    Rewrite::Nesting => {
                        // A kind of block of their own, so that one crossing another is seen.
                        let tag = if opens {
                            "filter generation"
                        } else {
                            "endfilter"
                        };
                        out.push_str(&format!("{{%{open_trim} {tag} {close_trim}%}}"));
                    }
                }
                rest = &tag[len..];
            }
            None => {
                out.push_str("{%");
                rest = &tag[2..];
            }
        }
    }
    out.push_str(rest);
    (out, found)
}

/// `{%[-+]? (end)?generation [-+]?%}` at the start of `tag`: its whitespace controls, the
/// word, and the tag's length.
fn parse_tag(tag: &str) -> Option<(&str, &str, &str, usize)> {
    let mut at = 2;
    let open_trim = control(&tag[at..]);
    at += open_trim.len();
    at += whitespace(&tag[at..]);
    let word = ["endgeneration", "generation"]
        .into_iter()
        .find(|word| tag[at..].starts_with(word))?;
    at += word.len();
    at += whitespace(&tag[at..]);
    let close_trim = control(&tag[at..]);
    at += close_trim.len();
    tag[at..]
        .starts_with("%}")
        .then_some((open_trim, word, close_trim, at + 2))
}

fn control(text: &str) -> &str {
    match text.as_bytes().first() {
        Some(b'-' | b'+') => &text[..1],
        _ => "",
    }
}

fn whitespace(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// Where the markers are in `text`, in order, with which one each is. Both are three bytes
/// in UTF-8 (`EF B7 90`, `EF B7 91`), found by bytes rather than by decoding characters.
fn markers(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let bytes = text.as_bytes();
    memchr::memchr_iter(0xEF, bytes).filter_map(move |at| match bytes.get(at + 1..at + 3) {
        Some([0xB7, 0x90]) => Some((at, OPEN)),
        Some([0xB7, 0x91]) => Some((at, CLOSE)),
        _ => None,
    })
}

/// Whether `text` holds either marker.
pub(crate) fn holds_marker(text: &str) -> bool {
    markers(text).next().is_some()
}

/// Removes the markers from `rendered`: which ones were there, each with where it was in
/// what remains, in order.
pub(crate) fn take_markers(rendered: &mut String) -> Vec<(usize, char)> {
    let mut found: Vec<(usize, char)> = markers(rendered).collect();
    if found.is_empty() {
        return found;
    }
    let mut text = String::with_capacity(rendered.len());
    let mut copied = 0;
    for (at, marker) in &mut found {
        text.push_str(&rendered[copied..*at]);
        copied = *at + marker.len_utf8();
        *at = text.len();
    }
    text.push_str(&rendered[copied..]);
    *rendered = text;
    found
}

/// Removes the markers from `rendered`; the byte ranges of generated text in what remains,
/// in order. Nested blocks count once (the outermost). `Err` names what is unbalanced.
pub(crate) fn take_spans(rendered: &mut String) -> Result<Vec<Range<usize>>, String> {
    let mut spans = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, marker) in take_markers(rendered) {
        if marker == OPEN {
            if depth == 0 {
                start = at;
            }
            depth += 1;
        } else {
            depth = depth
                .checked_sub(1)
                .ok_or("a generation block closed before it opened")?;
            if depth == 0 {
                spans.push(start..at);
            }
        }
    }
    if depth != 0 {
        return Err("a generation block was never closed".into());
    }
    Ok(spans)
}

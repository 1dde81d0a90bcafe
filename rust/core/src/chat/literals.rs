//! String literals as HF's Jinja reads them. Jinja decodes a literal's body with Python's
//! `unicode_escape` codec (after turning its line breaks into `\n`), so a backslash before a
//! line break continues the line, `\a`, `\v`, `\U0001F600` and `\N{…}` are escapes, and an
//! unknown escape such as `\/` keeps its backslash. The engine's own escapes are JSON's.
//! Before compiling, each literal that holds a backslash or a carriage return is decoded as
//! Python decodes it and written back in escapes the engine reads the same way; the line
//! breaks it had are kept after it, inside the tag, so that errors name the template's own
//! lines.

use std::fmt::Write as _;

/// `source` with its string literals decoded as Python decodes them and written back for
/// the engine; `Err` names a literal Python refuses (a malformed escape) or one the engine
/// cannot hold (a lone surrogate), or an `\N{…}` escape, which is not supported.
pub(crate) fn rewrite(source: &str) -> Result<String, String> {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(open) = find(bytes, b"{", at) {
        let Some(&kind) = bytes.get(open + 1) else {
            break;
        };
        at = open + 2;
        match kind {
            b'#' => at = find(bytes, b"#}", at).map_or(bytes.len(), |end| end + 2),
            b'%' if is_raw(&source[at..]) => {
                at = end_of_raw(source, at).unwrap_or(bytes.len());
            }
            b'{' | b'%' => {
                let close = if kind == b'{' { b'}' } else { b'%' };
                // Inside a tag: literals until the tag's end, which a dict literal's
                // closing brace is not.
                let mut braces = 0usize;
                while let Some(&byte) = bytes.get(at) {
                    if braces == 0 && byte == close && bytes.get(at + 1) == Some(&b'}') {
                        at += 2;
                        break;
                    }
                    if byte != b'"' && byte != b'\'' {
                        match byte {
                            b'{' => braces += 1,
                            b'}' => braces = braces.saturating_sub(1),
                            _ => {}
                        }
                        at += 1;
                        continue;
                    }
                    let Some(end) = literal_end(bytes, at) else {
                        // Unterminated: the engine reports it.
                        at = bytes.len();
                        break;
                    };
                    let body = &source[at + 1..end];
                    if body.contains(['\\', '\r']) {
                        let decoded = unescape(body).map_err(|error| {
                            let line = source[..at].matches('\n').count() + 1;
                            format!("template line {line}: string literal: {error}")
                        })?;
                        out.push_str(&source[copied..at]);
                        write_literal(&mut out, &decoded, byte as char);
                        // The literal's line breaks, so later lines keep their numbers.
                        for _ in 0..body.matches('\n').count() + lone_returns(body) {
                            out.push('\n');
                        }
                        copied = end + 1;
                    }
                    at = end + 1;
                }
            }
            _ => {}
        }
    }
    out.push_str(&source[copied..]);
    Ok(out)
}

fn find(bytes: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|at| from + at)
}

/// Carriage returns not followed by a line feed: line breaks of their own.
fn lone_returns(text: &str) -> usize {
    text.match_indices('\r')
        .filter(|(at, _)| !text[at + 1..].starts_with('\n'))
        .count()
}

/// Whether the tag whose body starts `text` is `{% raw %}` (with any whitespace control).
fn is_raw(text: &str) -> bool {
    let text = text.strip_prefix(['-', '+']).unwrap_or(text).trim_start();
    text.strip_prefix("raw").is_some_and(|rest| {
        let rest = rest.trim_start();
        rest.starts_with("%}") || rest.starts_with("-%}") || rest.starts_with("+%}")
    })
}

/// Where the `{% endraw %}` tag after `from` ends.
fn end_of_raw(source: &str, from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let open = at + source[at..].find("{%")?;
        let body = &source[open + 2..];
        let word = body.strip_prefix(['-', '+']).unwrap_or(body).trim_start();
        if word.starts_with("endraw") {
            return source[open..].find("%}").map(|end| open + end + 2);
        }
        at = open + 2;
    }
}

/// The index of the quote that closes the literal opened at `start`.
fn literal_end(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let mut at = start + 1;
    loop {
        match *bytes.get(at)? {
            b'\\' => at += 2,
            byte if byte == quote => return Some(at),
            _ => at += 1,
        }
    }
}

/// `body` as Python's `unicode_escape` codec decodes it after Jinja has turned its line
/// breaks into `\n` and its non-ASCII characters into `\x`/`\u`/`\U` escapes.
pub(crate) fn unescape(body: &str) -> Result<String, String> {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(escape) = chars.next() else {
            return Err("\\ at end of string".into());
        };
        match escape {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(escape),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut value = escape.to_digit(8).expect("an octal digit");
                for _ in 0..2 {
                    match chars.clone().next().and_then(|d| d.to_digit(8)) {
                        Some(digit) => {
                            value = value * 8 + digit;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(value).expect("at most 0o777"));
            }
            'x' | 'u' | 'U' => {
                let digits = match escape {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(digits).collect();
                let value = (hex.len() == digits && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("truncated \\{escape} escape"))?;
                let decoded = char::from_u32(value).ok_or_else(|| {
                    format!("\\{escape}{hex} is not a character the template can hold")
                })?;
                out.push(decoded);
            }
            'N' => return Err("\\N{...} escapes are not supported".into()),
            // Jinja escapes a non-ASCII character after a backslash first: the backslash
            // then escapes the escape's own backslash, and the rest stays as text.
            other if !other.is_ascii() => {
                out.push('\\');
                let code = u32::from(other);
                let _ = match code {
                    0..=0xFF => write!(out, "x{code:02x}"),
                    0x100..=0xFFFF => write!(out, "u{code:04x}"),
                    _ => write!(out, "U{code:08x}"),
                };
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// `text` as a literal in `quote`s that the engine reads back as `text`.
fn write_literal(out: &mut String, text: &str, quote: char) {
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_decode_as_python_decodes_them() {
        // What `'…'.encode('ascii', 'backslashreplace').decode('unicode-escape')` gives.
        let cases = [
            ("a\\\nb", "ab"),
            ("a\\\r\nb", "ab"),
            ("a\r\nb\rc", "a\nb\nc"),
            ("\\a\\v\\b\\f", "\u{7}\u{b}\u{8}\u{c}"),
            ("\\/ \\q \\", ""),
            ("\\U0001F600 \\u00e9 \\x41 \\101 \\777", "😀 é A A ǿ"),
            ("\\é", "\\xe9"),
            ("\\\u{2028}", "\\u2028"),
            ("\\'\\\"\\\\", "'\"\\"),
        ];
        for (body, decoded) in cases {
            if decoded.is_empty() {
                assert!(unescape(body).is_err(), "{body:?}");
            } else {
                assert_eq!(unescape(body).unwrap(), decoded, "{body:?}");
            }
        }
        assert_eq!(unescape("\\/ \\q").unwrap(), "\\/ \\q");
        assert!(unescape("\\x4").is_err());
        assert!(unescape("\\ud800").is_err());
        assert!(unescape("\\N{BULLET}").is_err());
    }

    #[test]
    fn only_literals_inside_tags_are_rewritten_and_lines_are_kept() {
        let source = "text \\n '\\\n' {# '\\\n' #}{{ {'k': {'a\\\nb': 1}}['a\\\nb'] ~ \"c\\/\" }}\n\
                      {% raw %}{{ 'x\\\ny' }}{% endraw %}{%- set s = 'p\\\\q' -%}{{ s }}";
        let rewritten = rewrite(source).unwrap();
        assert_eq!(
            rewritten,
            "text \\n '\\\n' {# '\\\n' #}{{ {'k': {'ab'\n: 1}}['ab'\n] ~ \"c\\\\/\" }}\n\
             {% raw %}{{ 'x\\\ny' }}{% endraw %}{%- set s = 'p\\\\q' -%}{{ s }}"
        );
        assert_eq!(rewritten.lines().count(), source.lines().count());
        assert!(rewrite("{{ 'a\\x4' }}").unwrap_err().contains("line 1"));
    }
}

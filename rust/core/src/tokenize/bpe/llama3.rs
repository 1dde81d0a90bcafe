//! A hand-written scanner for Llama 3's pre-tokenization pattern
//!
//! ```text
//! (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! The most common pattern after GPT-2's (Llama 3 and the vocabularies trained like it). As
//! for GPT-2, a regex engine needs its backtracking path for it, and the scanner gives the
//! same pieces several times faster; the tests check it against `fancy-regex`.

use super::scan::{self, Text};
use super::unicode::Kind;

/// The pattern the scanner implements, as it appears in a `tokenizer.json`.
pub(crate) const PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pieces of `text`, in order; they cover it exactly.
pub(crate) fn pieces(text: &str) -> impl Iterator<Item = &str> {
    scan::pieces(text, piece_end)
}

fn is_line_break(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// The length of a contraction after an apostrophe (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`,
/// `'d`, in any case; Unicode case folding also makes `ſ`, the long s, an `s`).
fn contraction(rest: &str) -> Option<usize> {
    let mut chars = rest.chars().map(|c| c.to_ascii_lowercase());
    let first = chars.next()?;
    match (first, chars.next()) {
        ('s' | 'ſ' | 't' | 'm' | 'd', _) => Some(first.len_utf8()),
        ('r' | 'v', Some('e')) | ('l', Some('l')) => Some(2),
        _ => None,
    }
}

fn piece_end(t: &Text<'_>, start: usize) -> usize {
    if t.byte(start) == b'\'' {
        if let Some(len) = contraction(&t.text[start + 1..]) {
            return start + 1 + len;
        }
    }
    let (kind, len) = t.class_at(start);
    let next = t.kind_at(start + len);
    match kind {
        Kind::Letter => t.run_end(start + len, Kind::Letter),
        // `\p{N}{1,3}`
        Kind::Number => {
            let mut end = start + len;
            for _ in 0..2 {
                if t.kind_at(end) != Some(Kind::Number) {
                    break;
                }
                end += t.class_at(end).1;
            }
            end
        }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`: one character of punctuation or space may lead a word.
        _ if next == Some(Kind::Letter) && !is_line_break(t.byte(start)) => {
            t.run_end(start + len, Kind::Letter)
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        Kind::Other => punctuation_end(t, start),
        Kind::Space if t.byte(start) == b' ' && next == Some(Kind::Other) => {
            punctuation_end(t, start + 1)
        }
        Kind::Space => {
            let end = t.run_end(start, Kind::Space);
            // `\s*[\r\n]+`: the run up to its last line break, if it has one.
            let text = t.text.as_bytes();
            if let Some(last_break) = (start..end).rev().find(|&i| is_line_break(text[i])) {
                return last_break + 1;
            }
            // `\s+(?!\S)` then `\s+`, as in GPT-2's pattern.
            if end == t.len() {
                return end;
            }
            let last = t.last_char_start(end);
            if last > start { last } else { end }
        }
    }
}

/// The end of a run of punctuation starting at `start` and the line breaks after it.
fn punctuation_end(t: &Text<'_>, start: usize) -> usize {
    let mut end = t.run_end(start, Kind::Other);
    while end < t.len() && is_line_break(t.byte(end)) {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use fancy_regex::Regex;
    use proptest::prelude::*;

    use super::*;

    fn by_regex(text: &str) -> Vec<&str> {
        let re = Regex::new(PATTERN).unwrap();
        re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
    }

    fn by_scanner(text: &str) -> Vec<&str> {
        pieces(text).collect()
    }

    #[test]
    fn known_splits() {
        assert_eq!(
            by_scanner("DON'T count 12345 ok.\n\nx"),
            ["DON", "'T", " count", " ", "123", "45", " ok", ".\n\n", "x"]
        );
        assert_eq!(by_scanner("  \n  hi\t(x"), ["  \n", " ", " hi", "\t", "(x"]);
    }

    #[test]
    fn matches_the_regex_on_tricky_cases() {
        for text in [
            "'ſ 'S 'Re 'LL 'lL 'VE 'd'",
            "''s",
            "'hello",
            " 'hello",
            "\t'x",
            "\n'x",
            "a\r\n\r\nb",
            " .\r\n\n x",
            "  \n",
            "\n  ",
            "x \u{a0}y",
            "\u{a0}\u{a0}y",
            "1234567 ١٢٣٤",
            "x²³⁴⁵",
            "..\n\n.\n",
            " \r",
            "😀x",
            " 😀\n",
            "\u{85}x",
            "\r\rx",
            "end ",
            "a\u{301}b",
        ] {
            assert_eq!(by_scanner(text), by_regex(text), "{text:?}");
        }
    }

    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            3 => prop::sample::select(vec![
                ' ', ' ', '\'', 's', 'S', 'ſ', 't', 'r', 'e', 'E', 'v', 'm', 'l', 'L', 'd', 'K',
                '\n', '\n', '\r', '\t', '\u{a0}', '\u{85}', '\u{2028}', '\u{3000}', '0', '9',
                '²', '٣', '.', ',', '!', '"', '(', '_', '-', 'é', '中', 'ع', '\u{301}', '😀',
                '\u{1c}', '\u{0}', '\u{10400}', '\u{1d7ce}',
            ]),
            1 => any::<char>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn scanner_equals_regex(chars in prop::collection::vec(tricky_char(), 0..40)) {
            let text: String = chars.into_iter().collect();
            prop_assert_eq!(by_scanner(&text), by_regex(&text));
        }

        #[test]
        fn scanner_equals_regex_on_any_string(text in any::<String>()) {
            prop_assert_eq!(by_scanner(&text), by_regex(&text));
        }
    }
}

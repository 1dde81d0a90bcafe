//! A hand-written scanner for Llama 3's pre-tokenization pattern and the two patterns built
//! on it, cl100k's and Qwen's:
//!
//! ```text
//! (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! Qwen's has `\p{N}` (one digit a piece) for `\p{N}{1,3}`. cl100k's, as tiktoken writes it
//! (and transformers' `convert_tiktoken_to_fast` copies it), spells the same alternatives with
//! possessive quantifiers, which change nothing here, except two: `\p{N}{1,3}+` is
//! `(?:\p{N}{1,3})+` to HF's Oniguruma, so a run of digits is one piece, and `\s++$` before
//! the line-break rule takes a run of whitespace that reaches the end of the text whole.
//!
//! As for GPT-2, a regex engine needs its backtracking path for these, and the scanner gives
//! the same pieces several times faster; the tests check it against `fancy-regex` running
//! the pattern (in HF's reading, [`crate::tokenize::pattern`]).

use super::scan::{PieceEnd, Text, is_line_break};
use super::unicode::Kind;

/// The pattern the scanner implements, as it appears in a `tokenizer.json`.
pub(crate) const PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen's pattern (Qwen 1 and 2): Llama 3's with one digit a piece.
pub(crate) const QWEN_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// cl100k's pattern as tiktoken writes it.
pub(crate) const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

/// The scanner for `pattern`, if it is one of the three.
pub(crate) fn scanner(pattern: &str) -> Option<PieceEnd> {
    match pattern {
        PATTERN => Some(piece_end::<3, false>),
        QWEN_PATTERN => Some(piece_end::<1, false>),
        CL100K_PATTERN => Some(piece_end::<{ usize::MAX }, true>),
        _ => None,
    }
}

/// The length of a contraction after an apostrophe (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`,
/// `'d`, in any case; Unicode case folding also makes `ſ`, the long s, an `s`).
pub(crate) fn contraction(rest: &str) -> Option<usize> {
    let mut chars = rest.chars().map(|c| c.to_ascii_lowercase());
    let first = chars.next()?;
    match (first, chars.next()) {
        ('s' | 'ſ' | 't' | 'm' | 'd', _) => Some(first.len_utf8()),
        ('r' | 'v', Some('e')) | ('l', Some('l')) => Some(2),
        _ => None,
    }
}

/// `DIGITS`: the most digits a piece takes; `WHOLE_TRAILING_SPACE`: whether a run of
/// whitespace that ends the text is one piece.
fn piece_end<const DIGITS: usize, const WHOLE_TRAILING_SPACE: bool>(
    t: &Text<'_>,
    start: usize,
) -> usize {
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
            for _ in 1..DIGITS {
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
            // cl100k's `\s++$`.
            if WHOLE_TRAILING_SPACE && end == t.len() {
                return end;
            }
            t.space_or_line_break_end(start, end)
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
    use std::sync::LazyLock;

    use super::*;
    use crate::tokenize::bpe::scanner_testing::{Scanners, same_as_regex_tests};

    static SCANNERS: LazyLock<Scanners> =
        LazyLock::new(|| Scanners::new(&[PATTERN, QWEN_PATTERN, CL100K_PATTERN], scanner));

    fn by_scanner<'t>(pattern: &str, text: &'t str) -> Vec<&'t str> {
        SCANNERS.by_scanner(pattern, text)
    }

    #[test]
    fn known_splits() {
        let text = "DON'T count 12345 ok.\n\nx \n ";
        assert_eq!(
            by_scanner(PATTERN, text),
            [
                "DON", "'T", " count", " ", "123", "45", " ok", ".\n\n", "x", " \n", " "
            ]
        );
        assert_eq!(
            by_scanner(QWEN_PATTERN, text),
            [
                "DON", "'T", " count", " ", "1", "2", "3", "4", "5", " ok", ".\n\n", "x", " \n",
                " "
            ]
        );
        // A whole run of digits, and the whitespace at the end in one piece.
        assert_eq!(
            by_scanner(CL100K_PATTERN, text),
            [
                "DON", "'T", " count", " ", "12345", " ok", ".\n\n", "x", " \n "
            ]
        );
        assert_eq!(
            by_scanner(PATTERN, "  \n  hi\t(x"),
            ["  \n", " ", " hi", "\t", "(x"]
        );
    }

    same_as_regex_tests! {
        SCANNERS,
        tricky: "  'sSſtreEvmlLdK\n\n\r\t\u{a0}\u{85}\u{2028}\u{3000}09²٣.,!\"(_-é中ع\u{301}😀\u{1c}\u{0}\u{10400}\u{1d7ce}",
        cases: [
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
            "12345678901234567890 x",
            "x  ",
            "x \n\n  ",
            "x\r\n",
            "'T'd  \t",
        ]
    }
}

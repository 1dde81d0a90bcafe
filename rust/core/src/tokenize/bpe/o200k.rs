//! A hand-written scanner for o200k's pre-tokenization pattern (GPT-4o, Llama 4) and
//! Tekken's (Mistral), which splits words at case changes:
//!
//! ```text
//! [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! Tekken's has no contractions and `\p{N}` for `\p{N}{1,3}`. Call the first letter class
//! *upper* (`Lu`, `Lt`, `Lm`, `Lo`, marks) and the second *lower* (`Ll`, `Lm`, `Lo`, marks):
//! caseless letters and marks are in both, and marks are not letters, so a mark may also lead
//! a word or stand in punctuation. A backtracking engine tries the alternatives in order, each
//! first with the leading character and then without; the scanner follows that order (the
//! tests check it against `fancy-regex` running the patterns).

use super::llama3::contraction;
use super::scan::{PieceEnd, Text, is_line_break};
use super::unicode::Case;

/// o200k's pattern, as tiktoken and Llama 4 write it.
pub(crate) const PATTERN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Tekken's pattern, as Mistral's `tekken.json` writes it.
pub(crate) const TEKKEN_PATTERN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The scanner for `pattern`, if it is one of the two.
pub(crate) fn scanner(pattern: &str) -> Option<PieceEnd> {
    match pattern {
        PATTERN => Some(piece_end::<true, 3>),
        TEKKEN_PATTERN => Some(piece_end::<false, 1>),
        _ => None,
    }
}

fn is_upper(case: Case) -> bool {
    matches!(case, Case::Upper | Case::Caseless | Case::Mark)
}

fn is_lower(case: Case) -> bool {
    matches!(case, Case::Lower | Case::Caseless | Case::Mark)
}

/// `[^\s\p{L}\p{N}]`
fn is_punctuation(case: Case) -> bool {
    matches!(case, Case::Other | Case::Mark)
}

/// `upper* lower+` at `at`: where it ends, if it matches. The upper run gives back characters
/// until a lower one can follow.
fn upper_then_lower(t: &Text<'_>, at: usize) -> Option<usize> {
    if at >= t.len() {
        return None;
    }
    let upper_end = t.case_run_end(at, is_upper);
    if upper_end < t.len() && t.case_at(upper_end).0 == Case::Lower {
        return Some(t.case_run_end(upper_end, is_lower));
    }
    // Given back: the last character of the upper run that is also lower ends the match
    // (any after it are upper only).
    let mut end = upper_end;
    while end > at {
        let last = t.last_char_start(end);
        if is_lower(t.case_at(last).0) {
            return Some(end);
        }
        end = last;
    }
    None
}

/// `upper+ lower*` at `at`: where it ends, if it matches.
fn upper_and_lower(t: &Text<'_>, at: usize) -> Option<usize> {
    if at >= t.len() || !is_upper(t.case_at(at).0) {
        return None;
    }
    Some(t.case_run_end(t.case_run_end(at, is_upper), is_lower))
}

fn piece_end<const CONTRACTIONS: bool, const DIGITS: usize>(t: &Text<'_>, start: usize) -> usize {
    let (case, len) = t.case_at(start);
    // `[^\r\n\p{L}\p{N}]?`: may lead a word.
    let leads = !matches!(
        case,
        Case::Upper | Case::Lower | Case::Caseless | Case::Number
    ) && !is_line_break(t.byte(start));
    let word = [upper_then_lower, upper_and_lower]
        .into_iter()
        .find_map(|word| {
            leads
                .then(|| word(t, start + len))
                .flatten()
                .or_else(|| word(t, start))
        });
    if let Some(end) = word {
        if CONTRACTIONS && end < t.len() && t.byte(end) == b'\'' {
            if let Some(len) = contraction(&t.text[end + 1..]) {
                return end + 1 + len;
            }
        }
        return end;
    }
    match case {
        Case::Number => {
            let mut end = start + len;
            for _ in 1..DIGITS {
                if end >= t.len() || t.case_at(end).0 != Case::Number {
                    break;
                }
                end += t.case_at(end).1;
            }
            end
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
        _ if is_punctuation(case) => punctuation_end(t, start),
        Case::Space
            if t.byte(start) == b' '
                && start + 1 < t.len()
                && is_punctuation(t.case_at(start + 1).0) =>
        {
            punctuation_end(t, start + 1)
        }
        _ => {
            let end = t.case_run_end(start, |case| case == Case::Space);
            t.space_or_line_break_end(start, end)
        }
    }
}

/// The end of a run of punctuation starting at `start` and the line breaks and slashes
/// after it.
fn punctuation_end(t: &Text<'_>, start: usize) -> usize {
    let mut end = t.case_run_end(start, is_punctuation);
    while end < t.len() && matches!(t.byte(end), b'\r' | b'\n' | b'/') {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::tokenize::bpe::scanner_testing::{Scanners, same_as_regex_tests};

    const PATTERNS: [&str; 2] = [PATTERN, TEKKEN_PATTERN];

    static SCANNERS: LazyLock<Scanners> = LazyLock::new(|| Scanners::new(&PATTERNS, scanner));

    fn by_scanner<'t>(pattern: &str, text: &'t str) -> Vec<&'t str> {
        SCANNERS.by_scanner(pattern, text)
    }

    #[test]
    fn the_patterns_need_no_rewriting() {
        for pattern in PATTERNS {
            assert_eq!(
                crate::tokenize::pattern::to_fancy_regex(pattern).unwrap(),
                pattern
            );
        }
    }

    #[test]
    fn known_splits() {
        let text = "HelloWorld DON'T don't 12345 x/\n\n  ǅx ʰx \u{301}Ab";
        assert_eq!(
            by_scanner(PATTERN, text),
            [
                "Hello",
                "World",
                " DON'T",
                " don't",
                " ",
                "123",
                "45",
                " x",
                "/\n\n",
                " ",
                " ǅx",
                " ʰx",
                " \u{301}Ab"
            ]
        );
        assert_eq!(
            by_scanner(TEKKEN_PATTERN, "it's 12"),
            ["it", "'s", " ", "1", "2"]
        );
    }

    same_as_regex_tests! {
        SCANNERS,
        tricky: "  'sSſtreEvlLdABǅʰ中\u{301}\u{903}\u{20dd}\n\r\t\u{a0}\u{3000}/09²٣Ⅻ.!(😀\u{10400}\u{10428}\u{1d7ce}\u{0}",
        cases: [
            "ABCdef",
            "ABC",
            "ABC def",
            "aBC",
            "ǅǅa",
            "ʰA",
            "Aʰ",
            "AʰB",
            "AʰBc",
            "A\u{301}",
            "A\u{301}B",
            "\u{301}",
            "\u{301}\u{301}a",
            " \u{301}",
            "!\u{301}A",
            "x'S'LL",
            "X'sY",
            "'s",
            "a'ſ",
            "1234567",
            "٣٤٥٦",
            " !!\n\n/x",
            "/\n/",
            "\r\n\r\n x",
            "  \n ",
            "\t\tx",
            " \u{a0}x",
            "中文Ab",
            "😀😀 😀x",
            "end ",
            "a\u{200d}b",
            "\u{10400}\u{10428}",
            "ẞß",
            "x²³⁴⁵",
        ]
    }
}

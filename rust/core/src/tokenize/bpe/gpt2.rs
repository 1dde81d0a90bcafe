//! A hand-written scanner for GPT-2's pre-tokenization pattern
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! It is the speed-critical step of encoding, and the pattern needs a look-ahead, which
//! sends regex engines to their slow backtracking path. The scanner gives exactly the pieces
//! a backtracking engine gives (alternatives tried in order at each position, greedy runs);
//! the tests check it against `fancy-regex` running the pattern itself.

use super::scan::{self, Text};
use super::unicode::Kind;

/// The pattern the scanner implements, as it appears in a `tokenizer.json`.
pub(crate) const PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

const CONTRACTIONS: [&[u8]; 7] = [b"s", b"t", b"re", b"ve", b"m", b"ll", b"d"];

/// The pieces of `text`, in order; they cover it exactly.
pub(crate) fn pieces(text: &str) -> impl Iterator<Item = &str> {
    scan::pieces(text, piece_end)
}

fn piece_end(t: &Text<'_>, start: usize) -> usize {
    if t.byte(start) == b'\'' {
        let rest = &t.text.as_bytes()[start + 1..];
        if let Some(suffix) = CONTRACTIONS.iter().find(|s| rest.starts_with(s)) {
            return start + 1 + suffix.len();
        }
    }
    let (kind, len) = t.class_at(start);
    if kind != Kind::Space {
        return t.run_end(start + len, kind);
    }
    // ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+` take one plain space in front.
    if t.byte(start) == b' ' {
        if let Some(next) = t.kind_at(start + 1).filter(|&k| k != Kind::Space) {
            return t.run_end(start + 1, next);
        }
    }
    // `\s+(?!\S)`: a whitespace run gives up its last character to the word after it,
    // unless that would leave it empty, when `\s+` takes the run whole.
    t.space_end(start, t.run_end(start, Kind::Space))
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
            by_scanner("Hello world, it's 2024!  \n\n  ok"),
            [
                "Hello", " world", ",", " it", "'s", " 2024", "!", "  \n\n ", " ok"
            ]
        );
        assert_eq!(
            by_scanner("DON'T 'sup \"'s"),
            ["DON", "'", "T", " '", "sup", " \"'", "s"]
        );
        assert_eq!(by_scanner("a\tb\n"), ["a", "\t", "b", "\n"]);
        assert_eq!(by_scanner("x   "), ["x", "   "]);
        assert!(by_scanner("").is_empty());
    }

    #[test]
    fn matches_the_regex_on_tricky_cases() {
        for text in [
            "  a",
            " \u{a0}a",
            "\u{a0}a",
            "\u{3000}中文",
            "a\u{301}b",
            "٣٤ ٥",
            "x²³",
            "Ⅻ",
            "'re'll'd'm've",
            "''s",
            "a's'S",
            " '",
            "' ",
            "\r\n\r\n",
            "\t\t x",
            "😀😀 😀",
            "שלום עולם",
            " \u{85}\u{85}z",
            "\u{2028}",
            "end ",
            "1,000.5",
        ] {
            assert_eq!(by_scanner(text), by_regex(text), "{text:?}");
        }
    }

    /// Characters from every class the pattern distinguishes, with extra weight on the ones
    /// that make alternatives interact (apostrophes, contraction letters, spaces).
    const TRICKY: &str = "  'strevmldSTLD\n\r\t\u{a0}\u{85}\u{2003}\u{3000}09²٣.,!\"_-éß中ع\u{301}😀\u{200d}\u{1c}\u{0}\u{10400}\u{1d7ce}";

    #[test]
    fn scanner_equals_regex() {
        crate::tokenize::bpe::scanner_testing::scanner_equals_regex(TRICKY, |text| {
            prop_assert_eq!(by_scanner(text), by_regex(text));
            Ok(())
        });
    }
}

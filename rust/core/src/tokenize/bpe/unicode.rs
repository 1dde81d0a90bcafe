//! The character classes the hand-written scanners and added-token matching need (`\p{L}`,
//! `\p{N}`, `\s`, `\w`, and letters by case for o200k's pattern), taken from `regex-syntax`'s Unicode tables: the same tables `fancy-regex` uses
//! for every other pattern, so the hand-written scanner and the regex engine cannot disagree
//! on a character.

use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

/// What the GPT-2 pattern distinguishes about a character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Letter,
    Number,
    Space,
    Other,
}

/// What o200k's and Tekken's patterns distinguish about a character: letters by case
/// (`[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` against `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`), marks (which are
/// in both of those but not in `\p{L}`), numbers, whitespace and the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    /// `Lu`, `Lt`.
    Upper,
    /// `Ll`.
    Lower,
    /// `Lm`, `Lo`: letters in both classes.
    Caseless,
    /// `M`.
    Mark,
    Number,
    Space,
    Other,
}

/// A table of `T` per character: one load in the Basic Multilingual Plane, where nearly all
/// text lives; sorted, disjoint ranges above it (anything outside them is `other`).
struct Table<T> {
    bmp: Vec<T>,
    astral: Vec<(u32, u32, T)>,
    other: T,
}

impl<T: Copy> Table<T> {
    fn new(other: T, classes: &[(&str, T)]) -> Self {
        let mut bmp = vec![other; 0x10000];
        let mut astral = Vec::new();
        for &(class, value) in classes {
            for (start, end) in ranges(class) {
                for c in start..=end.min(0xFFFF) {
                    bmp[c as usize] = value;
                }
                if end > 0xFFFF {
                    astral.push((start.max(0x10000), end, value));
                }
            }
        }
        astral.sort_unstable_by_key(|&(start, _, _)| start);
        Table { bmp, astral, other }
    }

    #[inline]
    fn get(&self, c: char) -> T {
        let c = c as u32;
        if c < 0x10000 {
            return self.bmp[c as usize];
        }
        let i = self.astral.partition_point(|&(_, end, _)| end < c);
        match self.astral.get(i) {
            Some(&(start, _, value)) if start <= c => value,
            _ => self.other,
        }
    }
}

pub(crate) struct Classes {
    kinds: Table<Kind>,
    cases: Table<Case>,
    word: Vec<(u32, u32)>,
}

/// The code point ranges of a regex character class such as `\p{L}`.
fn ranges(class: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new()
        .parse(class)
        .expect("the class expressions below are valid");
    match hir.kind() {
        HirKind::Class(Class::Unicode(set)) => set
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => unreachable!("{class} parsed to {other:?}"),
    }
}

static CLASSES: LazyLock<Classes> = LazyLock::new(|| Classes {
    kinds: Table::new(
        Kind::Other,
        &[
            (r"\p{L}", Kind::Letter),
            (r"\p{N}", Kind::Number),
            (r"\s", Kind::Space),
        ],
    ),
    cases: Table::new(
        Case::Other,
        &[
            (r"[\p{Lu}\p{Lt}]", Case::Upper),
            (r"\p{Ll}", Case::Lower),
            (r"[\p{Lm}\p{Lo}]", Case::Caseless),
            (r"\p{M}", Case::Mark),
            (r"\p{N}", Case::Number),
            (r"\s", Case::Space),
        ],
    ),
    word: ranges(r"\w"),
});

/// The classes, built on first use (a few milliseconds, once per process).
pub(crate) fn classes() -> &'static Classes {
    &CLASSES
}

impl Classes {
    #[inline]
    pub(crate) fn kind(&self, c: char) -> Kind {
        self.kinds.get(c)
    }

    #[inline]
    pub(crate) fn case(&self, c: char) -> Case {
        self.cases.get(c)
    }

    /// Whether `c` matches `\w` (what HF's `single_word` added tokens look at).
    pub(crate) fn is_word(&self, c: char) -> bool {
        let c = c as u32;
        let i = self.word.partition_point(|&(_, end)| end < c);
        self.word.get(i).is_some_and(|&(start, _)| start <= c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_unicode() {
        let kind = |c| classes().kind(c);
        let is_word = |c| classes().is_word(c);
        assert_eq!(kind('a'), Kind::Letter);
        assert_eq!(kind('中'), Kind::Letter);
        assert_eq!(kind('\u{10400}'), Kind::Letter); // Deseret
        assert_eq!(kind('7'), Kind::Number);
        assert_eq!(kind('²'), Kind::Number);
        assert_eq!(kind('\u{1D7CE}'), Kind::Number); // mathematical bold digit zero
        assert_eq!(kind(' '), Kind::Space);
        assert_eq!(kind('\u{85}'), Kind::Space);
        assert_eq!(kind('\u{3000}'), Kind::Space);
        assert_eq!(kind('\u{301}'), Kind::Other); // combining mark: not a letter
        assert_eq!(kind('😀'), Kind::Other);
        assert_eq!(kind('\''), Kind::Other);
        assert!(is_word('_') && is_word('é') && is_word('\u{301}') && !is_word('-'));
        let case = |c| classes().case(c);
        assert_eq!(case('A'), Case::Upper);
        assert_eq!(case('ǅ'), Case::Upper); // titlecase
        assert_eq!(case('a'), Case::Lower);
        assert_eq!(case('ʰ'), Case::Caseless); // modifier letter
        assert_eq!(case('中'), Case::Caseless);
        assert_eq!(case('\u{301}'), Case::Mark);
        assert_eq!(case('\u{1d7ce}'), Case::Number);
        assert_eq!(case('\u{3000}'), Case::Space);
        assert_eq!(case('😀'), Case::Other);
        assert_eq!(case('\u{10400}'), Case::Upper); // Deseret capital
    }
}

//! The character classes the GPT-2 pattern and added-token matching need (`\p{L}`, `\p{N}`,
//! `\s`, `\w`), taken from `regex-syntax`'s Unicode tables: the same tables `fancy-regex` uses
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

pub(crate) struct Classes {
    /// The kind of every character of the Basic Multilingual Plane, where nearly all text
    /// lives, so classifying it is one load.
    bmp: Vec<Kind>,
    /// Sorted, disjoint ranges above the BMP; anything outside them is `Other`.
    astral: Vec<(u32, u32, Kind)>,
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

static CLASSES: LazyLock<Classes> = LazyLock::new(|| {
    let mut bmp = vec![Kind::Other; 0x10000];
    let mut astral = Vec::new();
    for (class, kind) in [
        (r"\p{L}", Kind::Letter),
        (r"\p{N}", Kind::Number),
        (r"\s", Kind::Space),
    ] {
        for (start, end) in ranges(class) {
            for c in start..=end.min(0xFFFF) {
                bmp[c as usize] = kind;
            }
            if end > 0xFFFF {
                astral.push((start.max(0x10000), end, kind));
            }
        }
    }
    astral.sort_unstable_by_key(|&(start, _, _)| start);
    Classes {
        bmp,
        astral,
        word: ranges(r"\w"),
    }
});

/// The classes, built on first use (a few milliseconds, once per process).
pub(crate) fn classes() -> &'static Classes {
    &CLASSES
}

impl Classes {
    #[inline]
    pub(crate) fn kind(&self, c: char) -> Kind {
        let c = c as u32;
        if c < 0x10000 {
            return self.bmp[c as usize];
        }
        let i = self.astral.partition_point(|&(_, end, _)| end < c);
        match self.astral.get(i) {
            Some(&(start, _, kind)) if start <= c => kind,
            _ => Kind::Other,
        }
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
    }
}

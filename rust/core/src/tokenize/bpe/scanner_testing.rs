//! What the scanners' tests share: texts that make a pattern's alternatives interact, and the
//! property that a hand-written scanner splits them as the regex does.

use fancy_regex::Regex;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::scan::{PieceEnd, pieces};
use crate::tokenize::pattern::to_fancy_regex;

/// The patterns of one scanner module, each with its scanner and its regex (in HF's reading
/// of the pattern, see [`crate::tokenize::pattern`]).
pub(crate) struct Scanners(Vec<(&'static str, PieceEnd, Regex)>);

impl Scanners {
    pub(crate) fn new(patterns: &[&'static str], scanner: fn(&str) -> Option<PieceEnd>) -> Self {
        Scanners(
            patterns
                .iter()
                .map(|&p| {
                    let regex = Regex::new(&to_fancy_regex(p).unwrap()).unwrap();
                    (p, scanner(p).unwrap(), regex)
                })
                .collect(),
        )
    }

    fn get(&self, pattern: &str) -> &(&'static str, PieceEnd, Regex) {
        self.0.iter().find(|(p, ..)| *p == pattern).unwrap()
    }

    /// The pieces of `text` by `pattern`'s scanner.
    pub(crate) fn by_scanner<'t>(&self, pattern: &str, text: &'t str) -> Vec<&'t str> {
        pieces(text, self.get(pattern).1).collect()
    }

    /// The pieces of `text` by `pattern`'s regex.
    pub(crate) fn by_regex<'t>(&self, pattern: &str, text: &'t str) -> Vec<&'t str> {
        let regex = &self.get(pattern).2;
        regex.find_iter(text).map(|m| m.unwrap().as_str()).collect()
    }

    /// Fails unless every scanner splits `text` as its regex does.
    pub(crate) fn same_as_regex(&self, text: &str) -> Result<(), TestCaseError> {
        for (pattern, ..) in &self.0 {
            prop_assert_eq!(
                self.by_scanner(pattern, text),
                self.by_regex(pattern, text),
                "{} on {:?}",
                pattern,
                text
            );
        }
        Ok(())
    }

    /// Asserts that every scanner splits each of `texts` as its regex does.
    pub(crate) fn assert_same_as_regex(&self, texts: &[&str]) {
        for text in texts {
            if let Err(failure) = self.same_as_regex(text) {
                panic!("{failure}");
            }
        }
    }
}

/// Up to 40 characters, three in four drawn from `tricky` (the characters of every class the
/// pattern distinguishes, weighted to those that make alternatives interact), or any string.
fn texts(tricky: &str) -> impl Strategy<Value = String> {
    let chars = prop_oneof![3 => prop::sample::select(tricky.chars().collect::<Vec<_>>()), 1 => any::<char>()];
    prop_oneof![
        prop::collection::vec(chars, 0..40).prop_map(|chars| chars.into_iter().collect()),
        any::<String>(),
    ]
}

/// Runs `same` (which compares a scanner with the regex on one text) on 4,000 texts; a
/// failure panics with the smallest text found.
pub(crate) fn scanner_equals_regex(tricky: &str, same: impl Fn(&str) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(Config::with_cases(4000));
    if let Err(failure) = runner.run(&texts(tricky), |text| same(&text)) {
        panic!("{failure}");
    }
}

/// A scanner module's tests against its regexes: `$scanners` splits each of the hand-picked
/// `cases` as the regexes do, and 4,000 texts mostly of the characters of `tricky` too.
macro_rules! same_as_regex_tests {
    ($scanners:expr, tricky: $tricky:expr, cases: [$($case:expr),+ $(,)?]) => {
        #[test]
        fn matches_the_regex_on_tricky_cases() {
            $scanners.assert_same_as_regex(&[$($case),+]);
        }

        #[test]
        fn scanner_equals_regex() {
            $crate::tokenize::bpe::scanner_testing::scanner_equals_regex($tricky, |text| {
                $scanners.same_as_regex(text)
            });
        }
    };
}
pub(crate) use same_as_regex_tests;

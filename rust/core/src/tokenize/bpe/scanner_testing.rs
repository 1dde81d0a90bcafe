//! What the scanners' tests share: texts that make a pattern's alternatives interact, and the
//! property that a hand-written scanner splits them as the regex does.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

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

//! What the mutation tests (`shard/tests.rs`, `tokenize/mutations.rs`) share: a proptest
//! runner whose number of cases `SEQPACK_MUTATIONS` may raise for a longer search.

use proptest::test_runner::{Config, TestRunner};

/// A runner of `SEQPACK_MUTATIONS` cases, else `default_cases`, that keeps no failure file.
pub(crate) fn mutation_runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("SEQPACK_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::sampler::mixture_state::MixtureCursor;

fn spec(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{i}")).collect()
}

/// Runs the deficit rule over rows whose real tokens `row(source, k)` gives, with the
/// weights of each row from `weights(k)`, and checks the documented bound after every row.
fn check_bound(
    n: usize,
    seq_len: u64,
    rows: usize,
    weights: impl Fn(usize) -> Vec<f64>,
    row: impl Fn(usize, u64) -> u64,
) {
    let mut cursor = MixtureCursor::start(n);
    let l = seq_len as f64;
    for k in 0..rows {
        let w = weights(k);
        let chosen = pick(&cursor.sources, &w).expect("a source has a weight");
        let tokens = row(chosen, cursor.sources[chosen].rows);
        take(&mut cursor.sources, &w, chosen, tokens);
        let sum: f64 = cursor.sources.iter().map(SourceCursor::deficit).sum();
        assert!(
            sum.abs() < 1e-6 * (k + 1) as f64 * l,
            "deficits sum to {sum}"
        );
        for (i, s) in cursor.sources.iter().enumerate() {
            let d = s.deficit();
            // A small tolerance for the floating-point sums.
            let eps = 1e-9 * s.target.max(1.0);
            assert!(d > -l - eps, "row {k}: source {i} is {d} tokens ahead");
            assert!(
                d < (n as f64 - 1.0) * l + eps,
                "row {k}: source {i} is {d} tokens behind"
            );
        }
    }
}

proptest! {
    #[test]
    fn deficit_rule_keeps_every_source_within_the_bound(
        weights in prop::collection::vec(0.01f64..10.0, 1..6),
        seq_len in 1u64..512,
        sizes in prop::collection::vec(1u64..=512, 1..64),
    ) {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let normal: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let size = |source: usize, k: u64| {
            sizes[(source * 7 + k as usize) % sizes.len()].min(seq_len)
        };
        check_bound(n, seq_len, 400, |_| normal.clone(), size);
    }

    #[test]
    fn deficit_rule_keeps_the_bound_when_weights_change_every_row(
        n in 2usize..5,
        seed in any::<u64>(),
        seq_len in 1u64..256,
    ) {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let table: Vec<Vec<f64>> = (0..300)
            .map(|_| {
                let raw: Vec<f64> = (0..n).map(|_| 0.01 + (rng.next_u64() % 1000) as f64).collect();
                let total: f64 = raw.iter().sum();
                raw.into_iter().map(|w| w / total).collect()
            })
            .collect();
        check_bound(n, seq_len, 300, |k| table[k].clone(), |s, k| 1 + (s as u64 * 31 + k * 17) % seq_len);
    }
}

#[test]
fn exact_shares_with_rows_of_one_size() {
    // Rows of equal size: every share is exact to within a row.
    let w = [0.5, 0.3, 0.2];
    let mut cursor = MixtureCursor::start(3);
    for _ in 0..1000 {
        let i = pick(&cursor.sources, &w).unwrap();
        take(&mut cursor.sources, &w, i, 10);
    }
    let rows: Vec<u64> = cursor.sources.iter().map(|s| s.rows).collect();
    assert_eq!(rows, [500, 300, 200]);
}

#[test]
fn schedule_reads_stages_and_interpolates() {
    let n = names(2);
    let s = WeightSchedule::from_json(
        &spec(json!({"interpolation": "linear", "stages": [
            {"at": 0, "weights": {"s0": 1.0, "s1": 0.0}},
            {"at": 10, "weights": {"s0": 0.0, "s1": 1.0}},
        ]})),
        &n,
    )
    .unwrap();
    assert_eq!(s.weights_at(0), [1.0, 0.0]);
    assert_eq!(s.weights_at(5), [0.5, 0.5]);
    assert_eq!(s.weights_at(10), [0.0, 1.0]);
    assert_eq!(s.weights_at(99), [0.0, 1.0]);
    assert_eq!(s.stage_at(9), 0);
    assert_eq!(s.stage_at(10), 1);
    let stepped = WeightSchedule::from_json(
        &spec(json!({"stages": [
            {"at": 0, "weights": {"s0": 3.0, "s1": 1.0}},
            {"at": 10, "weights": {"s1": 1.0}},
        ]})),
        &n,
    )
    .unwrap();
    assert_eq!(stepped.weights_at(9), [3.0, 1.0]);
    assert_eq!(stepped.weights_at(10), [0.0, 1.0]);
}

#[test]
fn schedule_errors_name_the_source_and_stage() {
    let n = names(2);
    let error = |value: Value| {
        WeightSchedule::from_json(&spec(value), &n)
            .unwrap_err()
            .to_string()
    };
    let one = |weights: Value| json!({"stages": [{"at": 0, "weights": weights}]});
    assert_eq!(
        error(one(json!({"s0": -1.0, "s1": 1.0}))),
        "mixture source \"s0\": weight must be a finite number ≥ 0, got -1.0 (stage 0)"
    );
    assert_eq!(
        error(one(json!({"s0": null, "s1": 1.0}))),
        "mixture source \"s0\": weight must be a finite number ≥ 0, got a number that is not finite (stage 0)"
    );
    assert_eq!(
        error(one(json!({"s0": 0.0, "s1": 0}))),
        "mixture stage 0: all weights are zero"
    );
    assert_eq!(
        error(one(json!({"web": 1.0}))),
        "mixture stage 0: source \"web\" is not in the mixture"
    );
    assert_eq!(
        error(
            json!({"stages": [{"at": 0, "weights": {"s0": 1}}, {"at": 0, "weights": {"s1": 1}}]})
        ),
        "mixture stage 1 starts at 0, not after stage 0 at 0"
    );
    assert_eq!(
        error(json!({"unit": "epochs", "stages": []})),
        "mixture unit \"epochs\" is unknown; expected steps or tokens"
    );
}

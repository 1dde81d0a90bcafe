use serde_json::{Value, json};

use super::*;
use crate::batch::Plan;
use crate::pack::{Algorithm, LongDocs, PackOptions};

fn options(seed: u64) -> Value {
    json!({"seq_len": 64, "seed": seed})
}

#[test]
fn seeds_differ_by_every_input_and_repeat() {
    let base = derive_seed("ab", &options(0), 3, Purpose::RowOrder);
    assert_eq!(base, derive_seed("ab", &options(0), 3, Purpose::RowOrder));
    for other in [
        derive_seed("ac", &options(0), 3, Purpose::RowOrder),
        derive_seed("ab", &options(1), 3, Purpose::RowOrder),
        derive_seed("ab", &options(0), 4, Purpose::RowOrder),
        derive_seed("ab", &options(0), 3, Purpose::DocumentOrder),
        derive_seed("ab", &options(0), 3, Purpose::Curriculum),
    ] {
        assert_ne!(base, other);
    }
    // Key order does not matter: the options print with sorted keys.
    let swapped: Value = serde_json::from_str(r#"{"seed": 0, "seq_len": 64}"#).unwrap();
    assert_eq!(base, derive_seed("ab", &swapped, 3, Purpose::RowOrder));
}

/// A plan of one document per row, of the given lengths, in dataset order.
fn plan_of(lengths: &[i64], capacity: u32) -> Plan {
    let options = PackOptions {
        capacity,
        algorithm: Algorithm::Nf,
        max_docs_per_pack: Some(1),
        long_docs: LongDocs::Error,
        seed: None,
    };
    Plan::pack_epoch(lengths, &options, 1, None).unwrap()
}

#[test]
fn split_hands_every_row_to_one_rank_and_worker() {
    let plan = plan_of(&[8; 103], 8);
    for (drop_last, balance) in [(true, false), (false, false), (true, true), (false, true)] {
        let rows = 103;
        let splits: Vec<StepSplit> = (0..3)
            .map(|r| {
                let split = StepSplit::new(4, 3, r, drop_last).unwrap();
                if balance {
                    split
                        .balanced(Balance::new(CostModel::default(), 2))
                        .unwrap()
                } else {
                    split
                }
            })
            .collect();
        let steps = splits[0].steps(rows, 0);
        assert_eq!(steps, if drop_last { 8 } else { 9 });
        assert_eq!(splits[0].rows_left_out(rows), if drop_last { 7 } else { 0 });
        let mut seen = vec![0; rows as usize + 12];
        for split in &splits {
            for worker in 0..2 {
                let schedule = split.schedule(rows, 24, worker, 2);
                for i in 0..schedule.num_batches {
                    for row in schedule.rows(i, &plan).into_iter().flatten() {
                        seen[row] += 1;
                    }
                }
            }
        }
        let handed = (24..((steps * 12) as usize).min(rows as usize)).collect::<Vec<_>>();
        assert!(handed.iter().all(|&r| seen[r] == 1));
        assert_eq!(seen.iter().sum::<u32>() as usize, handed.len());
    }
    assert!(StepSplit::new(0, 1, 0, true).is_err());
    let error = StepSplit::new(2, 2, 2, true).unwrap_err().to_string();
    assert_eq!(error, "rank must be in 0..1, got 2");
}

#[test]
fn schedule_uses_each_bucket_its_steps_and_repeats() {
    let steps = [37, 0, 91, 12, 5, 64];
    let odds = curriculum_odds("grow-p2", 6).unwrap();
    assert_eq!(odds, [32.0, 16.0, 8.0, 4.0, 2.0, 1.0]);
    let buckets = schedule(&steps, &odds, 8, 5).unwrap();
    for (b, &n) in steps.iter().enumerate() {
        assert_eq!(
            buckets.iter().filter(|&&x| x as usize == b).count() as u64,
            n
        );
    }
    assert_eq!(buckets, schedule(&steps, &odds, 8, 5).unwrap());
    assert_ne!(buckets, schedule(&steps, &odds, 8, 6).unwrap());
    assert!(schedule(&steps, &odds, 0, 5).is_err());
    let error = schedule(&steps, &[1.0; 5], 8, 5).unwrap_err().to_string();
    assert!(error.contains("5 values for 6 buckets"), "{error}");
}

/// Where `state` resumes a `loader` over `dataset` with `options` and epochs of `epoch_size`
/// rows (epoch, rows consumed), or why it does not.
fn resume(
    state: &LoaderState,
    loader: LoaderKind,
    dataset: &str,
    options: &serde_json::Map<String, Value>,
    epoch_size: u64,
) -> std::result::Result<(u64, u64), String> {
    state
        .check_identity(loader, dataset, options)
        .and_then(|()| state.position(epoch_size))
        .map_err(|e| e.to_string())
}

#[test]
fn state_round_trips_and_reads_the_v1_formats() {
    let opts = json!({"seed": 1, "seq_len": 64});
    let options = opts.as_object().unwrap().clone();
    let state = LoaderState::new(LoaderKind::Packed, "fp".into(), options.clone(), 2, 8);
    let read = LoaderState::read(&state.to_json()).unwrap();
    assert_eq!(read, state);
    assert_eq!(
        resume(&read, LoaderKind::Packed, "fp", &options, 10),
        Ok((2, 8))
    );
    let v1 =
        json!({"version": 1, "dataset": "old", "options": opts, "epoch": 1, "consumed_rows": 12});
    let read = LoaderState::read(&v1).unwrap();
    assert_eq!(
        resume(&read, LoaderKind::Packed, "new", &options, 20),
        Ok((1, 12))
    );
    let decomposed =
        json!({"epoch": 0, "step": 5, "seed": 9, "cycles": 2, "tokens_per_step": 1024});
    let read = LoaderState::read(&decomposed).unwrap();
    let now = json!({"seed": 9, "cycles": 2, "tokens_per_step": 1024, "curriculum": [1.0]});
    let now = now.as_object().unwrap();
    assert_eq!(
        resume(&read, LoaderKind::Decomposed, "x", now, 16),
        Ok((0, 5))
    );
}

#[test]
fn bad_states_name_the_key() {
    let opts = json!({"seed": 1});
    let options = opts.as_object().unwrap();
    let v2 = |patch: Value| {
        let mut state =
            LoaderState::new(LoaderKind::Packed, "fp".into(), options.clone(), 1, 4).to_json();
        for (k, v) in patch.as_object().unwrap() {
            state[k] = v.clone();
        }
        state
    };
    let read_error = |state: Value| LoaderState::read(&state).unwrap_err().to_string();
    let resume_error = |state: Value| {
        let state = LoaderState::read(&state).unwrap();
        resume(&state, LoaderKind::Packed, "fp", options, 8).unwrap_err()
    };
    assert!(read_error(json!([1])).contains("must be a mapping"));
    assert!(
        read_error(v2(json!({"epoch": 1.5})))
            .contains("key 'epoch' must be a non-negative integer, got 1.5")
    );
    assert!(read_error(v2(json!({"version": 7}))).contains("key 'version' = 7 is unknown"));
    assert!(read_error(v2(json!({"consumed": -1}))).contains("key 'consumed'"));
    assert!(
        resume_error(v2(json!({"consumed": 9})))
            .contains("key 'consumed' = 9 is beyond epoch 1, which has 8 rows")
    );
    assert!(resume_error(v2(json!({"dataset": "other"}))).contains("state is of another dataset"));
    assert!(resume_error(v2(json!({"options": {"seed": 2}}))).contains("seed = 2 there, 1 here"));
    assert!(resume_error(v2(json!({"loader": "decomposed"}))).contains("not of a packed one"));
}

#[test]
fn balanced_steps_deal_long_rows_apart_with_equal_counts() {
    // Round-robin gives rank 0 both long rows of each step; the balancer one to each rank.
    let plan = plan_of(&[64, 64, 4, 4, 64, 64, 4, 4], 64);
    let attention = CostModel::new(1.0, 0.0).unwrap();
    let rows_of = |rank: u64| {
        let split = StepSplit::new(2, 2, rank, true)
            .unwrap()
            .balanced(Balance::new(attention, 1))
            .unwrap();
        let schedule = split.schedule(8, 0, 0, 1);
        (0..schedule.num_batches)
            .map(|i| schedule.rows(i, &plan))
            .collect::<Vec<_>>()
    };
    let expected = |a, b| vec![Some(a), Some(b)];
    assert_eq!(rows_of(0), [expected(0, 3), expected(4, 7)]);
    assert_eq!(rows_of(1), [expected(1, 2), expected(5, 6)]);
    assert_eq!(attention.row_cost(&plan, 0), 64.0 * 64.0);
    assert_eq!(CostModel::default().cost([3, 4]), 25.0 + 7.0 * 49152.0);
}

#[test]
fn bad_balance_options_are_refused() {
    let cost = |a, b| CostModel::new(a, b).unwrap_err().to_string();
    assert!(cost(-1.0, 0.0).contains("quadratic term must be a finite number ≥ 0, got -1"));
    assert!(cost(1.0, f64::NAN).contains("linear term"));
    assert!(cost(0.0, 0.0).contains("both terms 0"));
    let split = StepSplit::new(4, 2, 0, true).unwrap();
    let error = split
        .balanced(Balance::new(CostModel::default(), 3))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "micro_batches must be a positive divisor of batch_size = 4, got 3"
    );
    assert!(partition(&[1.0, 2.0, 3.0], 2, Partition::Lpt).is_err());
    assert!(partition(&[1.0, -2.0], 2, Partition::Lpt).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Every partition holds each row once, in groups of equal size, is the same when run
    /// again, and no swap between the heaviest group and another lowers the pair's larger
    /// load (the refinement's fixed point); its heaviest group is never heavier than the
    /// rows dealt in turn.
    #[test]
    fn partitions_are_equal_sized_deterministic_and_locally_optimal(
        costs in proptest::collection::vec(0u32..10_000, 1..48),
        groups in 1usize..9,
        kk in proptest::bool::ANY,
    ) {
        let per_group = costs.len().div_ceil(groups);
        let mut costs: Vec<f64> = costs.iter().map(|&c| f64::from(c)).collect();
        costs.resize(per_group * groups, 0.0);
        let method = if kk { Partition::KarmarkarKarp } else { Partition::Lpt };
        let group_of = partition(&costs, groups, method).unwrap();
        proptest::prop_assert_eq!(&group_of, &partition(&costs, groups, method).unwrap());
        let mut loads = vec![0.0; groups];
        let mut sizes = vec![0; groups];
        for (i, &g) in group_of.iter().enumerate() {
            loads[g] += costs[i];
            sizes[g] += 1;
        }
        proptest::prop_assert!(sizes.iter().all(|&n| n == per_group));
        // The refinement's heaviest group: the first of the heaviest.
        let heavy = (0..groups).rev().max_by(|&x, &y| loads[x].total_cmp(&loads[y])).unwrap();
        for i in (0..costs.len()).filter(|&i| group_of[i] == heavy) {
            for j in (0..costs.len()).filter(|&j| group_of[j] != heavy) {
                let moved = costs[i] - costs[j];
                let after = (loads[heavy] - moved).max(loads[group_of[j]] + moved);
                proptest::prop_assert!(after >= loads[heavy], "swap {i}<->{j} lowers the max");
            }
        }
        let in_turn = (0..groups)
            .map(|g| costs[g * per_group..(g + 1) * per_group].iter().sum::<f64>())
            .fold(0.0, f64::max);
        proptest::prop_assert!(loads[heavy] <= in_turn);
    }
}

use serde_json::{Value, json};

use super::*;

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

#[test]
fn split_hands_every_row_to_one_rank_and_worker() {
    for drop_last in [true, false] {
        let rows = 103;
        let splits: Vec<StepSplit> = (0..3)
            .map(|r| StepSplit::new(4, 3, r, drop_last).unwrap())
            .collect();
        let steps = splits[0].steps(rows, 0);
        assert_eq!(steps, if drop_last { 8 } else { 9 });
        assert_eq!(splits[0].rows_left_out(rows), if drop_last { 7 } else { 0 });
        let mut seen = vec![0; rows as usize + 12];
        for split in &splits {
            for worker in 0..2 {
                let schedule = split.schedule(rows, 24, worker, 2);
                for i in 0..schedule.num_batches {
                    for row in schedule.rows(i, seen.len()).into_iter().flatten() {
                        seen[row] += 1;
                    }
                }
            }
        }
        let handed = (24..(steps * 12) as usize).collect::<Vec<_>>();
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

#[test]
fn state_round_trips_and_reads_the_v1_formats() {
    let opts = json!({"seed": 1, "seq_len": 64});
    let options = opts.as_object().unwrap().clone();
    let state = LoaderState::new(LoaderKind::Packed, "fp".into(), options.clone(), 2, 8);
    let read = LoaderState::read(&state.to_json()).unwrap();
    assert_eq!(read, state);
    assert_eq!(
        read.check_identity(LoaderKind::Packed, "fp", &options)
            .and_then(|()| read.position(10))
            .unwrap(),
        (2, 8)
    );
    let v1 =
        json!({"version": 1, "dataset": "old", "options": opts, "epoch": 1, "consumed_rows": 12});
    let read = LoaderState::read(&v1).unwrap();
    assert_eq!(
        read.check_identity(LoaderKind::Packed, "new", &options)
            .and_then(|()| read.position(20))
            .unwrap(),
        (1, 12)
    );
    let decomposed =
        json!({"epoch": 0, "step": 5, "seed": 9, "cycles": 2, "tokens_per_step": 1024});
    let read = LoaderState::read(&decomposed).unwrap();
    let now = json!({"seed": 9, "cycles": 2, "tokens_per_step": 1024, "curriculum": [1.0]});
    let now = now.as_object().unwrap();
    assert_eq!(
        read.check_identity(LoaderKind::Decomposed, "x", now)
            .and_then(|()| read.position(16))
            .unwrap(),
        (0, 5)
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
        state
            .check_identity(LoaderKind::Packed, "fp", options)
            .and_then(|()| state.position(8))
            .unwrap_err()
            .to_string()
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

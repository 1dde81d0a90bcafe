//! The dataset reader under mutation: real shards and manifests with bytes flipped or
//! overwritten, files cut short and manifest fields replaced or removed, with checksums and
//! sizes made to agree or not. Opening must return the dataset or an error, and every read of
//! an opened dataset must stay in bounds: no panic, no crash, no hang.
//!
//! `SEQPACK_MUTATIONS=100000 cargo test -p seqpack-core --profile ci mutated_datasets` runs
//! a long campaign; the default is short enough for every test run.

use std::path::{Path, PathBuf};

use arrow_array::Array;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::mutation_runner::mutation_runner;

use super::{Dataset, LengthHistogram, MANIFEST, Manifest, PackedRow, Row, Verify};
use super::{FORMAT_NAME, FORMAT_VERSION, checksum_file, write_packed_shard, write_shard};

#[derive(Debug, Clone)]
enum Mutation {
    Flip { shard: usize, at: f64, xor: u8 },
    Overwrite { shard: usize, at: f64, value: u64 },
    Truncate { shard: usize, keep: f64 },
    Field { field: usize, value: usize },
}

/// The manifest fields a mutation can replace or remove.
const FIELDS: &[&[&str]] = &[
    &["format_version"],
    &["total_rows"],
    &["total_tokens"],
    &["tokenizer"],
    &["tokenizer", "vocab_size"],
    &["shards"],
    &["shards", "0"],
    &["shards", "0", "file"],
    &["shards", "0", "rows"],
    &["shards", "1", "tokens"],
    &["shards", "1", "file"],
    &["options"],
];

fn replacement(index: usize) -> Option<Value> {
    let values = [
        json!(null),
        json!(-1),
        json!(0),
        json!(1),
        json!(u64::MAX),
        json!(1e300),
        json!("x"),
        json!("../other/shard-00000.arrow"),
        json!("/dev/zero"),
        json!("shard-00000.arrow"),
        json!([]),
        json!({}),
    ];
    values.get(index).cloned()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..2usize, 0.0..1.0f64, 1..=255u8).prop_map(|(shard, at, xor)| Mutation::Flip {
            shard,
            at,
            xor
        }),
        (
            0..2usize,
            0.0..1.0f64,
            prop_oneof![
                Just(u64::MAX),
                Just(1 << 31),
                Just(1 << 40),
                Just(i64::MAX as u64),
                any::<u64>()
            ]
        )
            .prop_map(|(shard, at, value)| Mutation::Overwrite { shard, at, value }),
        (0..2usize, 0.0..1.0f64).prop_map(|(shard, keep)| Mutation::Truncate { shard, keep }),
        (0..FIELDS.len(), 0..13usize).prop_map(|(field, value)| Mutation::Field { field, value }),
    ]
}

/// A dataset of two shards, of documents or of packed rows (with `seq_lengths`).
fn write_original(dir: &Path, packed: bool) -> (Vec<Vec<u8>>, Value) {
    std::fs::create_dir_all(dir).unwrap();
    let sources = vec!["a.jsonl".to_string()];
    let rows: Vec<Row> = [3usize, 1, 4, 1]
        .iter()
        .enumerate()
        .map(|(d, &n)| Row {
            tokens: (0..n as u32).map(|i| d as u32 * 10 + i).collect(),
            source: 0,
            line: d as u64 + 1,
            loss_mask: None,
        })
        .collect();
    let packed_rows = [PackedRow {
        tokens: vec![5, 6, 7, 0],
        seq_lengths: vec![2, 1],
        documents: vec![0, 1],
        starts: vec![0, 0],
        loss_mask: None,
    }];
    let (first, second) = if packed {
        (
            write_packed_shard(dir, 0, 0, &packed_rows).unwrap(),
            write_packed_shard(dir, 1, 1, &packed_rows).unwrap(),
        )
    } else {
        (
            write_shard(dir, 0, 0, &rows[..2], &sources).unwrap(),
            write_shard(dir, 1, 2, &rows[2..], &sources).unwrap(),
        )
    };
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        tokenizer: super::TokenizerInfo {
            fingerprint: "test".into(),
            implementation: None,
            vocab_size: 64,
        },
        total_rows: first.rows + second.rows,
        total_tokens: first.tokens + second.tokens,
        shards: vec![first, second],
        total_text_bytes: 0,
        length_histogram: LengthHistogram::default(),
        skipped: Default::default(),
        sources,
        options: Default::default(),
        loss_mask: None,
    };
    manifest.write(&dir.join(MANIFEST)).unwrap();
    let shards = manifest
        .shards
        .iter()
        .map(|s| std::fs::read(dir.join(&s.file)).unwrap())
        .collect();
    (shards, serde_json::to_value(&manifest).unwrap())
}

fn apply(mutation: &Mutation, shards: &mut [Vec<u8>], manifest: &mut Value) {
    let position = |len: usize, at: f64| ((len as f64 * at) as usize).min(len.saturating_sub(1));
    match *mutation {
        Mutation::Flip { shard, at, xor } => {
            let at = position(shards[shard].len(), at);
            if let Some(byte) = shards[shard].get_mut(at) {
                *byte ^= xor;
            }
        }
        Mutation::Overwrite { shard, at, value } => {
            let bytes = &mut shards[shard];
            let at = position(bytes.len().saturating_sub(8), at);
            let end = (at + 8).min(bytes.len());
            bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        Mutation::Truncate { shard, keep } => {
            let len = shards[shard].len();
            shards[shard].truncate((len as f64 * keep) as usize);
        }
        Mutation::Field { field, value } => {
            let path = FIELDS[field];
            let mut target = &mut *manifest;
            for key in &path[..path.len() - 1] {
                target = match target {
                    Value::Array(items) => {
                        match key.parse().ok().and_then(|i: usize| items.get_mut(i)) {
                            Some(item) => item,
                            None => return,
                        }
                    }
                    Value::Object(map) => match map.get_mut(*key) {
                        Some(item) => item,
                        None => return,
                    },
                    _ => return,
                };
            }
            let last = path[path.len() - 1];
            match (target, replacement(value)) {
                (Value::Object(map), Some(value)) => {
                    map.insert(last.into(), value);
                }
                (Value::Object(map), None) => {
                    map.remove(last);
                }
                (Value::Array(items), value) => {
                    if let Some(item) = last.parse().ok().and_then(|i: usize| items.get_mut(i)) {
                        *item = value.unwrap_or(Value::Null);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Opens the mutated dataset and reads everything it hands out.
fn open_and_read(dir: &Path, contents: bool) {
    let verify = Verify {
        contents,
        tokenizer_fingerprint: None,
    };
    let Ok(dataset) = Dataset::open(dir, &verify) else {
        return;
    };
    let store = dataset.store();
    let (mut tokens, mut sum) = (0u64, 0u64);
    for row in 0..store.len() {
        let row_tokens = store.tokens(row).unwrap();
        tokens += row_tokens.len() as u64;
        sum = row_tokens
            .iter()
            .fold(sum, |s, &t| s.wrapping_add(u64::from(t)));
        if let Some(lengths) = store.seq_lengths(row).unwrap() {
            assert!(lengths.iter().map(|&n| u64::from(n)).sum::<u64>() <= 1 << 32);
        }
    }
    assert_eq!(tokens, dataset.manifest().total_tokens);
    assert_eq!(store.lengths().len() as u64, dataset.manifest().total_rows);
    assert_eq!(dataset.fingerprint().len(), 32);
    // Touch every byte of every buffer handed out: one that lay beyond the mapping would
    // fault here.
    for batch in store.record_batches() {
        let mut arrays: Vec<_> = batch.columns().iter().map(|c| c.to_data()).collect();
        while let Some(data) = arrays.pop() {
            for buffer in data.buffers() {
                sum = buffer
                    .iter()
                    .fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
            }
            arrays.extend(data.child_data().iter().cloned());
        }
    }
    std::hint::black_box(sum);
}

fn case_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("seqpack-mutate-{name}-{}", std::process::id()))
}

#[test]
fn mutated_datasets_open_or_fail_without_a_panic() {
    let original_dir = case_dir("original");
    let originals = [false, true].map(|packed| {
        let dir = original_dir.join(if packed { "packed" } else { "documents" });
        let original = write_original(&dir, packed);
        // The unmutated dataset opens, verified.
        let verify = Verify {
            contents: true,
            tokenizer_fingerprint: None,
        };
        Dataset::open(&dir, &verify).unwrap();
        original
    });
    let dir = case_dir("case");
    std::fs::create_dir_all(&dir).unwrap();
    let mut runner = mutation_runner(2_000);
    let strategy = (
        0..2usize,
        proptest::collection::vec(mutation(), 1..4),
        any::<bool>(),
        any::<bool>(),
    );
    let files: Vec<String> = ["shard-00000.arrow", "shard-00001.arrow"]
        .map(String::from)
        .into();
    runner
        .run(&strategy, |(original, mutations, agree, contents)| {
            let (mut shards, mut manifest) = originals[original].clone();
            for mutation in &mutations {
                apply(mutation, &mut shards, &mut manifest);
            }
            for (file, bytes) in files.iter().zip(&shards) {
                std::fs::write(dir.join(file), bytes).unwrap();
            }
            if agree {
                // The lie is in the Arrow metadata only: sizes and checksums agree.
                if let Some(Value::Array(entries)) = manifest.get_mut("shards") {
                    for (entry, (file, bytes)) in entries.iter_mut().zip(files.iter().zip(&shards))
                    {
                        if let Value::Object(entry) = entry {
                            entry.insert("bytes".into(), json!(bytes.len()));
                            let checksum = checksum_file(&dir.join(file)).unwrap();
                            entry.insert("checksum".into(), json!(checksum));
                        }
                    }
                }
            }
            std::fs::write(dir.join(MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
            open_and_read(&dir, contents);
            Ok(())
        })
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&original_dir).unwrap();
}

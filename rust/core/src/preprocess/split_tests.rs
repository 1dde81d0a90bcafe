//! Splits: any split size gives the same documents, and splits run apart (in any order, as
//! a cluster runs them) give the local run's dataset byte for byte.

use std::path::{Path, PathBuf};

use super::tests::{BYTES, mixed_jsonl, rows, temp_dir, write};
use super::*;
use crate::shard;

/// A JSONL corpus of long and short documents, blank lines, escapes and a few bad and empty
/// records, and a line-wise text file without a last line end.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    let text = mixed_jsonl(600, 500, "{broken\n\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"{\"text\": \"gz\"}\n").unwrap();
    vec![
        write(&dir.join("a.jsonl"), text.as_bytes()),
        write(&dir.join("b.txt"), b"one\ntwo\n\nthree"),
        write(&dir.join("c.jsonl.gz"), &gz.finish().unwrap()),
        write(&dir.join("d.jsonl"), text.as_bytes()),
    ]
}

fn options(split_bytes: u64) -> PreprocessOptions {
    PreprocessOptions {
        shard_tokens: 20_000,
        on_error: OnError::Skip,
        lines: true,
        append: Some(7),
        workers: 2,
        batch_records: 64,
        split_bytes,
        ..PreprocessOptions::default()
    }
}

fn local(inputs: &[PathBuf], out: &Path, options: &PreprocessOptions) -> Manifest {
    preprocess(inputs, out, &BYTES, options, &mut |_| Ok(())).unwrap()
}

/// The splits as a cluster runs them: counted, then tokenized in `order`, then committed.
fn apart(
    inputs: &[PathBuf],
    out: &Path,
    options: &PreprocessOptions,
    order: impl Fn(usize) -> Vec<usize>,
) -> Result<Manifest> {
    let plan = plan_run(inputs, &BYTES, options)?;
    assert!(begin(out, &plan, &BYTES, options)?.is_none());
    let counts = (0..plan.splits.len())
        .map(|k| count_split(&plan, k, &BYTES, options))
        .collect::<Result<Vec<_>>>()?;
    let starts = starts(&plan, &counts)?;
    let mut results = vec![None; plan.splits.len()];
    for k in order(plan.splits.len()) {
        let result = preprocess_split(&plan, k, starts[k], out, &BYTES, options, &mut |_| Ok(()))?;
        assert_eq!(result.documents, counts[k].documents, "split {k}");
        results[k] = Some(result);
    }
    let results: Vec<SplitResult> = results.into_iter().map(Option::unwrap).collect();
    commit(out, &plan, &results, &BYTES, options)
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_split_size_gives_the_same_documents() {
    let dir = temp_dir("split-sizes");
    let inputs = corpus(&dir);
    let reference_dir = dir.join("reference");
    let reference = local(&inputs, &reference_dir, &options(u64::MAX));
    assert!(reference.shards.len() > 4);
    let size = std::fs::metadata(&inputs[0]).unwrap().len();
    for split_bytes in [700, 4096, size / 3, size - 1, size] {
        let out = dir.join(format!("split-{split_bytes}"));
        let manifest = local(&inputs, &out, &options(split_bytes));
        assert_eq!(
            rows(&out, &manifest),
            rows(&reference_dir, &reference),
            "{split_bytes}"
        );
        assert_eq!(manifest.total_rows, reference.total_rows);
        assert_eq!(manifest.total_tokens, reference.total_tokens);
        assert_eq!(manifest.skipped, reference.skipped);
        assert_eq!(manifest.length_histogram, reference.length_histogram);
        assert_eq!(manifest.total_text_bytes, reference.total_text_bytes);
        // Only the manifest is left beside the shards.
        let left = files(&out);
        assert_eq!(left.len(), manifest.shards.len() + 1, "{split_bytes}");
    }
}

#[test]
fn splits_run_apart_in_any_order_give_the_local_dataset_byte_for_byte() {
    let dir = temp_dir("split-apart");
    let inputs = corpus(&dir);
    for split_bytes in [9000, 40_000] {
        let options = options(split_bytes);
        let local_dir = dir.join(format!("local-{split_bytes}"));
        let manifest = local(&inputs, &local_dir, &options);
        assert!(manifest.shards.len() > 6);
        for (name, order) in [
            ("forward", (|n| (0..n).collect()) as fn(usize) -> Vec<usize>),
            ("backward", |n| (0..n).rev().collect()),
        ] {
            let out = dir.join(format!("{name}-{split_bytes}"));
            let apart = apart(&inputs, &out, &options, order).unwrap();
            assert_eq!(apart, manifest);
            assert_eq!(files(&out), files(&local_dir), "{name}");
        }
    }
}

#[test]
fn the_counting_pass_names_the_first_bad_record_as_the_local_run_does() {
    let dir = temp_dir("split-bad");
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!("{{\"text\": \"document {i}\"}}\n"));
        if i == 300 {
            text.push_str("{\"text\": 3}\n");
        }
    }
    let inputs = [write(&dir.join("a.jsonl"), text.as_bytes())];
    let options = PreprocessOptions {
        split_bytes: 1000,
        ..PreprocessOptions::default()
    };
    let local_error = preprocess(&inputs, &dir.join("local"), &BYTES, &options, &mut |_| {
        Ok(())
    })
    .unwrap_err()
    .to_string();
    assert!(local_error.contains("a.jsonl:302:"), "{local_error}");
    let out = dir.join("apart");
    let apart_error = apart(&inputs, &out, &options, |n| (0..n).collect()).unwrap_err();
    assert_eq!(apart_error.to_string(), local_error);
    // Found before any tokenizing: no shard was written.
    assert!(
        files(&out)
            .iter()
            .all(|(name, _)| !name.ends_with(".arrow"))
    );
}

#[test]
fn a_split_killed_part_way_goes_on_from_its_journal() {
    let dir = temp_dir("split-killed");
    let inputs = corpus(&dir);
    let options = PreprocessOptions {
        shard_tokens: 5000,
        ..options(30_000)
    };
    let reference = dir.join("reference");
    let manifest = local(&inputs, &reference, &options);
    let plan = plan_run(&inputs, &BYTES, &options).unwrap();
    let counts: Vec<SplitCount> = (0..plan.splits.len())
        .map(|k| count_split(&plan, k, &BYTES, &options).unwrap())
        .collect();
    let starts = starts(&plan, &counts).unwrap();
    let out = dir.join("killed");
    let mut results = Vec::new();
    for (k, start) in starts.iter().enumerate() {
        // The first attempt of every split is stopped after a few batches.
        let mut batches = 0;
        let stopped = preprocess_split(&plan, k, *start, &out, &BYTES, &options, &mut |_| {
            batches += 1;
            if batches == 3 {
                Err(Error::Interrupted)
            } else {
                Ok(())
            }
        });
        if let Err(error) = &stopped {
            assert!(matches!(error, Error::Interrupted), "{error}");
        }
        let result = preprocess_split(&plan, k, *start, &out, &BYTES, &options, &mut |_| Ok(()));
        results.push(result.unwrap());
    }
    let resumed = commit(&out, &plan, &results, &BYTES, &options).unwrap();
    assert_eq!(resumed, manifest);
    assert_eq!(files(&out), files(&reference));
}

#[test]
fn a_commit_of_results_that_do_not_follow_on_is_refused() {
    let dir = temp_dir("split-commit");
    let inputs = corpus(&dir);
    let options = options(30_000);
    let plan = plan_run(&inputs, &BYTES, &options).unwrap();
    let out = dir.join("out");
    let mut results = Vec::new();
    let mut start = SplitStart {
        first_line: 1,
        first_doc_id: 0,
    };
    // Every split told it starts at document 0 and line 1: ids would repeat.
    for k in 0..plan.splits.len() {
        results.push(
            preprocess_split(&plan, k, start, &out, &BYTES, &options, &mut |_| Ok(())).unwrap(),
        );
        start = SplitStart {
            first_line: 1,
            first_doc_id: 0,
        };
    }
    let refused = commit(&out, &plan, &results, &BYTES, &options).unwrap_err();
    assert!(
        refused.to_string().contains("does not follow on"),
        "{refused}"
    );
    assert!(!out.join(shard::MANIFEST).exists());
    let short = commit(&out, &plan, &results[1..], &BYTES, &options).unwrap_err();
    assert!(
        short.to_string().contains("split results for a plan"),
        "{short}"
    );
}

//! The pipeline end to end on small hand-made corpora, with a byte-level toy encoder.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};

use super::fn_tokenizer::FnTokenizer;
use super::*;
use crate::shard;

/// One token per byte: enough to check plumbing, order and counts.
pub(super) const BYTES: FnTokenizer = FnTokenizer {
    encode: |text| text.bytes().map(u32::from).collect(),
    decode: |ids| ids.iter().map(|&id| id as u8).collect(),
    vocab_size: 256,
    fingerprint: "bytes",
};

/// An empty directory of its own for a test (or a test case).
pub(super) fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("seqpack-preprocess-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// (doc_id, source, line, tokens) of every row of every shard, in order.
pub(super) fn rows(dir: &Path, manifest: &Manifest) -> Vec<(u64, String, u64, Vec<u32>)> {
    let mut out = Vec::new();
    for entry in &manifest.shards {
        let path = dir.join(&entry.file);
        assert_eq!(shard::checksum_file(&path).unwrap(), entry.checksum);
        let reader =
            arrow_ipc::reader::FileReader::try_new(std::fs::File::open(&path).unwrap(), None)
                .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let ids = batch.column(0).as_list::<i64>();
            let lengths = batch.column(1).as_primitive::<UInt32Type>();
            let doc = batch.column(2).as_primitive::<UInt64Type>();
            let source = batch.column(3).as_string::<i32>();
            let line = batch.column(4).as_primitive::<UInt64Type>();
            for i in 0..batch.num_rows() {
                let tokens: Vec<u32> = ids.value(i).as_primitive::<UInt32Type>().values().to_vec();
                assert_eq!(tokens.len() as u32, lengths.value(i));
                out.push((
                    doc.value(i),
                    source.value(i).to_string(),
                    line.value(i),
                    tokens,
                ));
            }
        }
    }
    out
}

/// `documents` JSONL records: every eleventh a long text (`long` bytes and more), every
/// eleventh an empty one, the others short with escapes; `broken` (a bad record) comes
/// before every 499th.
pub(super) fn mixed_jsonl(documents: usize, long: usize, broken: &str) -> String {
    let mut text = String::new();
    for i in 0..documents {
        let body = match i % 11 {
            0 => "x".repeat(long + i),
            1 => String::new(),
            _ => format!("doc {i} \\\"quoted\\\" \\u00e9 {}", "ab\\n".repeat(i % 97)),
        };
        if i % 499 == 0 {
            text.push_str(broken);
        }
        text.push_str(&format!("{{\"id\": {i}, \"text\": \"{body}\"}}\n"));
    }
    text
}

pub(super) fn run(inputs: &[PathBuf], out: &Path, options: &PreprocessOptions) -> Result<Manifest> {
    preprocess(inputs, out, &BYTES, options, &mut |_| Ok(()))
}

/// Runs `options` over one input, `file` holding `contents`, in a directory of its own for
/// the test `test`: the output directory and the manifest.
pub(super) fn run_one(
    test: &str,
    file: &str,
    contents: &[u8],
    options: &PreprocessOptions,
) -> (PathBuf, Manifest) {
    let (input, out) = one_input(test, file, contents);
    let manifest = run(&[input], &out, options).unwrap();
    (out, manifest)
}

/// Runs `options` over `inputs` into `out`, interrupted (as by Ctrl-C) at the first
/// progress report `stop` picks.
pub(super) fn interrupt_when(
    inputs: &[PathBuf],
    out: &Path,
    options: &PreprocessOptions,
    mut stop: impl FnMut(&Progress) -> bool,
) {
    let error = preprocess(inputs, out, &BYTES, options, &mut |progress| {
        if stop(progress) {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(matches!(error, Error::Interrupted), "{error}");
}

/// The `reports`-th progress report.
fn after(reports: usize) -> impl FnMut(&Progress) -> bool {
    let mut calls = 0;
    move |_| {
        calls += 1;
        calls == reports
    }
}

/// [`run`] resuming the run interrupted in `out`.
pub(super) fn resume(
    inputs: &[PathBuf],
    out: &Path,
    options: &PreprocessOptions,
) -> Result<Manifest> {
    let resume = PreprocessOptions {
        resume: true,
        ..options.clone()
    };
    run(inputs, out, &resume)
}

/// A directory of its own for the test `test` holding one input, `file` with `contents`:
/// the input's path, and the output directory's beside it.
pub(super) fn one_input(test: &str, file: &str, contents: &[u8]) -> (PathBuf, PathBuf) {
    let dir = temp_dir(test);
    (write(&dir.join(file), contents), dir.join("out"))
}

/// Bad records in `inputs`: a run stops at the first, `first` (file, line, reason); one
/// that skips them (with `options` otherwise) keeps `rows` rows and counts the bad ones by
/// reason as `skipped`.
pub(super) fn assert_bad_records(
    inputs: &[PathBuf],
    options: &PreprocessOptions,
    first: (&str, u64, &str),
    rows: u64,
    skipped: &[(&str, u64)],
) {
    let error = run(inputs, &inputs[0].with_file_name("stopped"), options).unwrap_err();
    assert_bad_record(&error, first);
    let skip = PreprocessOptions {
        on_error: OnError::Skip,
        ..options.clone()
    };
    let manifest = run(inputs, &inputs[0].with_file_name("skipped"), &skip).unwrap();
    assert_eq!(manifest.total_rows, rows);
    let counted: Vec<(&str, u64)> = manifest
        .skipped
        .iter()
        .map(|(reason, &count)| (reason.as_str(), count))
        .collect();
    assert_eq!(counted, skipped);
}

/// `error` names record `line` of the input `file`, bad for `reason`.
#[track_caller]
pub(super) fn assert_bad_record(error: &Error, (file, line, reason): (&str, u64, &str)) {
    match error {
        Error::Record {
            path,
            line: at,
            reason: why,
            ..
        } => {
            assert!(path.ends_with(file), "{error}");
            assert_eq!((*at, *why), (line, reason), "{error}");
            assert!(
                error.to_string().contains(&format!("{file}:{line}: ")),
                "{error}"
            );
        }
        other => panic!("expected a bad record, got {other}"),
    }
}

/// The manifest on disk in `out` is `manifest`.
pub(super) fn assert_written(out: &Path, manifest: &Manifest) {
    assert_eq!(
        &Manifest::read(&out.join(shard::MANIFEST)).unwrap(),
        manifest
    );
}

#[test]
fn formats_order_and_counts() {
    let dir = temp_dir("formats");
    let jsonl = write(
        &dir.join("a.jsonl"),
        b"{\"text\": \"ab\"}\n\n{\"text\": \"c\", \"x\": 1}\r\n",
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"text\": \"gz\"}\n").unwrap();
    let gz = write(&dir.join("b.jsonl.gz"), &gz.finish().unwrap());
    let zst = write(
        &dir.join("c.jsonl.zst"),
        &zstd::encode_all(&b"{\"text\": \"zs\"}\n"[..], 0).unwrap(),
    );
    let txt = write(&dir.join("d.txt"), "whole\nfile é".as_bytes());
    let out = dir.join("out");
    let options = PreprocessOptions {
        append: Some(999),
        ..PreprocessOptions::default()
    };
    let manifest = run(&[jsonl, gz, zst, txt], &out, &options).unwrap();
    let got = rows(&out, &manifest);
    let expect_tokens = |s: &str| s.bytes().map(u32::from).chain([999]).collect::<Vec<_>>();
    let sources: Vec<&str> = got
        .iter()
        .map(|r| r.1.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["a.jsonl", "a.jsonl", "b.jsonl.gz", "c.jsonl.zst", "d.txt"]
    );
    assert_eq!(got.iter().map(|r| r.2).collect::<Vec<_>>(), [1, 3, 1, 1, 1]);
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(got[0].3, expect_tokens("ab"));
    assert_eq!(got[4].3, expect_tokens("whole\nfile é"));
    assert_eq!(manifest.total_rows, 5);
    assert_eq!(
        manifest.total_tokens,
        got.iter().map(|r| r.3.len() as u64).sum::<u64>()
    );
    assert_eq!(manifest.tokenizer.fingerprint, "bytes");
    assert_eq!(manifest.length_histogram.counts.iter().sum::<u64>(), 5);
    assert!(manifest.skipped.is_empty());
    // The manifest on disk is the one returned.
    assert_written(&out, &manifest);
}

#[test]
fn bad_records_fail_with_file_and_line_or_are_counted() {
    let dir = temp_dir("bad");
    let inputs = [
        write(
            &dir.join("bad.jsonl"),
            b"{\"text\": \"ok\"}\n{\"text\": 3}\n{nope\n{\"body\": \"x\"}\n{\"text\": \"\"}\n{\"text\": \"\xff\"}\n",
        ),
        write(&dir.join("bad.txt"), b"\xff\xfe"),
        dir.join("missing.jsonl"),
    ];
    let lines = PreprocessOptions {
        lines: true,
        ..PreprocessOptions::default()
    };
    let skipped = [
        ("empty", 1),
        ("invalid_utf8", 2),
        ("malformed_json", 1),
        ("missing_field", 2),
        ("unreadable_file", 1),
    ];
    assert_bad_records(
        &inputs,
        &lines,
        ("bad.jsonl", 2, "missing_field"),
        1,
        &skipped,
    );
    let error = run(&inputs[2..], &dir.join("out3"), &lines).unwrap_err();
    assert_bad_record(&error, ("missing.jsonl", 0, "unreadable_file"));
}

#[test]
fn a_failed_run_leaves_no_half_written_shard() {
    // The first document fills a record batch, so its shard is open when the second fails.
    let big = "x".repeat(sink::RECORD_BATCH_TOKENS as usize + 10);
    let text = format!("{{\"text\": \"{big}\"}}\n{{nope\n");
    let (jsonl, out) = one_input("failed", "a.jsonl", text.as_bytes());
    let error = run(&[jsonl], &out, &PreprocessOptions::default()).unwrap_err();
    assert_bad_record(&error, ("a.jsonl", 2, "malformed_json"));
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|name| !name.ends_with(".tmp")), "{left:?}");
}

#[test]
fn an_interrupted_run_resumes_to_the_same_dataset() {
    let dir = temp_dir("resume");
    let text: String = (0..500)
        .map(|i| format!("{{\"text\": \"document {i} {}\"}}\n", "x".repeat(i % 37)))
        .collect();
    let inputs = [
        write(&dir.join("a.jsonl"), text.as_bytes()),
        write(&dir.join("b.txt"), b"one\ntwo\n\nthree"),
    ];
    let options = PreprocessOptions {
        shard_tokens: 700,
        batch_records: 16,
        lines: true,
        ..PreprocessOptions::default()
    };
    let reference_dir = dir.join("reference");
    let reference = run(&inputs, &reference_dir, &options).unwrap();
    assert!(reference.shards.len() > 5);
    for stop_after in [1, 7, 20, 31] {
        let out = dir.join(format!("resumed-{stop_after}"));
        interrupt_when(&inputs, &out, &options, after(stop_after));
        // Without resume a half-done directory is refused.
        if std::fs::read_dir(&out).unwrap().next().is_some() {
            assert!(run(&inputs, &out, &options).is_err());
        }
        // A temporary file left by a kill during a write is cleaned up.
        std::fs::write(out.join("shard-00000-00099.arrow.tmp"), b"half").unwrap();
        let resumed = resume(&inputs, &out, &options).unwrap();
        assert_eq!(
            resumed.shards, reference.shards,
            "stopped after {stop_after} batches"
        );
        assert_eq!(rows(&out, &resumed), rows(&reference_dir, &reference));
        assert_eq!(resumed.skipped, reference.skipped);
        assert_eq!(resumed.length_histogram, reference.length_histogram);
        assert!(!out.join("shard-00000-00099.arrow.tmp").exists());
    }
    // Resuming with other options is refused.
    let out = dir.join("other");
    interrupt_when(&inputs, &out, &options, after(3));
    let other = PreprocessOptions {
        shard_tokens: 900,
        ..options
    };
    assert!(resume(&inputs, &out, &other).is_err());
}

#[test]
fn the_dataset_is_the_same_whatever_the_threads_and_batches() {
    let dir = temp_dir("threads");
    // Long and short documents, escapes, a few bad and empty records.
    let text = mixed_jsonl(3000, 5000, "{broken\n");
    let inputs = [
        write(&dir.join("a.jsonl"), text.as_bytes()),
        write(&dir.join("b.txt"), b"one\ntwo\n\nthree"),
        write(&dir.join("c.jsonl"), text.as_bytes()),
    ];
    // Small shards of one record batch each, and large ones of several.
    for shard_tokens in [50_000, 3 * sink::RECORD_BATCH_TOKENS] {
        let options = |workers, batch_records| PreprocessOptions {
            shard_tokens,
            on_error: OnError::Skip,
            lines: true,
            append: Some(7),
            workers,
            batch_records,
            ..PreprocessOptions::default()
        };
        let reference_dir = dir.join(format!("reference-{shard_tokens}"));
        let reference = run(&inputs, &reference_dir, &options(1, 8192)).unwrap();
        assert!(reference.shards.len() > 1);
        assert_eq!(reference.skipped["malformed_json"], 14);
        let first_shard = reference_dir.join(&reference.shards[0].file);
        let file = std::fs::File::open(first_shard).unwrap();
        let record_batches = arrow_ipc::reader::FileReader::try_new(file, None)
            .unwrap()
            .num_batches();
        assert_eq!(record_batches > 1, shard_tokens > sink::RECORD_BATCH_TOKENS);
        for (workers, batch_records) in [(1, 1), (2, 3), (4, 16), (3, 1000), (2, 8192)] {
            let out = dir.join(format!("w{workers}-b{batch_records}-{shard_tokens}"));
            let manifest = run(&inputs, &out, &options(workers, batch_records)).unwrap();
            // Equal checksums: byte-identical shard files.
            assert_eq!(manifest.shards, reference.shards, "{workers} workers");
            assert_eq!(manifest.skipped, reference.skipped);
            assert_eq!(manifest.length_histogram, reference.length_histogram);
            assert_eq!(manifest.total_text_bytes, reference.total_text_bytes);
            assert_eq!(rows(&out, &manifest), rows(&reference_dir, &reference));
        }
    }
}

#[test]
fn a_directory_being_written_by_another_run_is_refused() {
    let dir = temp_dir("locked");
    let inputs = [write(&dir.join("a.txt"), b"one\ntwo\n")];
    let out = dir.join("out");
    let held = output::OutputLock::acquire(&out).unwrap();
    let refused = run(&inputs, &out, &PreprocessOptions::default()).unwrap_err();
    assert!(
        refused.to_string().contains("another seqpack run"),
        "{refused}"
    );
    drop(held);
    run(&inputs, &out, &PreprocessOptions::default()).unwrap();
    assert!(!out.join(output::LOCK).exists());
}

#[test]
fn resume_deletes_nothing_it_did_not_write() {
    let dir = temp_dir("resume-foreign");
    let inputs = [write(&dir.join("a.txt"), b"one\ntwo\n")];
    // A directory no run of seqpack made: refused, every file kept.
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    for name in ["shard-00000.arrow", "notes.tmp", "keep.txt"] {
        std::fs::write(foreign.join(name), b"mine").unwrap();
    }
    let refused = resume(&inputs, &foreign, &PreprocessOptions::default()).unwrap_err();
    assert!(
        refused.to_string().contains("no interrupted seqpack run"),
        "{refused}"
    );
    for name in ["shard-00000.arrow", "notes.tmp", "keep.txt"] {
        assert_eq!(
            std::fs::read(foreign.join(name)).unwrap(),
            b"mine",
            "{name}"
        );
    }
    // An interrupted run of its own: its temporary files go, a user's files beside them stay.
    let own = dir.join("own");
    let many: String = (0..300).map(|i| format!("line {i}\n")).collect();
    let inputs = [write(&dir.join("many.txt"), many.as_bytes())];
    let options = PreprocessOptions {
        shard_tokens: 200,
        batch_records: 8,
        lines: true,
        ..PreprocessOptions::default()
    };
    interrupt_when(&inputs, &own, &options, after(20));
    assert!(own.join(journal::journal_name(0)).exists());
    std::fs::write(own.join("notes.tmp"), b"mine").unwrap();
    std::fs::write(own.join("shard-00000-00077.arrow.tmp"), b"half").unwrap();
    let resumed = resume(&inputs, &own, &options).unwrap();
    assert_eq!(resumed.total_rows, 300);
    assert_eq!(std::fs::read(own.join("notes.tmp")).unwrap(), b"mine");
    assert!(!own.join("shard-00000-00077.arrow.tmp").exists());
}

#[test]
fn resume_into_a_finished_dataset_of_other_inputs_or_options_is_an_error() {
    let dir = temp_dir("resume-finished");
    let a = [write(&dir.join("a.txt"), b"one\ntwo\n")];
    let b = [write(&dir.join("b.txt"), b"three\n")];
    let lines = PreprocessOptions {
        lines: true,
        ..PreprocessOptions::default()
    };
    let out = dir.join("out");
    let made = run(&a, &out, &lines).unwrap();
    // The same run again: its finished manifest.
    assert_eq!(resume(&a, &out, &lines).unwrap(), made);
    // Other inputs, or other options: an error, the dataset untouched.
    for (inputs, options) in [
        (&b, lines.clone()),
        (
            &a,
            PreprocessOptions {
                shard_tokens: 3,
                ..lines.clone()
            },
        ),
    ] {
        let refused = resume(inputs, &out, &options).unwrap_err();
        assert!(refused.to_string().contains("other inputs"), "{refused}");
    }
    assert_written(&out, &made);
}

#[test]
fn the_manifest_records_the_tokenizer_and_older_ones_still_read() {
    let (out, manifest) = run_one(
        "implementation",
        "a.jsonl",
        b"{\"text\": \"ab\"}\n",
        &PreprocessOptions::default(),
    );
    assert_eq!(manifest.tokenizer.fingerprint, "bytes");
    assert_eq!(manifest.tokenizer.implementation.as_deref(), Some("bpe"));
    let path = out.join("manifest.json");
    assert_eq!(Manifest::read(&path).unwrap(), manifest);
    // A manifest written before the implementation was recorded still reads.
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let tokenizer = value["tokenizer"].as_object_mut().unwrap();
    assert!(tokenizer.remove("implementation").is_some());
    std::fs::write(&path, value.to_string()).unwrap();
    let older = Manifest::read(&path).unwrap();
    assert_eq!(older.tokenizer.implementation, None);
    assert_eq!(older.tokenizer.fingerprint, "bytes");
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

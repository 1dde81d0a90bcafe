//! `commit_tokenized` against a preprocess run of the same records: the spilled blocks of
//! documents tokenized elsewhere become the dataset preprocess writes, in the order the
//! blocks are given; blocks tokenized with other options are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, LargeListArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field};

use super::super::tests::{BYTES, mixed_jsonl, rows, run, temp_dir, write};
use super::*;

const BOS: u32 = 1;
const EOS: u32 = 2;

/// Small shards, so that the documents of one block fill several and shards span blocks.
fn options() -> PreprocessOptions {
    PreprocessOptions {
        prepend: Some(BOS),
        append: Some(EOS),
        shard_tokens: 2_000,
        ..PreprocessOptions::default()
    }
}

/// The documents of a JSONL file as the sink's blocks carry them: (ids, text bytes), the
/// ids framed by `BOS` and `EOS` (one token a byte, as `BYTES` encodes), an empty text
/// without ids.
fn tokenized(jsonl: &str) -> Vec<(Vec<u32>, u64)> {
    jsonl
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = record["text"].as_str().unwrap();
            let ids = if text.is_empty() {
                Vec::new()
            } else {
                [BOS]
                    .into_iter()
                    .chain(text.bytes().map(u32::from))
                    .chain([EOS])
                    .collect()
            };
            (ids, text.len() as u64)
        })
        .collect()
}

/// A spilled block file: the documents in record batches of at most `batch_rows` rows, with
/// the columns and types `seqpack.ray.Tokenize` makes.
fn spill(path: &Path, documents: &[(Vec<u32>, u64)], batch_rows: usize) -> PathBuf {
    let item = Arc::new(Field::new("item", DataType::UInt32, true));
    let batches: Vec<RecordBatch> = documents
        .chunks(batch_rows)
        .map(|chunk| {
            let lengths = chunk.iter().map(|(ids, _)| ids.len());
            let values: Vec<u32> = chunk.iter().flat_map(|(ids, _)| ids.clone()).collect();
            let input_ids = LargeListArray::new(
                item.clone(),
                OffsetBuffer::from_lengths(lengths),
                Arc::new(UInt32Array::from(values)),
                None,
            );
            let length: UInt32Array = chunk.iter().map(|(ids, _)| ids.len() as u32).collect();
            let text_bytes: UInt64Array = chunk.iter().map(|&(_, bytes)| bytes).collect();
            RecordBatch::try_from_iter([
                ("input_ids", Arc::new(input_ids) as ArrayRef),
                ("length", Arc::new(length) as ArrayRef),
                ("text_bytes", Arc::new(text_bytes) as ArrayRef),
            ])
            .unwrap()
        })
        .collect();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &batches[0].schema()).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
    path.to_path_buf()
}

/// The documents cut into blocks of `sizes` documents each (the last takes the rest),
/// spilled into `dir` as the sink does, named in order.
fn spill_blocks(dir: &Path, documents: &[(Vec<u32>, u64)], sizes: &[usize]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let mut rest = documents;
    let mut files = Vec::new();
    for (index, &size) in sizes.iter().chain([&usize::MAX]).enumerate() {
        let (block, after) = rest.split_at(size.min(rest.len()));
        files.push(spill(&dir.join(format!("{index:08}.arrow")), block, 7));
        rest = after;
        if rest.is_empty() {
            break;
        }
    }
    files
}

/// The files of a dataset directory by name, but for the blocks spilled inside it.
fn dataset_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

#[test]
fn the_committed_dataset_is_the_one_preprocess_writes() {
    let dir = temp_dir("tokenized-equal");
    // Long, empty (kept out, counted) and escaped documents.
    let jsonl = mixed_jsonl(300, 900, "");
    let input = write(&dir.join("docs.jsonl"), jsonl.as_bytes());
    let local = dir.join("local");
    let expected = run(std::slice::from_ref(&input), &local, &options()).unwrap();
    assert!(expected.shards.len() > 3, "several shards");
    assert!(expected.skipped["empty"] > 0, "empty documents counted");

    let out = dir.join("sink");
    let files = spill_blocks(&out.join(".blocks"), &tokenized(&jsonl), &[40, 1, 150]);
    let source = input.display().to_string();
    let manifest = commit_tokenized(&files, &out, &source, &BYTES, &options()).unwrap();
    assert_eq!(manifest, expected);
    assert_eq!(dataset_files(&out), dataset_files(&local));
}

#[test]
fn blocks_are_written_in_the_order_given() {
    let dir = temp_dir("tokenized-order");
    let jsonl = mixed_jsonl(120, 50, "");
    let documents = tokenized(&jsonl);
    let blocks = dir.join("blocks");
    let files = spill_blocks(&blocks, &documents, &[70]);
    assert_eq!(files.len(), 2);
    let out = dir.join("out");
    let swapped = [files[1].clone(), files[0].clone()];
    let manifest = commit_tokenized(&swapped, &out, "items", &BYTES, &options()).unwrap();
    // The second block's documents first, numbered as records from 1 in that order.
    let kept = |block: &[(Vec<u32>, u64)]| -> Vec<Vec<u32>> {
        block
            .iter()
            .filter(|(ids, _)| !ids.is_empty())
            .map(|(ids, _)| ids.clone())
            .collect()
    };
    let mut expected = kept(&documents[70..]);
    expected.extend(kept(&documents[..70]));
    let got = rows(&out, &manifest);
    let tokens: Vec<Vec<u32>> = got.iter().map(|row| row.3.clone()).collect();
    assert_eq!(tokens, expected);
    let doc_ids: Vec<u64> = got.iter().map(|row| row.0).collect();
    assert_eq!(doc_ids, (0..expected.len() as u64).collect::<Vec<_>>());
    // Lines are record numbers in that order: the first block's documents come after the
    // 50 records of the second.
    let lines: Vec<u64> = got.iter().map(|row| row.2).collect();
    let first_of_block_0 = kept(&documents[70..]).len();
    assert_eq!(lines[0], 1);
    assert_eq!(lines[first_of_block_0], 51);
    assert_eq!(lines.last(), Some(&(documents.len() as u64)));
}

#[test]
fn ids_not_framed_by_the_runs_tokens_are_refused_and_nothing_is_committed() {
    let dir = temp_dir("tokenized-framing");
    let jsonl = mixed_jsonl(200, 900, "");
    let mut documents = tokenized(&jsonl);
    let input = write(&dir.join("docs.jsonl"), jsonl.as_bytes());
    let local = dir.join("local");
    run(std::slice::from_ref(&input), &local, &options()).unwrap();
    let source = input.display().to_string();
    let out = dir.join("out");
    let good = spill_blocks(&dir.join("good"), &documents, &[100]);

    // The last document of the second block without its end-of-text token: found after
    // the first block's shards are written.
    let last = documents
        .iter()
        .rposition(|(ids, _)| !ids.is_empty())
        .unwrap();
    assert!(last > 100);
    documents[last].0.pop();
    let bad = spill_blocks(&dir.join("bad"), &documents, &[100]);
    let error = commit_tokenized(&bad, &out, &source, &BYTES, &options()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("00000001.arrow"), "{message}");
    assert!(
        message.contains("not framed by the run's prepend"),
        "{message}"
    );
    assert!(!out.join(crate::shard::MANIFEST).exists());

    // A token the tokenizer does not have.
    documents[last].0.push(300);
    let foreign = spill_blocks(&dir.join("foreign"), &documents, &[100]);
    let error = commit_tokenized(&foreign, &out, &source, &BYTES, &options()).unwrap_err();
    assert!(
        error.to_string().contains("token 300 is not below"),
        "{error}"
    );
    assert!(!out.join(crate::shard::MANIFEST).exists());

    // A damaged block is an error naming it, never a panic.
    let cut = std::fs::read(&good[1]).unwrap();
    let damaged = write(&dir.join("damaged.arrow"), &cut[..cut.len() / 2]);
    let error = commit_tokenized(
        &[good[0].clone(), damaged],
        &out,
        &source,
        &BYTES,
        &options(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("damaged.arrow"), "{error}");

    // What the failed attempts left is written again by the next.
    let manifest = commit_tokenized(&good, &out, &source, &BYTES, &options()).unwrap();
    assert_eq!(dataset_files(&out), dataset_files(&local));
    assert_eq!(manifest.shards.len(), dataset_files(&local).len() - 1);
}

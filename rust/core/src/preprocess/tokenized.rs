//! A dataset from documents tokenized elsewhere: `seqpack.ray.Tokenize` in a Ray Data
//! pipeline, whose blocks a `SeqpackDatasink` spills as Arrow IPC files (`input_ids`
//! `large_list<uint32>`, `text_bytes` `uint64`, one row per input record, an empty
//! `input_ids` for an empty document), in dataset order.
//!
//! The files are written into shards as the one split of a one-source plan, by the same
//! sink as a preprocess run, and committed by the same commit: a document's id is its rank
//! among the kept documents, its line its record number, and shards close at the same
//! token counts, so the dataset is the one `preprocess` writes from the same records with
//! a split size above the input's size, byte for byte. The ids are checked as they are
//! read: below the tokenizer's vocabulary, and framed by the run's `prepend` and `append`
//! tokens, so a pipeline tokenized with other options or another tokenizer is refused.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};

use super::output::{OutputLock, clear_split};
use super::record::{Outcome, Tokenized};
use super::record_format::RecordFormat;
use super::sink::Sink;
use super::split::{Plan, Split, SplitRange};
use super::{PreprocessOptions, Progress, commit, journal, run_id};
use crate::shard::Manifest;
use crate::tokenize::Tokenizer;
use crate::{Error, Result, contained};

/// Writes the tokenized documents of `files` (in order) into shards of `out`, named in the
/// dataset `source`, and commits the manifest. `out` must hold nothing but the files.
pub fn commit_tokenized(
    files: &[PathBuf],
    out: &Path,
    source: &str,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> Result<Manifest> {
    let _lock = OutputLock::acquire(out)?;
    let plan = plan(files, source, tokenizer, options)?;
    // What an earlier attempt left of the split's shards is written again.
    clear_split(out, 0, 0)?;
    let journal_path = out.join(journal::journal_name(0));
    let state = journal::Journal {
        run: plan.run.clone(),
        ..journal::Journal::default()
    };
    let mut sink = Sink::new(out, 0, &journal_path, &plan, options, state);
    let check = Framing {
        vocab_size: tokenizer.vocab_size(),
        prepend: options.prepend,
        append: options.append,
    };
    let mut progress = Progress::default();
    let mut records = Vec::new();
    let mut line = 1;
    for path in files {
        let written = read_batches(path)?.try_for_each(|batch| {
            let batch = batch?;
            let (ids, text_bytes) = columns(&batch, path)?;
            let offsets = ids.value_offsets();
            let first = offsets[0] as usize;
            let tokens = &ids.values().as_primitive::<UInt32Type>().values()
                [first..offsets[ids.len()] as usize];
            for row in 0..ids.len() {
                let document =
                    &tokens[offsets[row] as usize - first..offsets[row + 1] as usize - first];
                check.document(document, path, row)?;
                let outcome = if document.is_empty() {
                    Outcome::Bad {
                        reason: "empty",
                        message: "empty document".into(),
                    }
                } else {
                    Outcome::Tokens {
                        tokens: document.len(),
                        text_bytes: text_bytes.value(row) as usize,
                        trained: document.len(),
                        edges_inside_tokens: 0,
                    }
                };
                records.push(Tokenized {
                    source: 0,
                    line,
                    outcome,
                });
                line += 1;
            }
            sink.append(&mut records, tokens, &[], &mut progress)
        });
        if let Err(error) = written {
            sink.abandon();
            return Err(error);
        }
    }
    sink.flush(None)?;
    let result = sink.into_result(&plan.run, 0);
    commit(out, &plan, &[result], tokenizer, options)
}

/// The plan of one split, the whole of one source, whose run is named by the files' sizes.
fn plan(
    files: &[PathBuf],
    source: &str,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> Result<Plan> {
    let mut bytes = 0;
    for path in files {
        bytes += std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
    }
    let sources = vec![source.to_owned()];
    Ok(Plan {
        run: run_id(&sources, &[bytes], tokenizer, options, None),
        inputs: vec![PathBuf::from(source)],
        sources,
        splits: vec![Split {
            source: 0,
            range: SplitRange::Whole,
        }],
        formats: vec![RecordFormat::Text],
        loss_mask: None,
    })
}

/// The Arrow decoder runs inside the core's panic boundary, as for shards: a spill cut short
/// or damaged is an error naming it, never a panic.
fn read_batches(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let inconsistent = move || unreadable(path, "its Arrow metadata is inconsistent");
    let mut reader =
        contained::contain(|| arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None))
            .ok_or_else(inconsistent)?
            .map_err(|e| unreadable(path, &e.to_string()))?;
    Ok(std::iter::from_fn(move || {
        match contained::contain(|| reader.next()) {
            Some(batch) => batch.map(|b| b.map_err(|e| unreadable(path, &e.to_string()))),
            None => Some(Err(inconsistent())),
        }
    }))
}

/// The `input_ids` and `text_bytes` columns of a spilled block.
fn columns<'a>(
    batch: &'a RecordBatch,
    path: &Path,
) -> Result<(
    &'a arrow_array::LargeListArray,
    &'a arrow_array::PrimitiveArray<UInt64Type>,
)> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .filter(|c| c.null_count() == 0)
            .ok_or_else(|| unreadable(path, &format!("no {name} column without nulls")))
    };
    let ids = column("input_ids")?
        .as_list_opt::<i64>()
        .filter(|ids| ids.values().as_primitive_opt::<UInt32Type>().is_some())
        .ok_or_else(|| unreadable(path, "input_ids is not a large_list<uint32>"))?;
    let text_bytes = column("text_bytes")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| unreadable(path, "text_bytes is not a uint64 column"))?;
    Ok((ids, text_bytes))
}

fn unreadable(path: &Path, message: &str) -> Error {
    Error::Format {
        path: path.display().to_string(),
        message: format!("not a block of tokenized documents: {message}"),
    }
}

/// What every document's ids must be: the tokenizer's, between the run's special tokens.
struct Framing {
    vocab_size: u32,
    prepend: Option<u32>,
    append: Option<u32>,
}

impl Framing {
    fn document(&self, ids: &[u32], path: &Path, row: usize) -> Result<()> {
        let fault = |message: String| Error::Format {
            path: path.display().to_string(),
            message: format!("row {row}: {message}"),
        };
        if let Some(&id) = ids.iter().find(|&&id| id >= self.vocab_size) {
            return Err(fault(format!(
                "token {id} is not below the tokenizer's vocabulary of {}",
                self.vocab_size
            )));
        }
        if ids.is_empty() {
            return Ok(());
        }
        let framed = self.prepend.is_none_or(|id| ids.first() == Some(&id))
            && self.append.is_none_or(|id| ids.last() == Some(&id));
        if !framed {
            return Err(fault(format!(
                "ids are not framed by the run's prepend {:?} and append {:?} tokens: tokenized \
                 with other options",
                self.prepend, self.append
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "tokenized_tests.rs"]
mod tests;

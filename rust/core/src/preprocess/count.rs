//! The counting pass: a split's lines and documents, found without tokenizing, so that
//! every split knows where it starts (its first line and first document id) before any
//! split is tokenized, and splits can be tokenized at once. It reads and classifies records
//! on the very path a tokenizing run takes (only the encoder does nothing), so a record
//! counts as a document here exactly when it becomes one there, and a bad record is found
//! here, before any tokenizing.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Serialize};

use super::commit::SplitStart;
use super::fn_tokenizer::FnTokenizer;
use super::record::{self, Outcome};
use super::recycle::Recycler;
use super::split::{Plan, first_lines, split_lines};
use super::{BATCHES_PER_THREAD, OnError, PreprocessOptions, batches, pipeline};
use crate::tokenize::Tokenizer;
use crate::{Error, Result};

/// What the counting pass found in one split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCount {
    /// The lines (rows) it holds (see [`super::split`]).
    pub lines: u64,
    /// The records that become documents.
    pub documents: u64,
    /// Under [`OnError::Fail`], the first bad record, which stops the run.
    pub first_bad: Option<BadRecord>,
}

/// A bad record, its line counted from 1 at the split's first line (0: the file could not
/// be read at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRecord {
    pub line: u64,
    pub reason: String,
    pub message: String,
}

/// Counts split `split` of `plan`. Plain text is counted without encoding it; the records
/// of a dataset with loss masks are encoded with `tokenizer` (their encoders, a chat
/// template for one, decide whether a record is good only once they have its tokens).
pub fn count_split(
    plan: &Plan,
    split: usize,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> Result<SplitCount> {
    let record_format = plan.formats[plan.splits[split].source as usize];
    let encoding = record::Encoding {
        tokenizer: if plan.loss_mask.is_some() {
            tokenizer
        } else {
            &NO_TOKENS
        },
        options,
        masked: plan.loss_mask.is_some(),
    };
    let pool = super::thread_pool(options)?;
    let read = Arc::new(AtomicU64::new(0));
    let (input_buffers, token_buffers, mask_buffers) = (
        Recycler::new(4 * batches::BATCH_BYTES),
        Recycler::new(2 * batches::BATCH_BYTES),
        Recycler::new(2 * batches::BATCH_BYTES),
    );
    let mut count = SplitCount {
        lines: split_lines(plan, split)?,
        documents: 0,
        first_bad: None,
    };
    let counted = pipeline::ordered_map(
        &pool,
        BATCHES_PER_THREAD * pool.current_num_threads() + 2,
        |submit| {
            batches::read_batches(
                plan,
                split,
                1,
                record_format,
                None,
                options,
                &read,
                &input_buffers,
                submit,
            )
        },
        |batch| {
            record::tokenize(
                batch,
                &encoding,
                Vec::new(),
                token_buffers.take(),
                mask_buffers.take(),
            )
        },
        |batch| {
            for record in batch.records {
                match record.outcome {
                    Outcome::Tokens { .. } => count.documents += 1,
                    Outcome::Bad { reason, message } => {
                        if options.on_error == OnError::Fail && reason != "empty" {
                            count.first_bad = Some(BadRecord {
                                line: record.line,
                                reason: reason.to_owned(),
                                message,
                            });
                            // Nothing after it matters: the run stops there.
                            return Err(Error::Interrupted);
                        }
                    }
                    Outcome::Failed(error) => return Err(error),
                }
            }
            token_buffers.give(batch.tokens);
            mask_buffers.give(batch.mask);
            if let Some(input) = batch.input {
                input_buffers.give(input);
            }
            Ok(())
        },
    );
    match counted {
        Err(Error::Interrupted) if count.first_bad.is_some() => Ok(count),
        Err(error) => Err(error),
        Ok(()) => Ok(count),
    }
}

/// Where each split starts, from the counts of every split in order; under
/// [`OnError::Fail`], the first bad record of the inputs as the error a local run gives
/// (its file and line).
pub fn starts(plan: &Plan, counts: &[SplitCount]) -> Result<Vec<SplitStart>> {
    if counts.len() != plan.splits.len() {
        return Err(Error::invalid_option(
            "counts",
            format!(
                "{} counts for a plan of {} splits",
                counts.len(),
                plan.splits.len()
            ),
        ));
    }
    let lines: Vec<u64> = counts.iter().map(|c| c.lines).collect();
    let firsts = first_lines(plan, &lines);
    let mut next_doc_id = 0;
    let mut starts = Vec::with_capacity(counts.len());
    for ((split, count), first_line) in plan.splits.iter().zip(counts).zip(firsts) {
        if let Some(bad) = &count.first_bad {
            return Err(Error::Record {
                path: plan.sources[split.source as usize].clone(),
                line: if bad.line == 0 {
                    0
                } else {
                    first_line + bad.line - 1
                },
                reason: reason_key(&bad.reason),
                message: bad.message.clone(),
            });
        }
        starts.push(SplitStart {
            first_line,
            first_doc_id: next_doc_id,
        });
        next_doc_id += count.documents;
    }
    Ok(starts)
}

/// The reasons a record is bad, as the readers name them.
const REASONS: &[&str] = &[
    "empty",
    "invalid_utf8",
    "malformed_json",
    "missing_field",
    "unreadable_file",
];

fn reason_key(reason: &str) -> &'static str {
    REASONS
        .iter()
        .find(|known| **known == reason)
        .copied()
        .unwrap_or("bad_record")
}

/// An encoder that writes no tokens: the counting pass classifies records on the
/// tokenizing path without the cost of encoding them.
const NO_TOKENS: FnTokenizer = FnTokenizer {
    encode: |_| Vec::new(),
    decode: |_| Vec::new(),
    vocab_size: 0,
    fingerprint: "",
};

//! Where tokenized records go, in input order: the open shard, the journal, the counts.
//!
//! A shard is written as it fills, a record batch at a time: a batch closes at the first
//! document that brings it to [`RECORD_BATCH_TOKENS`], and at the end of its shard. Both
//! boundaries depend only on the data, so the files are the same however the input was
//! batched for the workers, and a resumed run (which starts at a shard boundary) writes the
//! same bytes. Holding a whole shard instead cost a shard's worth of fresh memory (128 MiB
//! for the default shard, faulted in at 0.5–1 ms per MiB here) and left the last shard's
//! whole write for after the last batch.

use std::path::Path;

use super::commit::SplitResult;
use super::journal::Journal;
use super::record::{Outcome, Tokenized};
use super::split::{Plan, split_shard_file_name};
use super::{OnError, PreprocessOptions, Progress};
use crate::shard::{ShardBuilder, ShardWriter};
use crate::{Error, Result};

pub(super) struct Sink<'a> {
    pub out: &'a Path,
    /// The split whose shards are written (they are named by it).
    pub split: usize,
    pub journal_path: &'a Path,
    pub sources: &'a [String],
    pub options: &'a PreprocessOptions,
    pub state: Journal,
    /// The shard being written, once it has rows.
    pub shard: Option<ShardWriter>,
    /// Its rows not yet written.
    pub pending: ShardBuilder,
}

/// Tokens per record batch of a shard: few enough that the pending rows are a small buffer
/// used again and again (4 MiB of ids), many enough that a batch's own overhead (its
/// header, a few hundred bytes) is lost in it.
pub(super) const RECORD_BATCH_TOKENS: u64 = 1 << 20;

impl<'a> Sink<'a> {
    /// The sink of split `split` of `plan`, going on from `state` (a journal, or a fresh
    /// state whose `next_doc_id` is the split's first document id).
    pub fn new(
        out: &'a Path,
        split: usize,
        journal_path: &'a Path,
        plan: &'a Plan,
        options: &'a PreprocessOptions,
        state: Journal,
    ) -> Self {
        Sink {
            out,
            split,
            journal_path,
            sources: &plan.sources,
            options,
            state,
            shard: None,
            // A record batch closes at the first document that reaches its size; a longer
            // one costs a reallocation.
            pending: ShardBuilder::with_capacity(
                RECORD_BATCH_TOKENS.min(options.shard_tokens) as usize,
                plan.loss_mask.is_some(),
            ),
        }
    }

    /// What the split wrote, once its last shard is flushed; it started at document
    /// `first_doc_id`.
    pub fn into_result(self, run: &str, first_doc_id: u64) -> SplitResult {
        SplitResult {
            run: run.to_owned(),
            split: self.split,
            first_doc_id,
            documents: self.state.next_doc_id - first_doc_id,
            written: self.state.written,
        }
    }

    /// Appends a batch of tokenized records (leaving `records` empty), whose documents'
    /// tokens are `tokens` end to end (their loss masks `mask`, in a dataset with masks),
    /// closing shards as they fill.
    pub fn append(
        &mut self,
        records: &mut Vec<Tokenized>,
        tokens: &[u32],
        mask: &[u8],
        progress: &mut Progress,
    ) -> Result<()> {
        let masked = self.pending.has_loss_mask();
        let mut next_tokens = 0;
        for Tokenized {
            source,
            line,
            outcome,
        } in records.drain(..)
        {
            match outcome {
                Outcome::Failed(error) => return Err(error),
                Outcome::Bad { reason, message } => {
                    self.reject(source, line, reason, &message)?;
                }
                Outcome::Tokens {
                    tokens: count,
                    text_bytes,
                    trained,
                    edges_inside_tokens,
                } => {
                    let range = next_tokens..next_tokens + count;
                    let ids = &tokens[range.clone()];
                    let mask = masked.then(|| &mask[range]);
                    next_tokens += count;
                    if masked {
                        let counts = self.state.written.loss_mask.get_or_insert_default();
                        counts.add_record(trained as u64, edges_inside_tokens);
                    }
                    progress.documents += 1;
                    progress.tokens += count as u64;
                    progress.text_bytes += text_bytes as u64;
                    self.state.written.text_bytes += text_bytes as u64;
                    self.state.written.histogram.add(count as u64);
                    self.pending.push(ids, mask, source, line);
                    let written = self.shard.as_ref().map_or(0, ShardWriter::tokens);
                    if written + self.pending.tokens() >= self.options.shard_tokens {
                        self.flush(Some((source, line)))?;
                        progress.shards += 1;
                    } else if self.pending.tokens() >= RECORD_BATCH_TOKENS {
                        self.write_pending()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A bad record: an error under `OnError::Fail` (empty documents are always only
    /// counted), else counted by reason.
    fn reject(
        &mut self,
        source: u32,
        line: u64,
        reason: &'static str,
        message: &str,
    ) -> Result<()> {
        if self.options.on_error == OnError::Fail && reason != "empty" {
            return Err(Error::Record {
                path: self.sources[source as usize].clone(),
                line,
                reason,
                message: message.to_owned(),
            });
        }
        *self
            .state
            .written
            .skipped
            .entry(reason.to_string())
            .or_default() += 1;
        Ok(())
    }

    /// Writes the pending rows as the open shard's next record batch, opening the shard
    /// first if need be.
    fn write_pending(&mut self) -> Result<()> {
        if self.pending.rows() == 0 {
            return Ok(());
        }
        let shard = match &mut self.shard {
            Some(shard) => shard,
            None => self.shard.insert(ShardWriter::create_named(
                self.out,
                split_shard_file_name(self.split, self.state.written.shards.len()),
                self.state.next_doc_id,
                self.pending.has_loss_mask(),
            )?),
        };
        shard.append(&mut self.pending, self.sources)
    }

    /// Drops the open shard, unfinished, after an error.
    pub fn abandon(&mut self) {
        if let Some(shard) = self.shard.take() {
            shard.abandon();
        }
    }

    /// Ends the open shard with the pending rows and records it in the journal; `cursor` is
    /// the last record included (`None` for the final shard, after which no journal is
    /// needed).
    pub fn flush(&mut self, cursor: Option<(u32, u64)>) -> Result<()> {
        self.write_pending()?;
        let Some(shard) = self.shard.take() else {
            return Ok(());
        };
        let entry = shard.finish()?;
        self.state.next_doc_id += entry.rows;
        self.state.written.shards.push(entry);
        if cursor.is_some() {
            self.state.cursor = cursor;
            self.state.write(self.journal_path)?;
        }
        Ok(())
    }
}

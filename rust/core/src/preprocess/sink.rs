//! Where tokenized records go, in input order: the open shard, the journal, the counts.

use std::path::{Path, PathBuf};

use super::journal::Journal;
use super::record::{Outcome, Tokenized};
use super::{OnError, PreprocessOptions, Progress};
use crate::shard::ShardBuilder;
use crate::{Error, Result};

pub(super) struct Sink<'a> {
    pub out: &'a Path,
    pub journal_path: &'a Path,
    pub inputs: &'a [PathBuf],
    pub sources: &'a [String],
    pub options: &'a PreprocessOptions,
    pub state: Journal,
    /// The rows of the shard being filled.
    pub shard: ShardBuilder,
}

impl Sink<'_> {
    /// Appends a batch of tokenized records, whose documents' tokens are `tokens` end to
    /// end, closing shards as they fill.
    pub fn append(
        &mut self,
        records: Vec<Tokenized>,
        tokens: &[u32],
        progress: &mut Progress,
    ) -> Result<()> {
        let mut next_tokens = 0;
        for Tokenized {
            source,
            line,
            outcome,
        } in records
        {
            match outcome {
                Outcome::Failed(error) => return Err(error),
                Outcome::Bad { reason, message } => {
                    self.reject(&self.inputs[source as usize], line, reason, &message)?;
                }
                Outcome::Tokens {
                    tokens: count,
                    text_bytes,
                } => {
                    let ids = &tokens[next_tokens..next_tokens + count];
                    next_tokens += count;
                    progress.documents += 1;
                    progress.tokens += count as u64;
                    progress.text_bytes += text_bytes as u64;
                    self.state.text_bytes += text_bytes as u64;
                    self.state.histogram.add(count as u64);
                    self.shard.push(ids, source, line);
                    if self.shard.tokens() >= self.options.shard_tokens {
                        self.flush(Some((source, line)))?;
                        progress.shards += 1;
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
        path: &Path,
        line: u64,
        reason: &'static str,
        message: &str,
    ) -> Result<()> {
        if self.options.on_error == OnError::Fail && reason != "empty" {
            return Err(Error::Record {
                path: path.display().to_string(),
                line,
                reason,
                message: message.to_owned(),
            });
        }
        *self.state.skipped.entry(reason.to_string()).or_default() += 1;
        Ok(())
    }

    /// Writes the pending rows as the next shard and records it in the journal; `cursor` is
    /// the last record included (`None` for the final shard, after which no journal is
    /// needed).
    pub fn flush(&mut self, cursor: Option<(u32, u64)>) -> Result<()> {
        if self.shard.rows() == 0 {
            return Ok(());
        }
        let index = self.state.shards.len();
        let entry = self
            .shard
            .write(self.out, index, self.state.next_doc_id, self.sources)?;
        self.state.next_doc_id += entry.rows;
        self.state.shards.push(entry);
        if cursor.is_some() {
            self.state.cursor = cursor;
            self.state.write(self.journal_path)?;
        }
        Ok(())
    }
}

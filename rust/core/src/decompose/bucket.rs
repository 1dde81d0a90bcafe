//! One bucket's dataset: rows of one sequence length, written as they fill as shards of a
//! packed dataset (each row with its segments' lengths, documents and starts), and its
//! `manifest.json`, whose `packing` option lets `PackedLoader` read the bucket directly.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::shard::{
    self, LengthHistogram, LossMaskInfo, Manifest, PackedRow, ShardEntry, TokenizerInfo,
};
use crate::{Error, Result};

/// What the top-level manifest says about one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketSummary {
    pub log2: u32,
    /// Token slots per row: 2^log2 (plus one with shifted targets).
    pub sequence_length: u64,
    /// The bucket's dataset directory, relative to the decomposition's.
    pub dir: String,
    pub sequences: u64,
    /// Real tokens (the slots of packed rows that stay empty are `padding_tokens`).
    pub tokens: u64,
    pub padding_tokens: u64,
    /// Rows that are one piece of one document.
    pub pieces: u64,
    /// Rows packed from remainders and short documents, one segment each.
    pub packed_rows: u64,
    pub segments: u64,
    /// This bucket's share of all bucket tokens.
    pub token_share: f64,
}

pub(crate) struct Bucket {
    log2: u32,
    sequence_length: u64,
    dir: PathBuf,
    shard_tokens: u64,
    rows: Vec<PackedRow>,
    pending_tokens: u64,
    shards: Vec<ShardEntry>,
    histogram: LengthHistogram,
    pub(crate) summary: BucketSummary,
    /// Σ l(l − 1)/2 over segments: the attention context summed over tokens.
    pub(crate) context: u128,
    /// What the rows' loss masks hold, when the decomposed dataset has masks.
    loss_mask: Option<LossMaskInfo>,
}

/// The directory name of bucket `k`, `D08` … as in the paper.
pub(crate) fn bucket_dir_name(log2: u32) -> String {
    format!("D{log2:02}")
}

impl Bucket {
    pub(crate) fn create(
        out: &std::path::Path,
        log2: u32,
        sequence_length: u64,
        shard_tokens: u64,
        loss_mask: Option<&LossMaskInfo>,
    ) -> Result<Self> {
        let name = bucket_dir_name(log2);
        let dir = out.join(&name);
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Bucket {
            log2,
            sequence_length,
            dir,
            shard_tokens,
            rows: Vec::new(),
            pending_tokens: 0,
            shards: Vec::new(),
            histogram: LengthHistogram::default(),
            summary: BucketSummary {
                log2,
                sequence_length,
                dir: name,
                sequences: 0,
                tokens: 0,
                padding_tokens: 0,
                pieces: 0,
                packed_rows: 0,
                segments: 0,
                token_share: 0.0,
            },
            context: 0,
            loss_mask: loss_mask.map(LossMaskInfo::derived_from),
        })
    }

    /// Adds a row (its tokens are its segments, in order; padding is not stored).
    pub(crate) fn push(&mut self, row: PackedRow) -> Result<()> {
        let tokens = row.tokens.len() as u64;
        debug_assert!(tokens <= self.sequence_length);
        debug_assert_eq!(
            row.seq_lengths.iter().map(|&l| u64::from(l)).sum::<u64>(),
            tokens
        );
        let s = &mut self.summary;
        s.sequences += 1;
        s.tokens += tokens;
        s.padding_tokens += self.sequence_length - tokens;
        s.segments += row.seq_lengths.len() as u64;
        if row.seq_lengths.len() == 1 && tokens == self.sequence_length {
            s.pieces += 1;
        } else {
            s.packed_rows += 1;
        }
        self.context += row
            .seq_lengths
            .iter()
            .map(|&l| u128::from(l) * u128::from(l.saturating_sub(1)) / 2)
            .sum::<u128>();
        self.histogram.add(tokens);
        if let (Some(info), Some(mask)) = (&mut self.loss_mask, &row.loss_mask) {
            info.add_row(mask);
        }
        self.pending_tokens += tokens;
        self.rows.push(row);
        if self.pending_tokens >= self.shard_tokens {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let first_row = self.shards.iter().map(|s| s.rows).sum();
        let entry = shard::write_packed_shard(&self.dir, self.shards.len(), first_row, &self.rows)?;
        self.shards.push(entry);
        self.rows.clear();
        self.pending_tokens = 0;
        Ok(())
    }

    /// Writes the last shard and the bucket's `manifest.json`.
    pub(crate) fn finish(
        &mut self,
        tokenizer: &TokenizerInfo,
        sources: &[String],
        decomposed_from: &str,
    ) -> Result<()> {
        self.flush()?;
        let packing = serde_json::json!({
            "seq_len": self.sequence_length,
            "decomposition": {"log2": self.log2, "decomposed_from": decomposed_from},
        });
        let options = BTreeMap::from([("packing".to_string(), packing)]);
        let manifest = Manifest {
            format: shard::FORMAT_NAME.into(),
            format_version: shard::format_version(self.loss_mask.is_some()),
            tokenizer: tokenizer.clone(),
            shards: self.shards.clone(),
            total_rows: self.summary.sequences,
            total_tokens: self.summary.tokens,
            // Rows are slices of documents' tokens: no text byte count applies to them.
            total_text_bytes: 0,
            length_histogram: self.histogram.clone(),
            skipped: BTreeMap::new(),
            sources: sources.to_vec(),
            options,
            loss_mask: self.loss_mask.clone(),
        };
        manifest.write(&self.dir.join(shard::MANIFEST))
    }
}

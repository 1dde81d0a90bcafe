//! Context-parallel shards: one row split over `C` ranks, each taking `2` of `2·C` equal
//! chunks, chunk `r` and chunk `2C − 1 − r`, so that every rank does the same causal
//! attention work (head–tail load balancing).
//!
//! - [`CpLayout::PerDocument`]: every segment of a row (documents padded to a multiple of
//!   `2C` by the plan's alignment, the row's end padding) is cut into `2C` chunks; rank `r`
//!   takes chunks `r` and `2C − 1 − r` of each segment, segment after segment: the THD layout
//!   of Transformer Engine and of torch's `_PerDocumentHeadTailLoadBalancer`.
//! - [`CpLayout::Row`]: the whole row is cut into `2C` chunks (torch's
//!   `_HeadTailLoadBalancer`).
//!
//! A shard's labels are the targets of its own positions (the next token of the same
//! document, [`IGNORE_INDEX`] where there is none): the shard's positions are not
//! contiguous, so a loss must not shift them again.

use super::assemble::{Batch, IGNORE_INDEX, TokenArrays};
use crate::choice::names;
use crate::{Error, Result};

names! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CpLayout parsed as "cp_layout" {
        PerDocument => "per-document",
        Row => "row",
    }
}

/// Rank `rank` of a context-parallel group of `size`, sharding rows with `layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextParallel {
    pub size: u32,
    pub rank: u32,
    pub layout: CpLayout,
}

/// The local arrays of one rank's shard of a batch of `batch_size` rows, `local_len =
/// seq_len / C` positions each, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpShard {
    pub batch_size: usize,
    pub local_len: usize,
    /// Each position's as in the full batch, but for its label: the target of the position
    /// itself (already shifted, see the module's documentation).
    pub tokens: TokenArrays,
    /// Where each local position sits in its full row (`0 … seq_len − 1`).
    pub gather_indices: Vec<i64>,
    /// Boundaries of the segments over the flattened full batch, as the batch has them.
    pub cu_seqlens_padded: Vec<i32>,
    /// Cumulated real tokens of the same segments (alignment and end padding left out).
    pub cu_seqlens: Vec<i32>,
    pub max_seqlen: u32,
    /// Real tokens in this shard.
    pub real_tokens: u64,
}

impl ContextParallel {
    pub fn new(size: u32, rank: u32, layout: CpLayout) -> Result<Self> {
        if size == 0 {
            return Err(Error::invalid_option(
                "cp_size",
                "must be a positive integer, got 0",
            ));
        }
        if rank >= size {
            return Err(Error::invalid_option(
                "cp_rank",
                format!("must be in 0..{}, got {rank}", size - 1),
            ));
        }
        Ok(ContextParallel { size, rank, layout })
    }

    /// Chunks per segment (or row): `2C`.
    pub fn chunks(&self) -> u32 {
        2 * self.size
    }

    /// The alignment every document of a plan needs: `2C` for per-document shards.
    pub fn document_align(&self) -> u32 {
        match self.layout {
            CpLayout::PerDocument => self.chunks(),
            CpLayout::Row => 1,
        }
    }

    /// Refuses a row length that does not cut into `2C` chunks.
    pub fn check_seq_len(&self, seq_len: u32) -> Result<()> {
        if seq_len % self.chunks() != 0 {
            return Err(Error::invalid_option(
                "seq_len",
                format!(
                    "must be a multiple of 2·cp_size = {} for context-parallel shards, got {seq_len}",
                    self.chunks()
                ),
            ));
        }
        Ok(())
    }

    /// This rank's positions in a row of segments of `lengths` (which sum to the row
    /// length), in the order its shard holds them.
    pub fn gather_indices(&self, lengths: &[usize]) -> Result<Vec<usize>> {
        let total: usize = lengths.iter().sum();
        let spans: Vec<(usize, usize)> = match self.layout {
            CpLayout::Row => vec![(0, total)],
            CpLayout::PerDocument => lengths
                .iter()
                .scan(0, |start, &len| {
                    let span = (*start, len);
                    *start += len;
                    Some(span)
                })
                .collect(),
        };
        let chunks = self.chunks() as usize;
        let mut indices = Vec::with_capacity(total / self.size as usize);
        for (start, len) in spans {
            if len % chunks != 0 {
                return Err(Error::invalid_option(
                    "cp_size",
                    format!(
                        "a segment of {len} tokens does not cut into 2·cp_size = {chunks} chunks"
                    ),
                ));
            }
            let chunk = len / chunks;
            for c in [self.rank as usize, chunks - 1 - self.rank as usize] {
                indices.extend(start + c * chunk..start + (c + 1) * chunk);
            }
        }
        Ok(indices)
    }

    /// This rank's shard of `batch`; `real_lengths` are the real tokens of each segment of
    /// its `cu_seqlens`.
    pub fn shard(&self, batch: &Batch) -> Result<CpShard> {
        let seq_len = batch.seq_len;
        self.check_seq_len(seq_len as u32)?;
        let local_len = seq_len / self.size as usize;
        let total = batch.batch_size * local_len;
        let mut shard = CpShard {
            batch_size: batch.batch_size,
            local_len,
            tokens: TokenArrays::with_capacity(total),
            gather_indices: Vec::with_capacity(total),
            cu_seqlens_padded: batch.cu_seqlens.clone(),
            cu_seqlens: Vec::with_capacity(batch.cu_seqlens.len()),
            max_seqlen: batch.max_seqlen,
            real_tokens: 0,
        };
        shard.cu_seqlens.push(0);
        let mut real = 0i32;
        for &n in &batch.real_lengths {
            real += n as i32;
            shard.cu_seqlens.push(real);
        }
        let mut boundary = 1;
        for row in 0..batch.batch_size {
            let (first, end) = (row * seq_len, (row + 1) * seq_len);
            let mut lengths = Vec::new();
            let mut at = first;
            let row_segments = boundary;
            while at < end {
                let next = batch.cu_seqlens[boundary] as usize;
                lengths.push(next - at);
                at = next;
                boundary += 1;
            }
            // Which positions of the row hold real tokens (not padding of either kind).
            let mut real = Vec::with_capacity(seq_len);
            for (k, &len) in lengths.iter().enumerate() {
                let real_len = batch.real_lengths[row_segments - 1 + k] as usize;
                real.extend((0..len).map(|j| j < real_len));
            }
            for local in self.gather_indices(&lengths)? {
                let i = first + local;
                shard.tokens.input_ids.push(batch.tokens.input_ids[i]);
                // The label of the next position is its token, or IGNORE_INDEX where a
                // segment starts or padding is: never a token of another document.
                let target = if local + 1 < seq_len {
                    batch.tokens.labels[i + 1]
                } else {
                    IGNORE_INDEX
                };
                shard.tokens.labels.push(target);
                shard.tokens.position_ids.push(batch.tokens.position_ids[i]);
                shard.tokens.document_ids.push(batch.tokens.document_ids[i]);
                shard.gather_indices.push(local as i64);
                shard.real_tokens += u64::from(real[local]);
            }
        }
        Ok(shard)
    }
}

//! Dataset decomposition (Pouransari et al., 2024): every document is cut into adjacent pieces
//! whose lengths follow the binary decomposition of its length, and each piece of 2^k tokens
//! goes to bucket `D_k`; a piece never spans two documents. A loader then draws one bucket per
//! step and takes `tokens_per_step / 2^k` rows from it, so the sequence length varies while
//! the tokens per step stay constant.
//!
//! The reference drops what is left of each document below the smallest bucket; here that
//! remainder (and every document shorter than the smallest bucket) is by default packed with
//! the packing engine into rows of the smallest bucket, one segment per document, so every
//! token of the corpus is kept. Output: one packed dataset per bucket (each row with its
//! segments' lengths, documents and starts, so isolation and provenance survive), and a
//! top-level `manifest.json` with per-bucket counts and the paper's statistics.

mod bucket;
mod cut;
mod options;
mod summary;

use std::path::Path;
use std::time::Instant;

pub use bucket::BucketSummary;
pub use cut::{Cutter, Piece};
pub use options::{DecomposeOptions, LongPieces, MAX_LOG2, Remainder};
pub use summary::{
    CorpusSummary, DECOMPOSITION_FORMAT, DECOMPOSITION_VERSION, DecompositionManifest,
};

use crate::Result;
use crate::pack::{self, PackOptions};
use crate::shard::{self, Dataset, PackedRow, Verify};

use bucket::Bucket;

/// The tails and short documents waiting to be packed into the smallest bucket.
#[derive(Default)]
struct Remainders {
    tokens: Vec<u32>,
    /// Whether the dataset has loss masks; then `masks` holds them end to end, parallel to
    /// `tokens`.
    masked: bool,
    masks: Vec<u8>,
    offsets: Vec<usize>,
    lengths: Vec<i64>,
    /// (document, first token) of each.
    origin: Vec<(u64, u64)>,
}

impl Remainders {
    fn push(&mut self, tokens: &[u32], mask: Option<&[u8]>, doc: u64, start: u64) {
        self.offsets.push(self.tokens.len());
        self.tokens.extend_from_slice(tokens);
        if let Some(mask) = mask {
            self.masks.extend_from_slice(mask);
        }
        self.lengths.push(tokens.len() as i64);
        self.origin.push((doc, start));
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i] + self.lengths[i] as usize
    }

    fn get(&self, i: usize) -> &[u32] {
        &self.tokens[self.range(i)]
    }

    /// Remainder `i`'s loss mask, in a dataset with masks.
    fn mask(&self, i: usize) -> Option<&[u8]> {
        self.masked.then(|| &self.masks[self.range(i)])
    }
}

/// Decomposes the dataset directory `input` into bucket datasets under `out` (which must not
/// exist or be empty) and returns the top-level manifest, also written as
/// `out/manifest.json` once everything else is in place. Shards are verified against the
/// manifest, then read through the memory-mapped [`Dataset`].
pub fn decompose(
    input: &Path,
    out: &Path,
    options: &DecomposeOptions,
) -> Result<DecompositionManifest> {
    let started = Instant::now();
    options.validate()?;
    let dataset = Dataset::open(
        input,
        &Verify {
            contents: true,
            tokenizer_fingerprint: None,
        },
    )?;
    let (source, store) = (dataset.manifest(), dataset.store());
    shard::create_empty_output(out)?;
    let mut buckets = (options.min_log2..=options.max_log2)
        .map(|k| {
            Bucket::create(
                out,
                k,
                options.row_tokens(k),
                options.shard_tokens,
                source.loss_mask.as_ref(),
            )
        })
        .collect::<Result<Vec<_>>>()?;

    let mut cutter = Cutter::new(options);
    let mut pieces = Vec::new();
    let mut remainders = Remainders {
        masked: source.loss_mask.is_some(),
        ..Remainders::default()
    };
    let mut corpus = CorpusSummary::default();
    let (mut dropped_tokens, mut dropped_documents) = (0u64, 0u64);
    for doc in 0..store.len() {
        let tokens = store.tokens(doc)?;
        let mask = store.loss_mask(doc)?;
        let length = tokens.len() as u64;
        corpus.add(length);
        pieces.clear();
        let rest = cutter.cut(length, &mut pieces);
        for piece in &pieces {
            let len = options.row_tokens(piece.log2);
            let start = piece.start as usize;
            let range = start..start + len as usize;
            let row = PackedRow {
                tokens: tokens[range.clone()].to_vec(),
                seq_lengths: vec![len as u32],
                documents: vec![doc],
                starts: vec![piece.start],
                loss_mask: mask.map(|mask| mask[range].to_vec()),
            };
            buckets[(piece.log2 - options.min_log2) as usize].push(row)?;
        }
        if rest > 0 {
            let tail = length - rest;
            match options.remainder {
                Remainder::Pack => {
                    let tail = tail as usize;
                    remainders.push(&tokens[tail..], mask.map(|m| &m[tail..]), doc, tail as u64);
                }
                Remainder::Drop => {
                    dropped_tokens += rest;
                    dropped_documents += u64::from(pieces.is_empty());
                }
            }
        }
    }
    pack_remainders(&remainders, &mut buckets[0], options)?;

    let from = input.display().to_string();
    for bucket in &mut buckets {
        bucket.finish(&source.tokenizer, &source.sources, &from)?;
    }
    let manifest = summary::build(
        input,
        source,
        options,
        corpus,
        &mut buckets,
        dropped_tokens,
        dropped_documents,
        started.elapsed().as_secs_f64(),
    );
    manifest.write(&out.join(shard::MANIFEST))?;
    Ok(manifest)
}

/// Packs the remainders into rows of the smallest bucket with best-fit decreasing: each row
/// lists its documents' lengths in `seq_lengths`, so a loader isolates them from each other.
fn pack_remainders(
    remainders: &Remainders,
    smallest: &mut Bucket,
    options: &DecomposeOptions,
) -> Result<()> {
    if remainders.lengths.is_empty() {
        return Ok(());
    }
    let capacity = options.row_tokens(options.min_log2) as u32;
    let masked = remainders.masked;
    let packing = pack::pack(&remainders.lengths, &PackOptions::new(capacity))?;
    for p in 0..packing.num_packs() {
        let entries = packing.pack_offsets[p] as usize..packing.pack_offsets[p + 1] as usize;
        let mut row = PackedRow {
            tokens: Vec::with_capacity(capacity as usize),
            seq_lengths: Vec::with_capacity(entries.len()),
            documents: Vec::with_capacity(entries.len()),
            starts: Vec::with_capacity(entries.len()),
            loss_mask: masked.then(|| Vec::with_capacity(capacity as usize)),
        };
        for e in entries {
            // Every remainder is shorter than the capacity, so entries are whole remainders.
            let i = packing.doc[e] as usize;
            let (doc, start) = remainders.origin[i];
            row.tokens.extend_from_slice(remainders.get(i));
            if let (Some(row_mask), Some(mask)) = (&mut row.loss_mask, remainders.mask(i)) {
                row_mask.extend_from_slice(mask);
            }
            row.seq_lengths.push(remainders.lengths[i] as u32);
            row.documents.push(doc);
            row.starts.push(start);
        }
        smallest.push(row)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

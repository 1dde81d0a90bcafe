//! Dataset decomposition (Pouransari et al., 2024): every document is cut into adjacent pieces
//! whose lengths follow the binary decomposition of its length, and each piece of 2^k tokens
//! goes to bucket `D_k`; a piece never spans two documents. A loader then draws one bucket per
//! step and takes `tokens_per_step / 2^k` rows from it, so the sequence length varies while
//! the tokens per step stay constant.
//!
//! The reference drops what is left of each document below the smallest bucket; here that
//! remainder (and every document shorter than the smallest bucket) is by default packed with
//! the packing engine into rows of the smallest bucket, one segment per document, so every
//! token of the corpus is kept. Output: one dataset directory per bucket in the ordinary
//! shard format, each row with its segment lengths (`seq_lengths`), and a top-level
//! `manifest.json` with per-bucket counts and the paper's statistics.

mod bucket;
mod cut;
mod options;
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

pub use bucket::BucketSummary;
pub use cut::{Cutter, Piece};
pub use options::{DecomposeOptions, LongPieces, MAX_LOG2, Remainder};
pub use summary::{CorpusSummary, DECOMPOSITION_FORMAT, DecompositionManifest};

use crate::pack::{self, PackOptions};
use crate::shard::{self, Manifest, Row};
use crate::{Error, Result};

use bucket::Bucket;

/// The tails and short documents waiting to be packed into the smallest bucket.
#[derive(Default)]
struct Remainders {
    tokens: Vec<u32>,
    offsets: Vec<usize>,
    lengths: Vec<i64>,
    origin: Vec<(u32, u64)>,
}

impl Remainders {
    fn push(&mut self, tokens: &[u32], source: u32, line: u64) {
        self.offsets.push(self.tokens.len());
        self.tokens.extend_from_slice(tokens);
        self.lengths.push(tokens.len() as i64);
        self.origin.push((source, line));
    }

    fn get(&self, i: usize) -> &[u32] {
        &self.tokens[self.offsets[i]..self.offsets[i] + self.lengths[i] as usize]
    }
}

/// Decomposes the dataset directory `input` into bucket datasets under `out` (which must not
/// exist or be empty) and returns the top-level manifest, also written as
/// `out/manifest.json` once everything else is in place.
pub fn decompose(
    input: &Path,
    out: &Path,
    options: &DecomposeOptions,
) -> Result<DecompositionManifest> {
    let started = Instant::now();
    options.validate()?;
    let source = Manifest::read(&input.join(shard::MANIFEST))?;
    prepare_output(out)?;
    let mut buckets = (options.min_log2..=options.max_log2)
        .map(|k| Bucket::create(out, k, options.row_tokens(k), options.shard_tokens))
        .collect::<Result<Vec<_>>>()?;
    let source_index: HashMap<&str, u32> = source
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let sources = &source.sources;

    let mut cutter = Cutter::new(options);
    let mut pieces = Vec::new();
    let mut remainders = Remainders::default();
    let mut corpus = CorpusSummary::default();
    let (mut dropped_tokens, mut dropped_documents) = (0u64, 0u64);
    for entry in &source.shards {
        let rows = shard::read_shard(input, entry)?;
        for row in 0..rows.len() {
            let tokens = rows.tokens(row);
            let source_id = *source_index
                .get(rows.source(row))
                .ok_or_else(|| Error::Format {
                    path: input.join(&entry.file).display().to_string(),
                    message: format!(
                        "row {row}: source {:?} is not among the manifest's sources",
                        rows.source(row)
                    ),
                })?;
            let line = rows.line(row);
            corpus.add(tokens.len() as u64);
            pieces.clear();
            let rest = cutter.cut(tokens.len() as u64, &mut pieces);
            for piece in &pieces {
                let start = piece.start as usize;
                let len = options.row_tokens(piece.log2) as usize;
                let row = Row {
                    tokens: tokens[start..start + len].to_vec(),
                    source: source_id,
                    line,
                };
                let bucket = &mut buckets[(piece.log2 - options.min_log2) as usize];
                bucket.push(row, vec![len as u32], sources)?;
            }
            if rest > 0 {
                let tail = &tokens[tokens.len() - rest as usize..];
                match options.remainder {
                    Remainder::Pack => remainders.push(tail, source_id, line),
                    Remainder::Drop => {
                        dropped_tokens += rest;
                        dropped_documents += u64::from(pieces.is_empty());
                    }
                }
            }
        }
    }
    pack_remainders(&remainders, &mut buckets[0], options, sources)?;

    let mut record = BTreeMap::new();
    record.insert("decomposed_from".into(), input.display().to_string().into());
    for bucket in &mut buckets {
        bucket.finish(&source.tokenizer, sources, &record)?;
    }
    let manifest = summary::build(
        input,
        &source,
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
    sources: &[String],
) -> Result<()> {
    if remainders.lengths.is_empty() {
        return Ok(());
    }
    let capacity = options.row_tokens(options.min_log2) as u32;
    let packing = pack::pack(&remainders.lengths, &PackOptions::new(capacity))?;
    for p in 0..packing.num_packs() {
        let entries = packing.pack_offsets[p] as usize..packing.pack_offsets[p + 1] as usize;
        let mut tokens = Vec::with_capacity(capacity as usize);
        let mut seq_lengths = Vec::with_capacity(entries.len());
        for e in entries.clone() {
            // Every remainder is shorter than the capacity, so entries are whole remainders.
            let piece = remainders.get(packing.doc[e] as usize);
            tokens.extend_from_slice(piece);
            seq_lengths.push(piece.len() as u32);
        }
        // A packed row is attributed to its first segment's document.
        let (source, line) = remainders.origin[packing.doc[entries.start] as usize];
        smallest.push(
            Row {
                tokens,
                source,
                line,
            },
            seq_lengths,
            sources,
        )?;
    }
    Ok(())
}

/// Creates `out`, refusing one that holds anything: a decomposition is never mixed with
/// another's files.
fn prepare_output(out: &Path) -> Result<()> {
    let occupied = out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| Error::io(out, e))?
            .next()
            .is_some();
    if occupied {
        return Err(Error::invalid_option(
            "out",
            format!(
                "{} exists and is not empty; choose another directory",
                out.display()
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))
}

#[cfg(test)]
mod tests;

//! The top-level `manifest.json` of a decomposition: how it was made, what each bucket holds,
//! and the statistics the paper compares datasets by.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::bucket::{Bucket, BucketSummary};
use super::options::{DecomposeOptions, LongPieces};
use crate::Result;
use crate::shard::{Manifest, TokenizerInfo};

pub const DECOMPOSITION_FORMAT: &str = "seqpack-decomposition";
/// Bumped on any change that an older reader would misread.
pub const DECOMPOSITION_VERSION: u32 = 1;

/// The source documents: count, tokens and their own statistics, for comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorpusSummary {
    pub documents: u64,
    pub tokens: u64,
    /// (1/N) Σ l over documents.
    pub average_document_length: f64,
    /// Σ l(l − 1)/2 / Σ l over documents: the context a token has if documents are seen whole.
    pub average_context_length: f64,
    #[serde(skip)]
    context: u128,
}

impl CorpusSummary {
    pub(crate) fn add(&mut self, length: u64) {
        self.documents += 1;
        self.tokens += length;
        self.context += u128::from(length) * u128::from(length.saturating_sub(1)) / 2;
    }

    fn finish(&mut self) {
        self.average_document_length = ratio(u128::from(self.tokens), self.documents.into());
        self.average_context_length = ratio(self.context, self.tokens.into());
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecompositionManifest {
    pub format: String,
    pub format_version: u32,
    /// The dataset directory that was decomposed, and its tokenizer.
    pub source: String,
    pub tokenizer: TokenizerInfo,
    pub min_log2: u32,
    pub max_log2: u32,
    /// `pack` or `drop`.
    pub remainder: String,
    /// `random` (with `seed`) or `max`.
    pub long_pieces: String,
    pub seed: Option<u64>,
    pub shifted_targets: bool,
    pub corpus: CorpusSummary,
    /// One entry per bucket, smallest first.
    pub buckets: Vec<BucketSummary>,
    pub total_sequences: u64,
    /// Tokens in all buckets; with `dropped_tokens` they add up to the corpus's tokens.
    pub bucket_tokens: u64,
    pub dropped_tokens: u64,
    /// Documents dropped whole (shorter than the smallest bucket, with `remainder = drop`).
    pub dropped_documents: u64,
    /// (1/N) Σ l over the rows of all buckets, l being a row's slots.
    pub average_sequence_length: f64,
    /// Σ l(l − 1)/2 / Σ l over segments: each token's attention context when segments are
    /// isolated from each other.
    pub average_context_length: f64,
    pub seconds: f64,
}

impl DecompositionManifest {
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        crate::shard::write_atomically(path, text.as_bytes())
    }
}

fn ratio(numerator: u128, denominator: u128) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn build(
    input: &Path,
    source: &Manifest,
    options: &DecomposeOptions,
    mut corpus: CorpusSummary,
    buckets: &mut [Bucket],
    dropped_tokens: u64,
    dropped_documents: u64,
    seconds: f64,
) -> DecompositionManifest {
    corpus.finish();
    let bucket_tokens: u64 = buckets.iter().map(|b| b.summary.tokens).sum();
    let total_sequences: u64 = buckets.iter().map(|b| b.summary.sequences).sum();
    let slots: u128 = buckets
        .iter()
        .map(|b| u128::from(b.summary.sequences) * u128::from(b.summary.sequence_length))
        .sum();
    let context: u128 = buckets.iter().map(|b| b.context).sum();
    for bucket in buckets.iter_mut() {
        bucket.summary.token_share = ratio(bucket.summary.tokens.into(), bucket_tokens.into());
    }
    let (long_pieces, seed) = match options.long_pieces {
        LongPieces::Random { seed } => ("random", Some(seed)),
        LongPieces::Max => ("max", None),
    };
    DecompositionManifest {
        format: DECOMPOSITION_FORMAT.into(),
        format_version: DECOMPOSITION_VERSION,
        source: input.display().to_string(),
        tokenizer: source.tokenizer.clone(),
        min_log2: options.min_log2,
        max_log2: options.max_log2,
        remainder: options.remainder.name().into(),
        long_pieces: long_pieces.into(),
        seed,
        shifted_targets: options.shifted_targets,
        corpus,
        buckets: buckets.iter().map(|b| b.summary.clone()).collect(),
        total_sequences,
        bucket_tokens,
        dropped_tokens,
        dropped_documents,
        average_sequence_length: ratio(slots, total_sequences.into()),
        average_context_length: ratio(context, bucket_tokens.into()),
        seconds,
    }
}

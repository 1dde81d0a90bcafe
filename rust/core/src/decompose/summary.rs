//! The top-level `manifest.json` of a decomposition: how it was made, what each bucket holds,
//! and the statistics the paper compares datasets by.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::bucket::{Bucket, BucketSummary};
use super::options::{DecomposeOptions, LongPieces};
use crate::shard::{Manifest, TokenizerInfo};
use crate::{Error, Result};

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
    /// Reads the manifest of the decomposition directory `dir`: the typed manifest, and the
    /// JSON it was read from. Its format is checked, and each bucket's `dir` must be the plain
    /// name of a directory inside `dir`.
    pub fn read(dir: &Path) -> Result<(Self, serde_json::Value)> {
        let path = dir.join(crate::shard::MANIFEST);
        let bad = |message: String| Error::Format {
            path: path.display().to_string(),
            message,
        };
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::io(
                dir,
                std::io::Error::new(e.kind(), "not a decomposition (no manifest.json)"),
            ),
            _ => Error::io(&path, e),
        })?;
        let raw: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON ({e})")))?;
        let format = raw.get("format").unwrap_or(&serde_json::Value::Null);
        if format.as_str() != Some(DECOMPOSITION_FORMAT) {
            return Err(bad(format!(
                "not a decomposition manifest (format {format}; make one with `seqpack decompose`)"
            )));
        }
        match raw
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(version) if version <= u64::from(DECOMPOSITION_VERSION) => {}
            Some(version) => {
                return Err(bad(format!(
                    "format version {version} is newer than this seqpack reads ({DECOMPOSITION_VERSION}); upgrade seqpack"
                )));
            }
            None => return Err(bad("format_version is not a non-negative integer".into())),
        }
        let manifest: Self = serde_path_to_error::deserialize(&raw).map_err(|e| {
            let field = e.path().to_string();
            bad(format!("{field}: {}", e.into_inner()))
        })?;
        for (i, bucket) in manifest.buckets.iter().enumerate() {
            let plain = crate::shard::is_plain_file_name(&bucket.dir);
            if !plain || !dir.join(&bucket.dir).is_dir() {
                return Err(bad(format!(
                    "buckets[{i}].dir {:?} is not the plain name of a directory in the decomposition",
                    bucket.dir
                )));
            }
        }
        Ok((manifest, raw))
    }

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

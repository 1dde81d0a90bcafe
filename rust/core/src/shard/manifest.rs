//! `manifest.json`: what a dataset directory holds, how it was made, and how to verify it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub const FORMAT_NAME: &str = "seqpack-dataset";
/// Bumped on any change that an older reader would misread. Datasets without loss masks
/// keep version 1, so they stay byte-identical to those of earlier versions.
pub const FORMAT_VERSION: u32 = 1;
/// The version of datasets with a `loss_mask` column: a reader of version 1 would ignore
/// the column and train on every token.
pub const LOSS_MASK_FORMAT_VERSION: u32 = 2;
/// The newest version this seqpack reads.
pub const NEWEST_FORMAT_VERSION: u32 = LOSS_MASK_FORMAT_VERSION;

/// The format version of a dataset with (`loss_mask`) or without loss masks.
pub fn format_version(loss_mask: bool) -> u32 {
    if loss_mask {
        LOSS_MASK_FORMAT_VERSION
    } else {
        FORMAT_VERSION
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub tokenizer: TokenizerInfo,
    pub shards: Vec<ShardEntry>,
    pub total_rows: u64,
    pub total_tokens: u64,
    /// UTF-8 bytes of the text of the kept documents.
    pub total_text_bytes: u64,
    pub length_histogram: LengthHistogram,
    /// Records not turned into rows, by reason (`empty`, `malformed_json`, `missing_field`,
    /// `invalid_utf8`, `unreadable_file`, …).
    pub skipped: BTreeMap<String, u64>,
    /// The input files, in the order they were read.
    pub sources: Vec<String>,
    /// The options the dataset was made with, for provenance.
    pub options: BTreeMap<String, serde_json::Value>,
    /// How the loss masks were made and what they hold; only in datasets with masks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_mask: Option<LossMaskInfo>,
}

/// The loss masks of a dataset (`format_version` 2): which encoder made them from which
/// record formats, and what they hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LossMaskInfo {
    /// Each source's record format (`text`, `messages`, `prompt-completion`), in the order
    /// of `sources`. Plain-text records are trained on whole.
    pub formats: Vec<String>,
    /// The fingerprint of the encoder of each structured format used (see
    /// `chat::RecordEncoder::fingerprint`).
    pub encoders: BTreeMap<String, String>,
    /// What the masks hold (in the manifest, beside the fields above).
    #[serde(flatten)]
    pub counts: LossMaskCounts,
}

/// What loss masks hold: those of a dataset in its manifest, those a preprocess split has
/// written so far in its journal. A manifest without them is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LossMaskCounts {
    /// Tokens whose mask is true.
    pub trained_tokens: u64,
    /// Records kept whose mask is false everywhere.
    pub records_with_nothing_to_train: u64,
    /// Mask edges that fell inside a token, resolved by the encoder's rule.
    pub edges_inside_tokens: u64,
}

impl LossMaskCounts {
    /// Counts one record of `trained` trained tokens, whose mask had
    /// `edges_inside_tokens` edges inside a token.
    pub fn add_record(&mut self, trained: u64, edges_inside_tokens: u64) {
        self.trained_tokens += trained;
        self.records_with_nothing_to_train += u64::from(trained == 0);
        self.edges_inside_tokens += edges_inside_tokens;
    }

    /// Adds the records counted in `other`.
    pub fn add(&mut self, other: &LossMaskCounts) {
        self.trained_tokens += other.trained_tokens;
        self.records_with_nothing_to_train += other.records_with_nothing_to_train;
        self.edges_inside_tokens += other.edges_inside_tokens;
    }
}

impl LossMaskInfo {
    /// The masks of a dataset whose rows are cut or packed from `source`'s (a packed dataset,
    /// a decomposition's bucket): made as the source's were, holding nothing until rows are
    /// counted in with [`LossMaskInfo::add_row`].
    pub fn derived_from(source: &LossMaskInfo) -> LossMaskInfo {
        LossMaskInfo {
            formats: source.formats.clone(),
            encoders: source.encoders.clone(),
            counts: LossMaskCounts {
                edges_inside_tokens: source.counts.edges_inside_tokens,
                ..LossMaskCounts::default()
            },
        }
    }

    /// Counts one row's mask: its trained tokens, and the row if it has none.
    pub fn add_row(&mut self, mask: &[u8]) {
        let trained = mask.iter().filter(|&&m| m != 0).count() as u64;
        self.counts.add_record(trained, 0);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    pub fingerprint: String,
    pub vocab_size: u64,
    /// Which implementation encoded the data (`"bpe"`, `"ast-bpe"` or `"hf"`); absent in
    /// manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub file: String,
    pub rows: u64,
    pub tokens: u64,
    pub bytes: u64,
    pub checksum: String,
}

/// Document lengths in power-of-two buckets: `counts[k]` documents have a length in
/// `[2^k, 2^(k+1))`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LengthHistogram {
    pub counts: Vec<u64>,
    pub min: u64,
    pub max: u64,
}

impl LengthHistogram {
    pub fn add(&mut self, length: u64) {
        if length == 0 {
            return;
        }
        let bucket = (63 - length.leading_zeros()) as usize;
        if self.counts.len() <= bucket {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] += 1;
        self.min = if self.max == 0 {
            length
        } else {
            self.min.min(length)
        };
        self.max = self.max.max(length);
    }

    /// Adds the documents counted in `other`.
    pub fn merge(&mut self, other: &LengthHistogram) {
        if other.max == 0 {
            return;
        }
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.min = if self.max == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
    }
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::parse(path, &bytes)?.0)
    }

    /// Parses the bytes of `path`: the typed manifest, and the JSON it was read from (which
    /// keeps fields this version does not know). A missing or mistyped field is an error
    /// that names it (`shards[2].rows: invalid type: …`).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<(Self, serde_json::Value)> {
        let bad = |message: String| Error::Format {
            path: path.display().to_string(),
            message,
        };
        let raw: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a seqpack manifest: not valid JSON ({e})")))?;
        let format = raw.get("format").and_then(serde_json::Value::as_str);
        let version = raw
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        if format != Some(FORMAT_NAME) {
            return Err(bad(format!(
                "not a seqpack manifest (format {}, expected {FORMAT_NAME:?})",
                raw.get("format").unwrap_or(&serde_json::Value::Null)
            )));
        }
        match version {
            Some(version) if version <= u64::from(NEWEST_FORMAT_VERSION) => {}
            Some(version) => {
                return Err(bad(format!(
                    "format version {version} is newer than this seqpack reads ({NEWEST_FORMAT_VERSION}); upgrade seqpack"
                )));
            }
            None => return Err(bad("format_version is not a non-negative integer".into())),
        }
        let manifest = serde_path_to_error::deserialize(&raw).map_err(|e| {
            let field = e.path().to_string();
            bad(format!("{field}: {}", e.into_inner()))
        })?;
        Ok((manifest, raw))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        super::write_atomically(path, text.as_bytes())
    }
}

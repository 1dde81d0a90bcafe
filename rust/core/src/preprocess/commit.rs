//! What a finished split leaves (its [`SplitResult`], written beside its shards), and the
//! commit that merges the results of every split into the dataset's one manifest, from the
//! results alone (no shard is read). The manifest is written last, atomically: a directory
//! without one holds no dataset yet, whatever shards it has.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::journal::{Written, journal_name};
use super::split::Plan;
use super::{PreprocessOptions, options_record};
use crate::shard::{self, LengthHistogram, Manifest, TokenizerInfo};
use crate::tokenize::Tokenizer;
use crate::{Error, Result};

/// Where a split starts numbering: its first line (row) in its input, and its first
/// document's id in the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitStart {
    pub first_line: u64,
    pub first_doc_id: u64,
}

/// What one split wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitResult {
    /// The run ([`Plan::run`]) it belongs to.
    pub run: String,
    pub split: usize,
    pub first_doc_id: u64,
    pub documents: u64,
    #[serde(flatten)]
    pub written: Written,
}

pub(crate) const RESULT_PREFIX: &str = ".seqpack-split-";

/// The file holding split `split`'s result: its mark of being done.
pub fn result_name(split: usize) -> String {
    format!("{RESULT_PREFIX}{split:05}.json")
}

impl SplitResult {
    pub fn read(path: &Path) -> Result<Option<Self>> {
        super::state_file::read(path, "split result")
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        super::state_file::write(self, path)
    }
}

/// The manifest of the dataset whose splits wrote `results` (one per split of `plan`, in
/// order), written to `out` last; the splits' own files (results, journals) are removed
/// after it.
pub fn commit(
    out: &Path,
    plan: &Plan,
    results: &[SplitResult],
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> Result<Manifest> {
    let manifest = merge(plan, results, tokenizer, options).map_err(|message| Error::Format {
        path: out.display().to_string(),
        message,
    })?;
    manifest.write(&out.join(shard::MANIFEST))?;
    for split in 0..plan.splits.len() {
        let _ = std::fs::remove_file(out.join(result_name(split)));
        let _ = std::fs::remove_file(out.join(journal_name(split)));
    }
    Ok(manifest)
}

/// The manifest of the splits' `results`, or why they do not make one dataset.
fn merge(
    plan: &Plan,
    results: &[SplitResult],
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> std::result::Result<Manifest, String> {
    if results.len() != plan.splits.len() {
        return Err(format!(
            "{} split results for a plan of {} splits",
            results.len(),
            plan.splits.len()
        ));
    }
    let mut manifest = Manifest {
        format: shard::FORMAT_NAME.into(),
        format_version: shard::format_version(plan.loss_mask.is_some()),
        tokenizer: TokenizerInfo {
            fingerprint: tokenizer.fingerprint().to_owned(),
            vocab_size: u64::from(tokenizer.vocab_size()),
            implementation: Some(tokenizer.implementation().name().to_owned()),
        },
        total_rows: 0,
        total_tokens: 0,
        total_text_bytes: 0,
        shards: Vec::new(),
        length_histogram: LengthHistogram::default(),
        skipped: BTreeMap::new(),
        sources: plan.sources.clone(),
        options: options_record(options),
        loss_mask: plan.loss_mask.clone(),
    };
    for (split, result) in results.iter().enumerate() {
        // Ids follow on from split to split only if every split counted its documents as
        // the tokenizing run found them.
        if result.run != plan.run
            || result.split != split
            || result.first_doc_id != manifest.total_rows
        {
            return Err(format!(
                "split result {} (run {}, first document {}) does not follow on as split {split} \
                 of run {} (first document {})",
                result.split, result.run, result.first_doc_id, plan.run, manifest.total_rows
            ));
        }
        manifest.total_rows += result.documents;
        let written = &result.written;
        manifest.total_tokens += written.shards.iter().map(|s| s.tokens).sum::<u64>();
        manifest.total_text_bytes += written.text_bytes;
        manifest.shards.extend(written.shards.iter().cloned());
        manifest.length_histogram.merge(&written.histogram);
        for (reason, count) in &written.skipped {
            *manifest.skipped.entry(reason.clone()).or_default() += count;
        }
        if let (Some(masks), Some(counts)) = (&mut manifest.loss_mask, &written.loss_mask) {
            masks.counts.add(counts);
        }
    }
    Ok(manifest)
}

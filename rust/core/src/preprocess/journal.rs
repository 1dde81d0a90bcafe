//! The resume journal of a split: after each shard, what is done and where the input stands,
//! written atomically. A split killed at any moment restarts from its last journal and
//! produces the same shards as an uninterrupted one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::shard::{LengthHistogram, ShardEntry};
use crate::{Error, Result};

/// The journal file of split `split`.
pub(crate) fn journal_name(split: usize) -> String {
    format!("{JOURNAL_PREFIX}{split:05}.json")
}

pub(crate) const JOURNAL_PREFIX: &str = ".seqpack-progress-";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Journal {
    /// Identifies inputs, options and tokenizer: a journal is only resumed by the same run.
    pub run: String,
    pub shards: Vec<ShardEntry>,
    /// The last record included in the last shard, as (source index, line); `None` before
    /// the first shard.
    pub cursor: Option<(u32, u64)>,
    pub next_doc_id: u64,
    pub skipped: BTreeMap<String, u64>,
    pub histogram: LengthHistogram,
    pub text_bytes: u64,
    /// Loss-mask counts (see `shard::LossMaskInfo`), in datasets with masks.
    #[serde(default)]
    pub trained_tokens: u64,
    #[serde(default)]
    pub records_with_nothing_to_train: u64,
    #[serde(default)]
    pub edges_inside_tokens: u64,
}

impl Journal {
    pub fn read(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Format {
                    path: path.display().to_string(),
                    message: format!("unreadable resume journal: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(self).expect("a journal always serialises");
        crate::shard::write_atomically(path, text.as_bytes())
    }
}

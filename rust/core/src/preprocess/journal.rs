//! The resume journal of a split: after each shard, what is done and where the input stands,
//! written atomically. A split killed at any moment restarts from its last journal and
//! produces the same shards as an uninterrupted one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::shard::{LengthHistogram, LossMaskCounts, ShardEntry};

/// The journal file of split `split`.
pub(crate) fn journal_name(split: usize) -> String {
    format!("{JOURNAL_PREFIX}{split:05}.json")
}

pub(crate) const JOURNAL_PREFIX: &str = ".seqpack-progress-";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Journal {
    /// Identifies inputs, options and tokenizer: a journal is only resumed by the same run.
    pub run: String,
    /// The last record included in the last shard, as (source index, line); `None` before
    /// the first shard.
    pub cursor: Option<(u32, u64)>,
    pub next_doc_id: u64,
    #[serde(flatten)]
    pub written: Written,
}

/// What a split has written so far: its shards and what they hold, kept in its journal as
/// it goes and in its [`super::SplitResult`] once it is done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub shards: Vec<ShardEntry>,
    pub skipped: BTreeMap<String, u64>,
    pub histogram: LengthHistogram,
    pub text_bytes: u64,
    /// What the loss masks written hold, in datasets with masks; `None` in plain-text runs
    /// and in journals written before masks existed, which still resume.
    #[serde(flatten)]
    pub loss_mask: Option<LossMaskCounts>,
}

impl Journal {
    pub fn read(path: &Path) -> Result<Option<Self>> {
        super::state_file::read(path, "resume journal")
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        super::state_file::write(self, path)
    }
}

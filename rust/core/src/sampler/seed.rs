//! The one seed derivation. Every random choice a loader makes (the order of documents
//! before an epoch is packed, the order of its rows, the rows of a decomposition's bucket,
//! the curriculum's bucket per step) draws a SplitMix64 stream from a seed made here, so
//! that the order of a run is a pure function of what is written in its state: the dataset,
//! the options (which hold the user's seed) and the epoch.

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

/// What a derived seed is for: two purposes of the same epoch get independent streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The order of documents before they are packed.
    DocumentOrder,
    /// The order of the rows of an epoch (or of a bucket's rows).
    RowOrder,
    /// The bucket of each step of a decomposed epoch.
    Curriculum,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Purpose::DocumentOrder => "document-order",
            Purpose::RowOrder => "row-order",
            Purpose::Curriculum => "curriculum",
        }
    }
}

/// The seed of `purpose` in `epoch` of a run over the dataset whose fingerprint is
/// `dataset`, with `options` (a JSON object that includes the user's seed): xxh3-64 of
/// `seqpack-seed/1`, the fingerprint, the options as compact JSON with sorted keys, the
/// epoch and the purpose, one per line. The same on every platform and rank.
pub fn derive_seed(dataset: &str, options: &Value, epoch: u64, purpose: Purpose) -> u64 {
    let options = crate::json::sorted_text(options);
    let key = format!(
        "seqpack-seed/1\n{dataset}\n{options}\n{epoch}\n{}",
        purpose.tag()
    );
    xxh3_64(key.as_bytes())
}

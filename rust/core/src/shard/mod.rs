//! The dataset directory: uncompressed Arrow IPC *file* shards (so they memory-map with zero
//! copies) of one row per document, plus `manifest.json`. Readable by pyarrow, polars,
//! duckdb and HF `datasets` without seqpack.
//!
//! Shard schema: `input_ids: large_list<uint32>` (64-bit offsets: 32-bit ones overflow past
//! 2^31 tokens per array), `length: uint32` (so lengths are a zero-copy column), `doc_id:
//! uint64` (the document's index in the dataset), `source: string` (the input file) and
//! `line: uint64` (1-based record number in that file: the line for JSONL and line-wise text,
//! the row for Arrow, 1 for a whole-file document). A dataset made from conversations or
//! prompt/completion records (format version 2) also has `loss_mask: large_list<uint8>`,
//! one byte per token (1: trained on) with the same offsets as `input_ids`: a row's mask is
//! a zero-copy `uint8` slice for pyarrow and numpy (viewed as `bool`), as its tokens are.
//! The manifest's `loss_mask` says how the masks were made and counts what they hold.
//!
//! A packed dataset (`seqpack pack DIR --out`) has one row per pack instead: `input_ids` of
//! exactly the row length (real tokens, then padding), `seq_lengths: list<uint32>` (the
//! fragments in the row, in order), `length`, `doc_id` (the row's index), and `documents` /
//! `starts: list<uint64>` (which document each fragment is, and its first token there). The
//! buckets of a decomposition (`seqpack decompose`) are packed datasets too, whose rows hold
//! their real tokens only: a row with padding is shorter than the row length.

mod checksum;
mod dataset;
mod direct;
mod fingerprint;
mod manifest;
mod reader;
mod writer;

pub use checksum::checksum_file;
pub(crate) use dataset::is_plain_file_name;
pub use dataset::{Dataset, Verify};
pub use fingerprint::dataset_fingerprint;
pub use manifest::{
    FORMAT_NAME, FORMAT_VERSION, LOSS_MASK_FORMAT_VERSION, LengthHistogram, LossMaskCounts,
    LossMaskInfo, Manifest, NEWEST_FORMAT_VERSION, ShardEntry, TokenizerInfo, format_version,
};
pub use reader::TokenStore;
pub use writer::{PackedRow, Row, ShardBuilder, ShardWriter, write_packed_shard, write_shard};

use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";

/// Creates the output directory of a new dataset, refusing one that holds anything: a
/// dataset is never mixed with another's files, nor written over its own source.
pub fn create_empty_output(out: &Path) -> crate::Result<()> {
    let occupied = out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| crate::Error::io(out, e))?
            .next()
            .is_some();
    if occupied {
        return Err(crate::Error::invalid_option(
            "out",
            format!(
                "{} exists and is not empty; choose another directory",
                out.display()
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| crate::Error::io(out, e))
}

/// The file name of shard `index`.
pub fn shard_file_name(index: usize) -> String {
    format!("shard-{index:05}.arrow")
}

/// Writes `bytes` to `path` atomically: to a temporary file beside it, synced, then renamed,
/// so a reader (or a resumed run after a crash) sees the old file or the new one, never half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    use std::io::Write;
    let tmp = temporary_path(path);
    let io = |e| crate::Error::io(&tmp, e);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .map_err(io)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| crate::Error::io(path, e)));
    if written.is_err() {
        // A full disk must not leave a partial file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests;

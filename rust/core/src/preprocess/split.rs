//! The split plan: the inputs cut into pieces that are preprocessed independently (by the
//! local run one after the other, or by the tasks of a cluster at once) and give one dataset.
//!
//! A plan depends only on the inputs (their names, sizes and Parquet row groups) and
//! `split_bytes`, never on who runs it, so every way of running it writes the same shards:
//! - an uncompressed line-wise file (JSONL, `.txt` with `lines`) is cut into byte ranges of
//!   `split_bytes`; a split owns the lines that *start* in its range, so a line that crosses
//!   a cut belongs to the split it starts in, and every line to exactly one split;
//! - a Parquet file is cut between row groups, a split taking row groups until they hold
//!   `split_bytes` (compressed);
//! - any other file (compressed, Arrow, whole-file text, unreadable) is one split.
//!
//! A shard never holds rows of two splits: shards are named by split
//! ([`split_shard_file_name`]), so splits written at once never collide.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PreprocessOptions;
use super::input::{self, Format};
use super::record_format::RecordFormat;
use crate::shard::LossMaskInfo;
use crate::{Error, Result};

/// Input bytes per split by default: large enough that a split's fixed cost (a task, a
/// thread pool filling and draining, a last shard) is lost in it, small enough that a
/// terabyte gives thousands of splits to spread over a cluster.
pub const DEFAULT_SPLIT_BYTES: u64 = 256 << 20;

/// What a run preprocesses: its inputs, how they are named in the dataset, and their splits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Identifies inputs, options and tokenizer: a resumed run must have the same.
    pub run: String,
    /// The files read.
    pub inputs: Vec<PathBuf>,
    /// Their names in the dataset (`source` column, manifest): the paths, or the URIs the
    /// files were fetched from.
    pub sources: Vec<String>,
    pub splits: Vec<Split>,
    /// What each input's records are (see [`RecordFormat`]).
    #[serde(default)]
    pub formats: Vec<RecordFormat>,
    /// What the manifest will say of the loss masks (before their counts); `None` for plain
    /// text only.
    #[serde(default)]
    pub loss_mask: Option<LossMaskInfo>,
}

/// One piece of one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The index of the input.
    pub source: u32,
    #[serde(flatten)]
    pub range: SplitRange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SplitRange {
    /// The lines that start at a byte offset in `start..end` of a line-wise file.
    Bytes { start: u64, end: u64 },
    /// Row groups `start..end` of a Parquet file, holding `rows` rows.
    RowGroups { start: usize, end: usize, rows: u64 },
    /// The whole file.
    Whole,
}

/// The file name of shard `index` of split `split`.
pub fn split_shard_file_name(split: usize, index: usize) -> String {
    format!("shard-{split:05}-{index:05}.arrow")
}

/// Plans the splits of `inputs`, named `sources` in the dataset, for the run `run`.
pub(super) fn plan(
    inputs: &[PathBuf],
    sources: Vec<String>,
    run: String,
    options: &PreprocessOptions,
) -> Result<Plan> {
    if options.split_bytes == 0 {
        return Err(Error::invalid_option(
            "split_bytes",
            "must be at least 1 byte",
        ));
    }
    let mut splits = Vec::new();
    for (index, path) in inputs.iter().enumerate() {
        let source = index as u32;
        let ranges = match cut(path, options)? {
            Some(ranges) => ranges,
            None => vec![SplitRange::Whole],
        };
        splits.extend(ranges.into_iter().map(|range| Split { source, range }));
    }
    Ok(Plan {
        run,
        inputs: inputs.to_vec(),
        sources,
        splits,
        formats: vec![RecordFormat::Text; inputs.len()],
        loss_mask: None,
    })
}

/// The ranges of one input, or `None` when it is one split.
fn cut(path: &Path, options: &PreprocessOptions) -> Result<Option<Vec<SplitRange>>> {
    let split_bytes = options.split_bytes;
    let Ok(metadata) = std::fs::metadata(path) else {
        // Unreadable: reported (or counted) when its one split opens it, in input order.
        return Ok(None);
    };
    if !metadata.is_file() || metadata.len() == 0 {
        return Ok(None);
    }
    let name = path.to_string_lossy();
    let compressed = name.ends_with(".gz") || name.ends_with(".zst");
    Ok(match input::format_of(path)? {
        Format::Jsonl if !compressed => Some(byte_ranges(metadata.len(), split_bytes)),
        Format::Text if options.lines => Some(byte_ranges(metadata.len(), split_bytes)),
        Format::Parquet => row_group_ranges(path, split_bytes),
        _ => None,
    })
}

fn byte_ranges(size: u64, split_bytes: u64) -> Vec<SplitRange> {
    (0..size.div_ceil(split_bytes))
        .map(|k| SplitRange::Bytes {
            start: k * split_bytes,
            end: ((k + 1) * split_bytes).min(size),
        })
        .collect()
}

/// Runs of row groups of at least `split_bytes` (but the last); `None` when the file's
/// metadata cannot be read (the run reports that file as unreadable).
fn row_group_ranges(path: &Path, split_bytes: u64) -> Option<Vec<SplitRange>> {
    let file = std::fs::File::open(path).ok()?;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).ok()?;
    use parquet::file::reader::FileReader;
    let groups = reader.metadata().row_groups();
    let mut ranges = Vec::new();
    let (mut start, mut bytes, mut rows) = (0, 0u64, 0u64);
    for (index, group) in groups.iter().enumerate() {
        bytes += u64::try_from(group.compressed_size()).unwrap_or(0);
        rows += u64::try_from(group.num_rows()).unwrap_or(0);
        if bytes >= split_bytes || index + 1 == groups.len() {
            ranges.push(SplitRange::RowGroups {
                start,
                end: index + 1,
                rows,
            });
            (start, bytes, rows) = (index + 1, 0, 0);
        }
    }
    (!ranges.is_empty()).then_some(ranges)
}

/// The part of `bytes` (a whole file) whose lines start in `start..end`.
pub(super) fn owned_lines(bytes: &[u8], start: u64, end: u64) -> Range<usize> {
    let line_start_from = |at: u64| -> usize {
        let at = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
        if at == 0 || at == bytes.len() || bytes[at - 1] == b'\n' {
            return at;
        }
        memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i + 1)
    };
    line_start_from(start)..line_start_from(end)
}

/// The lines (or rows) split `split` holds, from which the next split of its input numbers
/// its own: line ends for a byte range, rows for row groups, none for a whole file (a file
/// that is one split is never followed by another of it).
pub(super) fn split_lines(plan: &Plan, split: usize) -> Result<u64> {
    let Split { source, range } = &plan.splits[split];
    match *range {
        SplitRange::Bytes { start, end } => {
            let path = &plan.inputs[*source as usize];
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            // SAFETY: read-only and private, as the pipeline maps its inputs (see input.rs).
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
            let owned = owned_lines(&map, start, end);
            Ok(memchr::memchr_iter(b'\n', &map[owned]).count() as u64)
        }
        SplitRange::RowGroups { rows, .. } => Ok(rows),
        SplitRange::Whole => Ok(0),
    }
}

/// Where each split starts numbering its lines (rows), from every split's [`split_lines`].
pub fn first_lines(plan: &Plan, lines: &[u64]) -> Vec<u64> {
    let mut firsts = Vec::with_capacity(plan.splits.len());
    for (index, split) in plan.splits.iter().enumerate() {
        let first = match index.checked_sub(1) {
            Some(before) if plan.splits[before].source == split.source => {
                firsts[before] + lines[before]
            }
            _ => 1,
        };
        firsts.push(first);
    }
    firsts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_owned_by_the_split_it_starts_in() {
        let text = b"ab\ncdef\n\ng\nhij";
        let mut owned = Vec::new();
        for size in 1..=text.len() as u64 + 1 {
            owned.clear();
            let mut at = 0;
            while at < text.len() as u64 {
                let end = (at + size).min(text.len() as u64);
                owned.extend_from_slice(&text[owned_lines(text, at, end)]);
                at = end;
            }
            assert_eq!(owned, text, "split size {size}");
        }
        // A line that crosses a cut belongs to the split it starts in.
        assert_eq!(owned_lines(text, 0, 4), 0..8);
        assert_eq!(owned_lines(text, 4, 8), 8..8);
        assert_eq!(owned_lines(text, 8, 14), 8..14);
    }

    #[test]
    fn lines_are_numbered_on_across_the_splits_of_an_input() {
        let split = |source, start, end| Split {
            source,
            range: SplitRange::Bytes { start, end },
        };
        let plan = Plan {
            run: String::new(),
            inputs: Vec::new(),
            sources: Vec::new(),
            formats: Vec::new(),
            loss_mask: None,
            splits: vec![
                split(0, 0, 4),
                split(0, 4, 8),
                split(1, 0, 4),
                split(1, 4, 8),
            ],
        };
        assert_eq!(first_lines(&plan, &[3, 2, 5, 1]), [1, 4, 1, 6]);
    }
}

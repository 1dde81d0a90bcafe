//! Reading one shard back, verified against its manifest entry.

use std::io::Cursor;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{Array, LargeListArray, RecordBatch, StringArray, UInt64Array};
use arrow_schema::DataType;

use super::ShardEntry;
use super::checksum::format;
use crate::{Error, Result};

/// The documents of a shard: `tokens(i)` is row `i`'s `input_ids`.
pub struct ShardRows {
    input_ids: LargeListArray,
    source: StringArray,
    line: UInt64Array,
}

impl ShardRows {
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    pub fn tokens(&self, row: usize) -> &[u32] {
        let offsets = self.input_ids.value_offsets();
        let (a, b) = (offsets[row] as usize, offsets[row + 1] as usize);
        &self
            .input_ids
            .values()
            .as_primitive::<UInt32Type>()
            .values()[a..b]
    }

    pub fn source(&self, row: usize) -> &str {
        self.source.value(row)
    }

    pub fn line(&self, row: usize) -> u64 {
        self.line.value(row)
    }
}

/// Reads shard `entry` of the dataset directory `dir` into memory, after checking its size
/// and checksum against the entry (one read serves both), so a corrupted or replaced shard
/// is named instead of decomposed.
pub fn read_shard(dir: &Path, entry: &ShardEntry) -> Result<ShardRows> {
    let path = dir.join(&entry.file);
    let bad = |message: String| Error::Format {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    if bytes.len() as u64 != entry.bytes {
        return Err(bad(format!(
            "{} bytes, the manifest says {} (truncated or replaced)",
            bytes.len(),
            entry.bytes
        )));
    }
    let checksum = format(xxhash_rust::xxh3::xxh3_64(&bytes));
    if checksum != entry.checksum {
        return Err(bad(format!(
            "checksum {checksum} does not match the manifest's {} (the file is corrupted)",
            entry.checksum
        )));
    }
    let reader = arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| bad(format!("not a readable Arrow file: {e}")))?;
    let mut batches: Vec<RecordBatch> = reader
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("corrupted data: {e}")))?;
    // The writer puts each shard in one record batch, so rows index it directly.
    if batches.len() != 1 {
        return Err(bad(format!(
            "{} record batches, a seqpack shard has exactly one",
            batches.len()
        )));
    }
    let batch = batches.remove(0);
    let column = |name: &str, expected: &str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| bad(format!("no column {name:?} ({expected})")))
    };
    let input_ids = column("input_ids", "large_list<uint32>")?;
    if !matches!(input_ids.data_type(), DataType::LargeList(f) if f.data_type() == &DataType::UInt32)
    {
        return Err(bad(format!(
            "column \"input_ids\" is {}, not large_list<uint32>",
            input_ids.data_type()
        )));
    }
    let source = column("source", "string")?;
    let line = column("line", "uint64")?;
    if source.data_type() != &DataType::Utf8 || line.data_type() != &DataType::UInt64 {
        return Err(bad(
            "columns \"source\" and \"line\" must be string and uint64".into(),
        ));
    }
    let rows = ShardRows {
        input_ids: input_ids.as_list::<i64>().clone(),
        source: source.as_string::<i32>().clone(),
        line: line.as_primitive::<UInt64Type>().clone(),
    };
    if rows.len() as u64 != entry.rows {
        return Err(bad(format!(
            "{} rows, the manifest says {}",
            rows.len(),
            entry.rows
        )));
    }
    Ok(rows)
}

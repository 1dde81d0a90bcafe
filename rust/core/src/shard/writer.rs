//! Writing one shard.

use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    LargeListBuilder, ListBuilder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema};

use super::checksum::HashingWriter;
use super::{ShardEntry, shard_file_name, temporary_path};
use crate::{Error, Result};

/// One document's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub tokens: Vec<u32>,
    /// Index into the dataset's `sources`.
    pub source: u32,
    /// 1-based record number in the source (see the module documentation).
    pub line: u64,
}

fn schema(segmented: bool) -> Arc<Schema> {
    let item = Arc::new(Field::new("item", DataType::UInt32, false));
    let mut metadata = std::collections::HashMap::new();
    metadata.insert(
        "seqpack.format_version".to_string(),
        super::FORMAT_VERSION.to_string(),
    );
    let mut fields = vec![
        Field::new("input_ids", DataType::LargeList(item.clone()), false),
        Field::new("length", DataType::UInt32, false),
        Field::new("doc_id", DataType::UInt64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
    ];
    if segmented {
        fields.push(Field::new("seq_lengths", DataType::List(item), false));
    }
    Arc::new(Schema::new(fields).with_metadata(metadata))
}

/// Writes shard `index` of `dir` atomically (temporary file, sync, rename). Its rows get
/// document ids from `first_doc_id` on.
pub fn write_shard(
    dir: &Path,
    index: usize,
    first_doc_id: u64,
    rows: &[Row],
    sources: &[String],
) -> Result<ShardEntry> {
    write(dir, index, first_doc_id, rows, None, sources)
}

/// As [`write_shard`] for rows that hold several segments (pieces or packed documents that
/// must not attend to each other), with a `seq_lengths: list<uint32>` column:
/// `seq_lengths[i]` are row `i`'s segment lengths, in order, summing to its length.
pub fn write_segmented_shard(
    dir: &Path,
    index: usize,
    first_doc_id: u64,
    rows: &[Row],
    seq_lengths: &[Vec<u32>],
    sources: &[String],
) -> Result<ShardEntry> {
    assert_eq!(
        rows.len(),
        seq_lengths.len(),
        "one seq_lengths entry per row"
    );
    write(dir, index, first_doc_id, rows, Some(seq_lengths), sources)
}

fn write(
    dir: &Path,
    index: usize,
    first_doc_id: u64,
    rows: &[Row],
    seq_lengths: Option<&[Vec<u32>]>,
    sources: &[String],
) -> Result<ShardEntry> {
    let schema = schema(seq_lengths.is_some());
    let item = Field::new("item", DataType::UInt32, false);
    let tokens: usize = rows.iter().map(|r| r.tokens.len()).sum();
    let mut input_ids =
        LargeListBuilder::with_capacity(UInt32Builder::with_capacity(tokens), rows.len())
            .with_field(Arc::new(item));
    let mut length = UInt32Builder::with_capacity(rows.len());
    let mut doc_id = UInt64Builder::with_capacity(rows.len());
    let mut source = StringBuilder::new();
    let mut line = UInt64Builder::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        input_ids.values().append_slice(&row.tokens);
        input_ids.append(true);
        length.append_value(row.tokens.len() as u32);
        doc_id.append_value(first_doc_id + i as u64);
        source.append_value(&sources[row.source as usize]);
        line.append_value(row.line);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(input_ids.finish()),
        Arc::new(length.finish()),
        Arc::new(doc_id.finish()),
        Arc::new(source.finish()),
        Arc::new(line.finish()),
    ];
    if let Some(seq_lengths) = seq_lengths {
        let segments = seq_lengths.iter().map(Vec::len).sum();
        let mut list =
            ListBuilder::with_capacity(UInt32Builder::with_capacity(segments), rows.len())
                .with_field(Arc::new(Field::new("item", DataType::UInt32, false)));
        for lengths in seq_lengths {
            list.values().append_slice(lengths);
            list.append(true);
        }
        columns.push(Arc::new(list.finish()));
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema");

    let name = shard_file_name(index);
    let path = dir.join(&name);
    let tmp = temporary_path(&path);
    let io = |e: std::io::Error| Error::io(&tmp, e);
    let arrow = |e: arrow_schema::ArrowError| Error::io(&tmp, std::io::Error::other(e));
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut writer =
        FileWriter::try_new(HashingWriter::new(BufWriter::new(file)), &schema).map_err(arrow)?;
    writer.write(&batch).map_err(arrow)?;
    writer.finish().map_err(arrow)?;
    let hashing = writer.into_inner().map_err(arrow)?;
    let (checksum, bytes) = (hashing.digest(), hashing.bytes);
    let file = hashing
        .into_inner()
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    Ok(ShardEntry {
        file: name,
        rows: rows.len() as u64,
        tokens: tokens as u64,
        bytes,
        checksum,
    })
}

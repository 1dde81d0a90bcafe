//! Writing one shard.

use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, LargeListBuilder, ListBuilder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
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

fn schema() -> Arc<Schema> {
    let item = Arc::new(Field::new("item", DataType::UInt32, false));
    let mut metadata = std::collections::HashMap::new();
    metadata.insert(
        "seqpack.format_version".to_string(),
        super::FORMAT_VERSION.to_string(),
    );
    Arc::new(
        Schema::new(vec![
            Field::new("input_ids", DataType::LargeList(item), false),
            Field::new("length", DataType::UInt32, false),
            Field::new("doc_id", DataType::UInt64, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("line", DataType::UInt64, false),
        ])
        .with_metadata(metadata),
    )
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
    let mut shard = ShardBuilder::default();
    for row in rows {
        shard.push(&row.tokens, &sources[row.source as usize], row.line);
    }
    shard.write(dir, index, first_doc_id)
}

/// A shard's columns, filled one document at a time, so a document's tokens are copied
/// once, as it arrives, and need not be kept apart until the shard is written.
pub struct ShardBuilder {
    input_ids: LargeListBuilder<UInt32Builder>,
    length: UInt32Builder,
    source: StringBuilder,
    line: UInt64Builder,
    tokens: u64,
}

impl Default for ShardBuilder {
    fn default() -> Self {
        let item = Field::new("item", DataType::UInt32, false);
        ShardBuilder {
            input_ids: LargeListBuilder::new(UInt32Builder::new()).with_field(Arc::new(item)),
            length: UInt32Builder::new(),
            source: StringBuilder::new(),
            line: UInt64Builder::new(),
            tokens: 0,
        }
    }
}

impl ShardBuilder {
    /// Appends one document's row: its tokens, its source file and its line there.
    pub fn push(&mut self, tokens: &[u32], source: &str, line: u64) {
        self.input_ids.values().append_slice(tokens);
        self.input_ids.append(true);
        self.length.append_value(tokens.len() as u32);
        self.source.append_value(source);
        self.line.append_value(line);
        self.tokens += tokens.len() as u64;
    }

    pub fn rows(&self) -> usize {
        self.length.len()
    }

    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Writes the rows as shard `index` of `dir` (as [`write_shard`]) and empties the
    /// builder for the next shard.
    pub fn write(&mut self, dir: &Path, index: usize, first_doc_id: u64) -> Result<ShardEntry> {
        let rows = self.rows() as u64;
        let doc_id = UInt64Array::from_iter_values(first_doc_id..first_doc_id + rows);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.input_ids.finish()),
            Arc::new(self.length.finish()),
            Arc::new(doc_id),
            Arc::new(self.source.finish()),
            Arc::new(self.line.finish()),
        ];
        let tokens = std::mem::take(&mut self.tokens);
        let batch = RecordBatch::try_new(schema(), columns).expect("columns match the schema");
        write_batch(dir, index, &batch, tokens)
    }
}

/// One row of a packed dataset: `tokens` holds whole rows of the pack's capacity (real
/// tokens, then padding), `seq_lengths` the lengths of the document fragments in it, in
/// order, and `documents`/`starts` where each fragment came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedRow {
    pub tokens: Vec<u32>,
    pub seq_lengths: Vec<u32>,
    pub documents: Vec<u64>,
    pub starts: Vec<u64>,
}

fn packed_schema() -> Arc<Schema> {
    let item = |t: DataType| Arc::new(Field::new("item", t, false));
    Arc::new(
        Schema::new(vec![
            Field::new(
                "input_ids",
                DataType::LargeList(item(DataType::UInt32)),
                false,
            ),
            Field::new("seq_lengths", DataType::List(item(DataType::UInt32)), false),
            Field::new("length", DataType::UInt32, false),
            Field::new("doc_id", DataType::UInt64, false),
            Field::new("documents", DataType::List(item(DataType::UInt64)), false),
            Field::new("starts", DataType::List(item(DataType::UInt64)), false),
        ])
        .with_metadata(schema().metadata().clone()),
    )
}

/// Writes shard `index` of a packed dataset atomically; its rows get ids from `first_row` on.
pub fn write_packed_shard(
    dir: &Path,
    index: usize,
    first_row: u64,
    rows: &[PackedRow],
) -> Result<ShardEntry> {
    let schema = packed_schema();
    let tokens: usize = rows.iter().map(|r| r.tokens.len()).sum();
    let list = |t: DataType| Arc::new(Field::new("item", t, false));
    let mut input_ids =
        LargeListBuilder::with_capacity(UInt32Builder::with_capacity(tokens), rows.len())
            .with_field(list(DataType::UInt32));
    let mut seq_lengths = ListBuilder::new(UInt32Builder::new()).with_field(list(DataType::UInt32));
    let mut documents = ListBuilder::new(UInt64Builder::new()).with_field(list(DataType::UInt64));
    let mut starts = ListBuilder::new(UInt64Builder::new()).with_field(list(DataType::UInt64));
    let mut length = UInt32Builder::with_capacity(rows.len());
    let mut doc_id = UInt64Builder::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        input_ids.values().append_slice(&row.tokens);
        input_ids.append(true);
        seq_lengths.values().append_slice(&row.seq_lengths);
        seq_lengths.append(true);
        documents.values().append_slice(&row.documents);
        documents.append(true);
        starts.values().append_slice(&row.starts);
        starts.append(true);
        length.append_value(row.tokens.len() as u32);
        doc_id.append_value(first_row + i as u64);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(input_ids.finish()),
        Arc::new(seq_lengths.finish()),
        Arc::new(length.finish()),
        Arc::new(doc_id.finish()),
        Arc::new(documents.finish()),
        Arc::new(starts.finish()),
    ];
    let batch = RecordBatch::try_new(schema, columns).expect("columns match the schema");
    write_batch(dir, index, &batch, tokens as u64)
}

/// Writes one record batch as shard `index`: temporary file, checksum while writing, sync,
/// rename.
fn write_batch(dir: &Path, index: usize, batch: &RecordBatch, tokens: u64) -> Result<ShardEntry> {
    let name = shard_file_name(index);
    let path = dir.join(&name);
    let tmp = temporary_path(&path);
    let io = |e: std::io::Error| Error::io(&tmp, e);
    let arrow = |e: arrow_schema::ArrowError| Error::io(&tmp, std::io::Error::other(e));
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut writer = FileWriter::try_new(HashingWriter::new(BufWriter::new(file)), &batch.schema())
        .map_err(arrow)?;
    writer.write(batch).map_err(arrow)?;
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
        rows: batch.num_rows() as u64,
        tokens,
        bytes,
        checksum,
    })
}

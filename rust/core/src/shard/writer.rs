//! Writing one shard.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{LargeListBuilder, ListBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{
    Array, ArrayRef, LargeListArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema};

use super::checksum::HashingWriter;
use super::direct::ShardFile;
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
    let tokens = rows.iter().map(|r| r.tokens.len()).sum();
    let mut shard = ShardBuilder::with_capacity(tokens);
    for row in rows {
        shard.push(&row.tokens, row.source, row.line);
    }
    shard.write(dir, index, first_doc_id, sources)
}

/// A shard's columns, filled one document at a time, so a document's tokens are copied
/// once, as it arrives, and need not be kept apart until the shard is written.
///
/// The columns become the Arrow arrays without a copy, and come back empty but with their
/// memory once the shard is written, for the next one: fresh memory costs more here than
/// the copy into it (see [`crate::buffer`]), so a run touches a shard's worth of it once.
pub struct ShardBuilder {
    tokens: Vec<u32>,
    /// Where each row's tokens start, then the end of the last row.
    offsets: Vec<i64>,
    /// Index of each row's source in the names given to [`ShardBuilder::write`].
    sources: Vec<u32>,
    lines: Vec<u64>,
}

impl ShardBuilder {
    /// A builder with room for `tokens` tokens (more only costs a reallocation). Not on huge
    /// pages: on a host that takes freed memory back, as this one does, faulting a huge page
    /// back in cost 2–3× as much as its 4 KiB pages (134 MiB filled again: 243–311 ms against
    /// 71–130 ms).
    pub fn with_capacity(tokens: usize) -> Self {
        ShardBuilder {
            tokens: Vec::with_capacity(tokens),
            offsets: vec![0],
            sources: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Appends one document's row: its tokens, its source file and its line there.
    pub fn push(&mut self, tokens: &[u32], source: u32, line: u64) {
        self.tokens.extend_from_slice(tokens);
        self.offsets.push(self.tokens.len() as i64);
        self.sources.push(source);
        self.lines.push(line);
    }

    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn tokens(&self) -> u64 {
        self.tokens.len() as u64
    }

    /// Writes the rows as shard `index` of `dir` (as [`write_shard`]), `sources` naming the
    /// rows' source indices, and empties the builder for the next shard.
    pub fn write(
        &mut self,
        dir: &Path,
        index: usize,
        first_doc_id: u64,
        sources: &[String],
    ) -> Result<ShardEntry> {
        let rows = self.rows() as u64;
        let tokens = self.tokens();
        let length =
            UInt32Array::from_iter_values(self.offsets.windows(2).map(|w| (w[1] - w[0]) as u32));
        let doc_id = UInt64Array::from_iter_values(first_doc_id..first_doc_id + rows);
        let source =
            StringArray::from_iter_values(self.sources.iter().map(|&s| &sources[s as usize]));
        let values = UInt32Array::new(std::mem::take(&mut self.tokens).into(), None);
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        // The offsets start at 0 and never decrease: pushes only append tokens.
        let offsets = OffsetBuffer::new(offsets.into());
        let item = Arc::new(Field::new("item", DataType::UInt32, false));
        let input_ids = LargeListArray::new(item, offsets, Arc::new(values), None);
        let line = UInt64Array::new(std::mem::take(&mut self.lines).into(), None);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(input_ids),
            Arc::new(length),
            Arc::new(doc_id),
            Arc::new(source),
            Arc::new(line),
        ];
        let batch = RecordBatch::try_new(schema(), columns).expect("columns match the schema");
        let entry = write_batch(dir, index, &batch, tokens);
        self.sources.clear();
        self.tokens = reclaim_tokens(batch);
        entry
    }
}

/// The memory of a written shard's tokens, emptied; a fresh vector should anything else still
/// hold it.
fn reclaim_tokens(batch: RecordBatch) -> Vec<u32> {
    let input_ids = batch.column(0).to_data();
    drop(batch);
    let (.., mut children) = input_ids.into_parts();
    let (.., buffers, _) = children.pop().expect("a list has its values").into_parts();
    let mut tokens = buffers
        .into_iter()
        .next()
        .and_then(|values| values.into_vec::<u32>().ok())
        .unwrap_or_default();
    tokens.clear();
    tokens
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
    let file = ShardFile::create(&tmp).map_err(io)?;
    let mut writer =
        FileWriter::try_new(HashingWriter::new(file), &batch.schema()).map_err(arrow)?;
    writer.write(batch).map_err(arrow)?;
    writer.finish().map_err(arrow)?;
    let hashing = writer.into_inner().map_err(arrow)?;
    let (checksum, bytes) = (hashing.digest(), hashing.bytes);
    let file = hashing.into_inner().finish().map_err(io)?;
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

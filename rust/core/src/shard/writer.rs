//! Writing one shard.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    LargeListBuilder, ListBuilder, UInt8Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowPrimitiveType, UInt8Type, UInt32Type};
use arrow_array::{
    ArrayRef, LargeListArray, RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array,
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
    /// Which tokens are trained on, in a dataset with loss masks.
    pub loss_mask: Option<Vec<bool>>,
}

/// The schema of a dataset's shards; with `loss_mask`, also that column, and the format
/// version of datasets with loss masks.
fn schema(loss_mask: bool) -> Arc<Schema> {
    let item = |t: DataType| Arc::new(Field::new("item", t, false));
    let mut metadata = std::collections::HashMap::new();
    let version = super::format_version(loss_mask);
    metadata.insert("seqpack.format_version".to_string(), version.to_string());
    let mut fields = vec![
        Field::new(
            "input_ids",
            DataType::LargeList(item(DataType::UInt32)),
            false,
        ),
        Field::new("length", DataType::UInt32, false),
        Field::new("doc_id", DataType::UInt64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
    ];
    if loss_mask {
        fields.push(Field::new(
            "loss_mask",
            DataType::LargeList(item(DataType::UInt8)),
            false,
        ));
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
    let tokens = rows.iter().map(|r| r.tokens.len()).sum();
    let masked = rows.iter().any(|r| r.loss_mask.is_some());
    let mut shard = ShardBuilder::with_capacity(tokens, masked);
    for row in rows {
        let mask: Option<Vec<u8>> = masked.then(|| match &row.loss_mask {
            Some(mask) => mask.iter().map(|&m| u8::from(m)).collect(),
            None => vec![1; row.tokens.len()],
        });
        shard.push(&row.tokens, mask.as_deref(), row.source, row.line);
    }
    shard.write(dir, index, first_doc_id, sources)
}

/// Rows' columns, filled one document at a time, so a document's tokens are copied once, as
/// it arrives, and need not be kept apart until they are written (as one record batch).
///
/// The columns become the Arrow arrays without a copy, and come back empty but with their
/// memory once written, for the next rows: fresh memory costs more here than the copy into
/// it (see [`crate::buffer`]).
pub struct ShardBuilder {
    tokens: Vec<u32>,
    /// Where each row's tokens start, then the end of the last row.
    offsets: Vec<i64>,
    /// Index of each row's source in the names given when the rows are written.
    sources: Vec<u32>,
    lines: Vec<u64>,
    /// The rows' loss masks end to end (1: trained), parallel to `tokens`, in a dataset
    /// with loss masks.
    loss_mask: Option<Vec<u8>>,
}

impl ShardBuilder {
    /// A builder with room for `tokens` tokens (more only costs a reallocation). Not on huge
    /// pages: on a host that takes freed memory back, as this one does, faulting a huge page
    /// back in cost 2–3× as much as its 4 KiB pages (134 MiB filled again: 243–311 ms against
    /// 71–130 ms).
    /// With `loss_mask`, every row has a loss mask.
    pub fn with_capacity(tokens: usize, loss_mask: bool) -> Self {
        ShardBuilder {
            tokens: Vec::with_capacity(tokens),
            offsets: vec![0],
            sources: Vec::new(),
            lines: Vec::new(),
            loss_mask: loss_mask.then(|| Vec::with_capacity(tokens)),
        }
    }

    /// Whether the rows have loss masks.
    pub fn has_loss_mask(&self) -> bool {
        self.loss_mask.is_some()
    }

    /// Appends one document's row: its tokens, its loss mask (one byte per token, 1 where
    /// trained; given exactly when the builder has masks), its source file and its line
    /// there.
    ///
    /// # Panics
    /// If `mask` is given to a builder without masks or the other way round, or its length
    /// differs from the tokens'.
    pub fn push(&mut self, tokens: &[u32], mask: Option<&[u8]>, source: u32, line: u64) {
        match (&mut self.loss_mask, mask) {
            (Some(masks), Some(mask)) if mask.len() == tokens.len() => {
                masks.extend_from_slice(mask);
            }
            (None, None) => {}
            _ => panic!("a row's loss mask must match its tokens and the shard's columns"),
        }
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
        let mut shard = ShardWriter::create(dir, index, first_doc_id, self.has_loss_mask())?;
        shard.append(self, sources)?;
        shard.finish()
    }

    /// The rows as a record batch whose doc ids start at `first_doc_id`, leaving the builder
    /// empty; [`ShardBuilder::reclaim`] gives it the tokens' memory back.
    fn take_batch(&mut self, first_doc_id: u64, sources: &[String]) -> RecordBatch {
        let rows = self.rows() as u64;
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
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(input_ids.clone()),
            Arc::new(length),
            Arc::new(doc_id),
            Arc::new(source),
            Arc::new(line),
        ];
        if let Some(masks) = &mut self.loss_mask {
            // The same offsets as the tokens': a row's mask is as long as its tokens.
            let values = UInt8Array::new(std::mem::take(masks).into(), None);
            let item = Arc::new(Field::new("item", DataType::UInt8, false));
            let mask =
                LargeListArray::new(item, input_ids.offsets().clone(), Arc::new(values), None);
            columns.push(Arc::new(mask));
        }
        self.sources.clear();
        RecordBatch::try_new(schema(self.loss_mask.is_some()), columns)
            .expect("columns match the schema")
    }

    /// Takes back the token memory of a written batch from [`ShardBuilder::take_batch`]
    /// (a fresh vector should anything else still hold it).
    fn reclaim(&mut self, batch: RecordBatch) {
        let input_ids = batch.column(0).clone();
        let loss_mask = batch.column_by_name("loss_mask").cloned();
        drop(batch);
        self.tokens = list_values::<UInt32Type>(input_ids);
        if let (Some(masks), Some(loss_mask)) = (&mut self.loss_mask, loss_mask) {
            *masks = list_values::<UInt8Type>(loss_mask);
        }
    }
}

/// The values of a large list column as an empty vector with their memory (a fresh one
/// should anything else still hold it).
fn list_values<T: ArrowPrimitiveType>(column: ArrayRef) -> Vec<T::Native> {
    let values = column.as_list::<i64>().values().clone();
    drop(column);
    let primitive = values.as_primitive::<T>().clone();
    drop(values);
    let (_, buffer, _) = primitive.into_parts();
    let mut values = buffer
        .into_inner()
        .into_vec::<T::Native>()
        .unwrap_or_default();
    values.clear();
    values
}

/// A shard being written, a record batch at a time, so that its rows need not all be held
/// in memory: a run keeps only the rows of the batch being filled, and the file is mostly on
/// disk by the time the shard closes. [`ShardWriter::finish`] makes it appear atomically.
pub struct ShardWriter {
    writer: FileWriter<HashingWriter<ShardFile>>,
    tmp: PathBuf,
    name: String,
    path: PathBuf,
    first_doc_id: u64,
    rows: u64,
    tokens: u64,
    /// Whether the shard has the `loss_mask` column.
    loss_mask: bool,
}

impl ShardWriter {
    /// Starts shard `index` of `dir` (as a temporary file), its first row being document
    /// `first_doc_id`; with `loss_mask`, the shard has that column.
    pub fn create(dir: &Path, index: usize, first_doc_id: u64, loss_mask: bool) -> Result<Self> {
        Self::open(
            dir,
            shard_file_name(index),
            &schema(loss_mask),
            first_doc_id,
        )
    }

    /// Starts the shard file `name` of `dir`, as [`ShardWriter::create`] does.
    pub fn create_named(
        dir: &Path,
        name: String,
        first_doc_id: u64,
        loss_mask: bool,
    ) -> Result<Self> {
        Self::open(dir, name, &schema(loss_mask), first_doc_id)
    }

    fn open(dir: &Path, name: String, schema: &Schema, first_doc_id: u64) -> Result<Self> {
        let path = dir.join(&name);
        let tmp = temporary_path(&path);
        let file = ShardFile::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let writer = FileWriter::try_new(HashingWriter::new(file), schema)
            .map_err(|e| arrow_error(&tmp, e))?;
        Ok(ShardWriter {
            writer,
            tmp,
            name,
            path,
            first_doc_id,
            rows: 0,
            tokens: 0,
            loss_mask: schema.column_with_name("loss_mask").is_some(),
        })
    }

    /// Writes the rows of `rows` as the shard's next record batch (nothing if it has none)
    /// and empties it, keeping its memory.
    pub fn append(&mut self, rows: &mut ShardBuilder, sources: &[String]) -> Result<()> {
        if rows.rows() == 0 {
            return Ok(());
        }
        let tokens = rows.tokens();
        assert_eq!(
            rows.has_loss_mask(),
            self.loss_mask,
            "rows with loss masks go to a shard that has the column, and only those"
        );
        let batch = rows.take_batch(self.first_doc_id + self.rows, sources);
        let written = self.write(&batch, tokens);
        rows.reclaim(batch);
        written
    }

    fn write(&mut self, batch: &RecordBatch, tokens: u64) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| arrow_error(&self.tmp, e))?;
        let rows = batch.num_rows() as u64;
        self.rows += rows;
        self.tokens += tokens;
        Ok(())
    }

    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Stops writing and removes the temporary file (a run that failed; a resumed run would
    /// remove it too).
    pub fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = std::fs::remove_file(tmp);
    }

    /// Ends the file (footer, sync) and renames it into place; on an error (a full disk)
    /// the temporary file is removed.
    pub fn finish(self) -> Result<ShardEntry> {
        let tmp = self.tmp.clone();
        let finished = self.close_and_rename();
        if finished.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        finished
    }

    fn close_and_rename(mut self) -> Result<ShardEntry> {
        let tmp = self.tmp;
        let io = |e: std::io::Error| Error::io(&tmp, e);
        self.writer.finish().map_err(|e| arrow_error(&tmp, e))?;
        let hashing = self.writer.into_inner().map_err(|e| arrow_error(&tmp, e))?;
        let (checksum, bytes) = (hashing.digest(), hashing.bytes);
        let file = hashing.into_inner().finish().map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(ShardEntry {
            file: self.name,
            rows: self.rows,
            tokens: self.tokens,
            bytes,
            checksum,
        })
    }
}

fn arrow_error(path: &Path, error: arrow_schema::ArrowError) -> Error {
    Error::io(path, std::io::Error::other(error))
}

/// One row of a packed dataset: `tokens` holds whole rows of the pack's capacity (real
/// tokens, then padding), `seq_lengths` the lengths of the document fragments in it, in
/// order, and `documents`/`starts` where each fragment came from. In a dataset with loss
/// masks, `loss_mask` has one byte per token (1: trained; padding is not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedRow {
    pub tokens: Vec<u32>,
    pub seq_lengths: Vec<u32>,
    pub documents: Vec<u64>,
    pub starts: Vec<u64>,
    pub loss_mask: Option<Vec<u8>>,
}

/// The schema of a packed dataset's shards: a dataset's columns (with `loss_mask` and its
/// format version when `loss_mask`) and the segments of each row.
fn packed_schema(loss_mask: bool) -> Arc<Schema> {
    let item = |t: DataType| Arc::new(Field::new("item", t, false));
    let rows = schema(loss_mask);
    let mut fields = vec![
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
    ];
    if let Ok(mask) = rows.field_with_name("loss_mask") {
        fields.push(mask.clone());
    }
    Arc::new(Schema::new(fields).with_metadata(rows.metadata().clone()))
}

/// Writes shard `index` of a packed dataset atomically; its rows get ids from `first_row` on.
///
/// # Panics
/// If some rows have a loss mask and others not, or a mask is not as long as its row.
pub fn write_packed_shard(
    dir: &Path,
    index: usize,
    first_row: u64,
    rows: &[PackedRow],
) -> Result<ShardEntry> {
    let masked = rows.iter().any(|r| r.loss_mask.is_some());
    let schema = packed_schema(masked);
    let tokens: usize = rows.iter().map(|r| r.tokens.len()).sum();
    let mut loss_mask = LargeListBuilder::with_capacity(
        UInt8Builder::with_capacity(if masked { tokens } else { 0 }),
        rows.len(),
    )
    .with_field(Arc::new(Field::new("item", DataType::UInt8, false)));
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
        if masked {
            match &row.loss_mask {
                Some(mask) if mask.len() == row.tokens.len() => {
                    loss_mask.values().append_slice(mask);
                    loss_mask.append(true);
                }
                _ => panic!("every row of a masked packed shard has a mask as long as its tokens"),
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(input_ids.finish()),
        Arc::new(seq_lengths.finish()),
        Arc::new(length.finish()),
        Arc::new(doc_id.finish()),
        Arc::new(documents.finish()),
        Arc::new(starts.finish()),
    ];
    if masked {
        columns.push(Arc::new(loss_mask.finish()));
    }
    let batch = RecordBatch::try_new(schema, columns).expect("columns match the schema");
    write_batch(dir, index, &batch, tokens as u64)
}

/// Writes one record batch as shard `index` of a packed dataset.
fn write_batch(dir: &Path, index: usize, batch: &RecordBatch, tokens: u64) -> Result<ShardEntry> {
    let mut shard = ShardWriter::open(dir, shard_file_name(index), &batch.schema(), 0)?;
    shard.write(batch, tokens)?;
    shard.finish()
}

//! Text from columnar inputs, one record per row, read a batch at a time: Arrow IPC (file or
//! stream format) and Parquet (only the text column is decoded).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{Error, Result};

/// Batches of the text column, each as one `Option<String>` per row (`None` for null).
pub(crate) type TextBatches = Box<dyn Iterator<Item = Result<Vec<Option<String>>>> + Send>;

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Rows of the string column `field` of an Arrow IPC file or stream.
pub(crate) fn arrow_batches<R: Read + Seek + Send + 'static>(
    path: &Path,
    mut raw: R,
    field: &str,
) -> Result<TextBatches> {
    let mut magic = [0u8; 6];
    let is_file = raw.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    raw.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send> =
        if is_file {
            let reader = arrow_ipc::reader::FileReader::try_new(BufReader::new(raw), None)
                .map_err(|e| format_error(path, format!("not a readable Arrow file: {e}")))?;
            Box::new(reader)
        } else {
            let reader = arrow_ipc::reader::StreamReader::try_new(BufReader::new(raw), None)
                .map_err(|e| {
                    format_error(path, format!("not a readable Arrow file or stream: {e}"))
                })?;
            Box::new(reader)
        };
    Ok(texts(path, batches, field))
}

/// Rows of the string column `field` of a Parquet file (of `row_groups` only, if given),
/// decoding only that column.
pub(crate) fn parquet_batches(
    path: &Path,
    file: File,
    field: &str,
    row_groups: Option<std::ops::Range<usize>>,
) -> Result<TextBatches> {
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format_error(path, format!("not a readable Parquet file: {e}")))?;
    if let Some(groups) = row_groups {
        builder = builder.with_row_groups(groups.collect());
    }
    let schema = builder.parquet_schema();
    let column = (0..schema.num_columns())
        .find(|&i| schema.column(i).path().parts() == [field])
        .ok_or_else(|| {
            let names: Vec<String> = (0..schema.num_columns())
                .map(|i| schema.column(i).path().string())
                .collect();
            format_error(path, format!("no column {field:?} (columns: {names:?})"))
        })?;
    let mask = ProjectionMask::leaves(schema, [column]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(1024)
        .build()
        .map_err(|e| format_error(path, format!("unreadable Parquet file: {e}")))?;
    Ok(texts(path, Box::new(reader), field))
}

fn texts(
    path: &Path,
    batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>,
    field: &str,
) -> TextBatches {
    let path = path.to_path_buf();
    let field = field.to_string();
    Box::new(batches.map(move |batch| {
        let batch = batch.map_err(|e| format_error(&path, format!("corrupted data: {e}")))?;
        let column = batch.column_by_name(&field).ok_or_else(|| {
            let names: Vec<&String> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name())
                .collect();
            format_error(&path, format!("no column {field:?} (columns: {names:?})"))
        })?;
        match column.data_type() {
            DataType::Utf8 => {
                let s = column.as_string::<i32>();
                Ok((0..s.len())
                    .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                    .collect())
            }
            DataType::LargeUtf8 => {
                let s = column.as_string::<i64>();
                Ok((0..s.len())
                    .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                    .collect())
            }
            DataType::Utf8View => {
                let s = column.as_string_view();
                Ok((0..s.len())
                    .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                    .collect())
            }
            other => Err(format_error(
                &path,
                format!("column {field:?} is {other}, not a string column"),
            )),
        }
    }))
}

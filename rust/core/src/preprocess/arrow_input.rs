//! Records from columnar inputs, one per row, read a batch at a time: Arrow IPC (file or
//! stream format) and Parquet (only the columns read are decoded). A plain-text file gives
//! each row's text column; a file of conversations or prompt/completion records gives each
//! row's record columns as one JSON object, as the same record would read from JSONL.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::input::Payload;
use super::record_format::RecordFormat;
use crate::{Error, Result};

/// Batches of rows, each row's record as a worker takes it.
pub(crate) type RowBatches = Box<dyn Iterator<Item = Result<Vec<Payload>>> + Send>;

/// Which columns make a row's record.
#[derive(Debug, Clone)]
pub(crate) enum Columns {
    /// The string column of a plain-text file.
    Text(String),
    /// The columns of a structured record of this format (`messages`; `prompt` and
    /// `completion`), as one JSON object. A column a file lacks is left out of its records,
    /// and reported for each record by the encoder.
    Record(RecordFormat),
}

impl Columns {
    fn wanted(&self, name: &str) -> bool {
        match self {
            Columns::Text(field) => field == name,
            Columns::Record(format) => format.record_fields().contains(&name),
        }
    }
}

/// The names of the columns of an Arrow IPC file or stream, or of a Parquet file.
pub(crate) fn column_names(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let schema: Arc<Schema> = if path.to_string_lossy().ends_with(".parquet") {
        ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| format_error(path, format!("not a readable Parquet file: {e}")))?
            .schema()
            .clone()
    } else {
        let mut raw = BufReader::new(file);
        let mut magic = [0u8; 6];
        let is_file = raw.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
        raw.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(path, e))?;
        if is_file {
            arrow_ipc::reader::FileReader::try_new(raw, None)
                .map_err(|e| format_error(path, format!("not a readable Arrow file: {e}")))?
                .schema()
        } else {
            arrow_ipc::reader::StreamReader::try_new(raw, None)
                .map_err(|e| format_error(path, format!("not a readable Arrow stream: {e}")))?
                .schema()
        }
    };
    Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
}

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Rows of the `columns` of an Arrow IPC file or stream.
pub(crate) fn arrow_batches<R: Read + Seek + Send + 'static>(
    path: &Path,
    mut raw: R,
    columns: &Columns,
) -> Result<RowBatches> {
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
    Ok(rows(path, batches, columns))
}

/// Rows of the `columns` of a Parquet file (of `row_groups` only, if given), decoding only
/// those.
pub(crate) fn parquet_batches(
    path: &Path,
    file: File,
    columns: &Columns,
    row_groups: Option<std::ops::Range<usize>>,
) -> Result<RowBatches> {
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format_error(path, format!("not a readable Parquet file: {e}")))?;
    if let Some(groups) = row_groups {
        builder = builder.with_row_groups(groups.collect());
    }
    let schema = builder.parquet_schema();
    let mask = match columns {
        Columns::Text(field) => {
            let column = (0..schema.num_columns())
                .find(|&i| schema.column(i).path().parts() == [field.as_str()])
                .ok_or_else(|| {
                    let names: Vec<String> = (0..schema.num_columns())
                        .map(|i| schema.column(i).path().string())
                        .collect();
                    format_error(path, format!("no column {field:?} (columns: {names:?})"))
                })?;
            ProjectionMask::leaves(schema, [column])
        }
        Columns::Record(_) => {
            let roots = schema.root_schema().get_fields();
            let wanted = (0..roots.len()).filter(|&i| columns.wanted(roots[i].name()));
            ProjectionMask::roots(schema, wanted)
        }
    };
    let reader = builder
        .with_projection(mask)
        .with_batch_size(1024)
        .build()
        .map_err(|e| format_error(path, format!("unreadable Parquet file: {e}")))?;
    Ok(rows(path, Box::new(reader), columns))
}

fn rows(
    path: &Path,
    batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>,
    columns: &Columns,
) -> RowBatches {
    let path = path.to_path_buf();
    let columns = columns.clone();
    Box::new(batches.map(move |batch| {
        let batch = batch.map_err(|e| format_error(&path, format!("corrupted data: {e}")))?;
        match &columns {
            Columns::Text(field) => texts(&path, &batch, field),
            Columns::Record(format) => Ok(records(&batch, *format)),
        }
    }))
}

/// Each row's record: the wanted columns it has, as one JSON object.
fn records(batch: &RecordBatch, format: RecordFormat) -> Vec<Payload> {
    let present: Vec<(&str, &dyn Array)> = format
        .record_fields()
        .iter()
        .filter_map(|&name| batch.column_by_name(name).map(|c| (name, c.as_ref())))
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            let object = present
                .iter()
                .filter(|(_, column)| column.is_valid(row))
                .map(|&(name, column)| (name.to_owned(), json_value(column, row)))
                .collect();
            Payload::Json {
                format,
                value: serde_json::Value::Object(object),
            }
        })
        .collect()
}

/// Row `row` of `array` as JSON: strings, numbers, booleans, lists and structs (a
/// `list<struct<role, content>>` column is a list of messages); other types as null.
fn json_value(array: &dyn Array, row: usize) -> serde_json::Value {
    use serde_json::Value;
    if array.is_null(row) {
        return Value::Null;
    }
    let number = |n: f64| serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number);
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).into(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).into(),
        DataType::Utf8View => array.as_string_view().value(row).into(),
        DataType::Boolean => array.as_boolean().value(row).into(),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float32 => number(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => number(array.as_primitive::<Float64Type>().value(row)),
        DataType::List(_) => list_value(&array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list_value(&array.as_list::<i64>().value(row)),
        DataType::Struct(fields) => {
            let parts = array.as_struct();
            let object = fields
                .iter()
                .zip(parts.columns())
                .filter(|(_, column)| column.is_valid(row))
                .map(|(field, column)| (field.name().clone(), json_value(column.as_ref(), row)))
                .collect();
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

fn list_value(items: &arrow_array::ArrayRef) -> serde_json::Value {
    (0..items.len())
        .map(|i| json_value(items.as_ref(), i))
        .collect()
}

/// Each row's text from the string column `field`.
fn texts(path: &Path, batch: &RecordBatch, field: &str) -> Result<Vec<Payload>> {
    let text = |value: Option<&str>| match value {
        Some(text) => Payload::Str(text.to_string()),
        None => Payload::Bad {
            reason: "missing_field",
            message: "the text column is null".into(),
        },
    };
    let column = batch.column_by_name(field).ok_or_else(|| {
        let names: Vec<&String> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name())
            .collect();
        format_error(path, format!("no column {field:?} (columns: {names:?})"))
    })?;
    match column.data_type() {
        DataType::Utf8 => {
            let s = column.as_string::<i32>();
            Ok((0..s.len())
                .map(|i| text(s.is_valid(i).then(|| s.value(i))))
                .collect())
        }
        DataType::LargeUtf8 => {
            let s = column.as_string::<i64>();
            Ok((0..s.len())
                .map(|i| text(s.is_valid(i).then(|| s.value(i))))
                .collect())
        }
        DataType::Utf8View => {
            let s = column.as_string_view();
            Ok((0..s.len())
                .map(|i| text(s.is_valid(i).then(|| s.value(i))))
                .collect())
        }
        other => Err(format_error(
            path,
            format!("column {field:?} is {other}, not a string column"),
        )),
    }
}

//! One split of the inputs as batches, in input order, from where a resumed run continues.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::input::{self, Batch, Opened, Payload, Record};
use super::record_format::RecordFormat;
use super::recycle::Recycler;
use super::split::{Plan, Split};
use super::{OnError, PreprocessOptions};
use crate::{Error, Result};

/// A batch ends at this many bytes of records: small enough that several are in flight per
/// thread within little memory, and that the threads finish a run together (at 1 MiB, one
/// of two threads idled through part of the last batch: on the 28.6 MB Documentation corpus,
/// preprocess ran at 79–84 % of a pure encode on two cores, against 85–88 % at 512 KiB),
/// large enough that handing one over costs nothing by comparison.
pub(super) const BATCH_BYTES: usize = 512 << 10;

/// Reads split `split` of `plan`, whose first line (row) is number `first_line` and whose
/// records are `record_format`, from
/// `cursor` (the last record already done, as (source, line)) and hands each batch to
/// `submit` until it returns false. Chunks of lines that are streamed are read into buffers
/// from `buffers`. A file that cannot be opened becomes a record of its own (line 0, reason
/// `unreadable_file`), so it is reported or counted in order with the others.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_batches(
    plan: &Plan,
    split: usize,
    first_line: u64,
    record_format: RecordFormat,
    cursor: Option<(u32, u64)>,
    options: &PreprocessOptions,
    read: &Arc<AtomicU64>,
    buffers: &Recycler<u8>,
    submit: &mut dyn FnMut(Batch) -> bool,
) -> Result<()> {
    let Split { source, range } = &plan.splits[split];
    let skip_through = cursor.map_or(0, |(_, line)| line);
    let mut records = Vec::new();
    let mut records_bytes = 0;
    let (source, path) = (*source, &plan.inputs[*source as usize]);
    let opened = input::open(
        source,
        path,
        range,
        first_line,
        options.lines,
        &options.text_field,
        record_format,
        read.clone(),
        skip_through,
    );
    // A file that fails part way (a corrupt compressed stream, a Parquet column that is
    // not text) stops the run, or under `OnError::Skip` is counted as unreadable at the
    // line it reached.
    let failed = match opened {
        Ok(Opened::Lines(mut chunks)) => loop {
            match chunks.next_chunk(buffers, BATCH_BYTES, options.batch_records) {
                Ok(Some(chunk)) => {
                    if !submit(Batch::Lines(chunk)) {
                        return Ok(());
                    }
                }
                Ok(None) => break None,
                Err(error) => break Some((error, chunks.next_line())),
            }
        },
        Ok(Opened::Records(mut file)) => loop {
            match file.next_record() {
                Ok(Some(record)) => {
                    records_bytes += record.size();
                    records.push(record);
                    if records_bytes >= BATCH_BYTES || records.len() >= options.batch_records {
                        if !submit_records(&mut records, submit) {
                            return Ok(());
                        }
                        records_bytes = 0;
                    }
                }
                Ok(None) => break None,
                Err(error) => break Some((error, file.next_line())),
            }
        },
        Err(error) => Some((error, 0)),
    };
    match failed {
        None => {}
        Some((error @ (Error::Io { .. } | Error::Format { .. }), line))
            if line == 0 || options.on_error == OnError::Skip =>
        {
            records.push(Record {
                source,
                line,
                payload: Payload::Bad {
                    reason: "unreadable_file",
                    message: error.to_string(),
                },
            });
        }
        Some((error, _)) => return Err(error),
    }
    submit_records(&mut records, submit);
    Ok(())
}

/// Hands on the pending records as a batch; false once the consumer has stopped.
fn submit_records(records: &mut Vec<Record>, submit: &mut dyn FnMut(Batch) -> bool) -> bool {
    records.is_empty() || submit(Batch::Records(std::mem::take(records)))
}

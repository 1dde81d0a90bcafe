//! The inputs as batches of records, in input order, from where a resumed run continues.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::PreprocessOptions;
use super::input::{FileRecords, Payload, Record};
use crate::{Error, Result};

/// A batch ends at this many bytes of records: small enough that several are in flight per
/// thread within little memory, large enough that handing one over costs nothing by
/// comparison.
pub(super) const BATCH_BYTES: usize = 1 << 20;

/// Reads `inputs` from `cursor` (the last record already done, as (source, line)) and hands
/// each batch to `submit` until it returns false. A file that cannot be opened becomes a
/// record of its own (line 0, reason `unreadable_file`), so it is reported or counted in
/// order with the others.
pub(super) fn read_batches(
    inputs: &[PathBuf],
    cursor: Option<(u32, u64)>,
    options: &PreprocessOptions,
    read: &Arc<AtomicU64>,
    submit: &mut dyn FnMut(Vec<Record>) -> bool,
) -> Result<()> {
    let (start_source, start_line) = match cursor {
        Some((source, line)) => (source as usize, line),
        None => (0, 0),
    };
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for (index, path) in inputs.iter().enumerate().skip(start_source) {
        let source = index as u32;
        let opened = FileRecords::open(
            source,
            path,
            options.lines,
            &options.text_field,
            read.clone(),
        );
        let mut records = match opened {
            Ok(records) => records,
            Err(error @ (Error::Io { .. } | Error::Format { .. })) => {
                batch.push(Record {
                    source,
                    line: 0,
                    payload: Payload::Bad {
                        reason: "unreadable_file",
                        message: error.to_string(),
                    },
                });
                continue;
            }
            Err(error) => return Err(error),
        };
        if index == start_source && start_line > 0 {
            records.skip_through(start_line)?;
        }
        while let Some(record) = records.next_record()? {
            batch_bytes += record.size();
            batch.push(record);
            if batch_bytes >= BATCH_BYTES || batch.len() >= options.batch_records {
                if !submit(std::mem::take(&mut batch)) {
                    return Ok(());
                }
                batch_bytes = 0;
            }
        }
    }
    if !batch.is_empty() {
        submit(batch);
    }
    Ok(())
}

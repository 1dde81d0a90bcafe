//! Reading training text from files, in batches: JSON Lines (`.jsonl`, `.ndjson`: one
//! document per line, in its `"text"` field) or plain UTF-8 text (any other name: the whole
//! file is one document). Errors name the file and line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// Text handed over per batch: large enough to keep every core busy, small enough that a
/// batch in memory is no burden.
const BATCH_BYTES: usize = 16 << 20;

#[derive(Deserialize)]
struct Record {
    text: Option<serde_json::Value>,
}

/// Calls `batch` with the documents of `path`, a batch at a time, and `progress` with the
/// bytes of the file read so far after each; an error from either stops the reading.
pub(crate) fn for_each_batch(
    path: &Path,
    batch: &mut dyn FnMut(&[String]) -> Result<()>,
    progress: &mut dyn FnMut(u64) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let json_lines = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson")
    );
    if json_lines {
        read_json_lines(path, file, batch, progress)
    } else {
        read_whole(path, file, batch, progress)
    }
}

/// Every document of `path`, in order, read as [`for_each_batch`] reads them: the one corpus
/// reader for callers that want the texts themselves (AST-BPE training, tests, benchmarks).
pub fn read_documents(path: &Path) -> Result<Vec<String>> {
    let mut documents = Vec::new();
    let mut keep = |batch: &[String]| {
        documents.extend_from_slice(batch);
        Ok(())
    };
    for_each_batch(path, &mut keep, &mut |_| Ok(()))?;
    Ok(documents)
}

fn bad_record(path: &Path, line: u64, reason: &'static str, message: String) -> Error {
    Error::Record {
        path: path.display().to_string(),
        line,
        reason,
        message,
    }
}

fn read_json_lines(
    path: &Path,
    file: File,
    batch: &mut dyn FnMut(&[String]) -> Result<()>,
    progress: &mut dyn FnMut(u64) -> Result<()>,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let (mut docs, mut held, mut read) = (Vec::new(), 0, 0u64);
    let mut raw = Vec::new();
    for number in 1.. {
        raw.clear();
        let n = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        let line = std::str::from_utf8(raw.trim_ascii_end()).map_err(|e| {
            let at = e.valid_up_to() + 1;
            bad_record(
                path,
                number,
                "invalid_utf8",
                format!("not valid UTF-8 (byte {at} of the line)"),
            )
        })?;
        if line.trim_start().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| {
            bad_record(
                path,
                number,
                "malformed_json",
                format!("not a JSON object: {e}"),
            )
        })?;
        let text = match record.text {
            Some(serde_json::Value::String(text)) => text,
            Some(other) => {
                let message = format!("\"text\" is not a string: {other}");
                return Err(bad_record(path, number, "text_not_string", message));
            }
            None => {
                let message = "no \"text\" field".to_owned();
                return Err(bad_record(path, number, "missing_text", message));
            }
        };
        held += text.len();
        docs.push(text);
        if held >= BATCH_BYTES {
            batch(&docs)?;
            progress(read)?;
            (docs, held) = (Vec::new(), 0);
        }
    }
    if !docs.is_empty() {
        batch(&docs)?;
    }
    progress(read)
}

fn read_whole(
    path: &Path,
    mut file: File,
    batch: &mut dyn FnMut(&[String]) -> Result<()>,
    progress: &mut dyn FnMut(u64) -> Result<()>,
) -> Result<()> {
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).map_err(|e| Error::io(path, e))?;
    let read = raw.len() as u64;
    let text = String::from_utf8(raw).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
        bad_record(path, line, "invalid_utf8", "not valid UTF-8".to_owned())
    })?;
    batch(&[text])?;
    progress(read)
}

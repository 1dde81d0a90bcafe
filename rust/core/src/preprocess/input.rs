//! Reading input files as a stream of records, each named by its source and line.
//!
//! Formats by file name: `.jsonl`, `.jsonl.gz`, `.jsonl.zst` (one JSON object per line, the
//! text in a configurable field), `.txt` (the whole file is one document, or one document per
//! line with `lines`), `.arrow` (Arrow IPC file or stream) and `.parquet`, with a string text
//! column. Blank
//! JSONL lines are not records. Record numbers are 1-based physical line numbers (row numbers
//! for Arrow); a whole-file document is record 1.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Text,
    Arrow,
    Parquet,
}

pub(crate) fn format_of(path: &Path) -> Result<Format> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(name);
    if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
        Ok(Format::Jsonl)
    } else if name.ends_with(".txt") {
        Ok(Format::Text)
    } else if name.ends_with(".arrow") || name.ends_with(".feather") {
        Ok(Format::Arrow)
    } else if name.ends_with(".parquet") {
        Ok(Format::Parquet)
    } else {
        Err(Error::invalid_option(
            "inputs",
            format!(
                "{}: unsupported input (expected .jsonl, .jsonl.gz, .jsonl.zst, .txt, .arrow or .parquet)",
                path.display()
            ),
        ))
    }
}

/// What a worker turns into tokens, or the reason it cannot.
pub(crate) enum Payload {
    /// A JSONL line, parsed by the worker.
    Json(Vec<u8>),
    /// Raw text bytes, validated as UTF-8 by the worker.
    Text(Vec<u8>),
    /// Already a string (from Arrow).
    Str(String),
    /// The record could not be read at all.
    Bad {
        reason: &'static str,
        message: String,
    },
}

pub(crate) struct Record {
    pub source: u32,
    pub line: u64,
    pub payload: Payload,
}

impl Record {
    pub fn size(&self) -> usize {
        match &self.payload {
            Payload::Json(b) | Payload::Text(b) => b.len(),
            Payload::Str(s) => s.len(),
            Payload::Bad { .. } => 0,
        }
    }
}

/// Counts the raw (compressed) bytes read, for progress and ETA.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

/// The records of one file, after `skip_through` (records up to and including that line are
/// skipped: a resumed run continues after its last complete shard).
pub(crate) struct FileRecords {
    source: u32,
    path: PathBuf,
    kind: Kind,
    next_line: u64,
}

enum Kind {
    Lines {
        reader: Box<dyn BufRead + Send>,
        json: bool,
    },
    Whole(Option<Vec<u8>>),
    Rows {
        batches: super::arrow_input::TextBatches,
        current: std::vec::IntoIter<Option<String>>,
    },
    Done,
}

impl FileRecords {
    pub fn open(
        source: u32,
        path: &Path,
        lines: bool,
        text_field: &str,
        read: Arc<AtomicU64>,
    ) -> Result<Self> {
        let format = format_of(path)?;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let raw = Counting { inner: file, read };
        let name = path.to_string_lossy();
        let kind = match format {
            Format::Jsonl => {
                let decoded: Box<dyn Read + Send> = if name.ends_with(".gz") {
                    Box::new(flate2::read::MultiGzDecoder::new(raw))
                } else if name.ends_with(".zst") {
                    Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| Error::io(path, e))?)
                } else {
                    Box::new(raw)
                };
                Kind::Lines {
                    reader: Box::new(BufReader::with_capacity(1 << 20, decoded)),
                    json: true,
                }
            }
            Format::Text if lines => Kind::Lines {
                reader: Box::new(BufReader::with_capacity(1 << 20, raw)),
                json: false,
            },
            Format::Text => {
                let mut bytes = Vec::new();
                BufReader::new(raw)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::io(path, e))?;
                Kind::Whole(Some(bytes))
            }
            Format::Arrow => Kind::Rows {
                batches: super::arrow_input::arrow_batches(path, raw, text_field)?,
                current: Vec::new().into_iter(),
            },
            Format::Parquet => {
                // Parquet reads by seeking to column chunks; progress counts the file as read
                // when it is opened.
                let size = raw.inner.metadata().map_or(0, |m| m.len());
                raw.read.fetch_add(size, Ordering::Relaxed);
                Kind::Rows {
                    batches: super::arrow_input::parquet_batches(path, raw.inner, text_field)?,
                    current: Vec::new().into_iter(),
                }
            }
        };
        Ok(FileRecords {
            source,
            path: path.to_path_buf(),
            kind,
            next_line: 1,
        })
    }

    /// Skips records up to and including `line`.
    pub fn skip_through(&mut self, line: u64) -> Result<()> {
        while self.next_line <= line {
            if self.next_raw()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// The next record with its line, or `None` at the end of the file.
    fn next_raw(&mut self) -> Result<Option<(u64, Payload)>> {
        let line = self.next_line;
        match &mut self.kind {
            Kind::Lines { reader, json } => {
                let mut buf = Vec::new();
                let n = reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| Error::io(&self.path, e))?;
                if n == 0 {
                    self.kind = Kind::Done;
                    return Ok(None);
                }
                self.next_line += 1;
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                Ok(Some((
                    line,
                    if *json {
                        Payload::Json(buf)
                    } else {
                        Payload::Text(buf)
                    },
                )))
            }
            Kind::Whole(bytes) => match bytes.take() {
                Some(bytes) => {
                    self.next_line += 1;
                    Ok(Some((line, Payload::Text(bytes))))
                }
                None => Ok(None),
            },
            Kind::Rows { batches, current } => match next_row(batches, current)? {
                Some(value) => {
                    self.next_line += 1;
                    Ok(Some((
                        line,
                        match value {
                            Some(text) => Payload::Str(text),
                            None => Payload::Bad {
                                reason: "missing_field",
                                message: "the text column is null".into(),
                            },
                        },
                    )))
                }
                None => Ok(None),
            },
            Kind::Done => Ok(None),
        }
    }

    /// The next record, skipping blank JSONL lines.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            let Some((line, payload)) = self.next_raw()? else {
                return Ok(None);
            };
            if let Payload::Json(bytes) = &payload {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
            }
            return Ok(Some(Record {
                source: self.source,
                line,
                payload,
            }));
        }
    }
}

fn next_row(
    batches: &mut super::arrow_input::TextBatches,
    current: &mut std::vec::IntoIter<Option<String>>,
) -> Result<Option<Option<String>>> {
    loop {
        if let Some(value) = current.next() {
            return Ok(Some(value));
        }
        match batches.next() {
            Some(batch) => *current = batch?.into_iter(),
            None => return Ok(None),
        }
    }
}

//! Reading input files as a stream of batches of records, each record named by its source
//! and line.
//!
//! Line-wise files (JSONL, and `.txt` with `lines`) are read as chunks of whole lines, which
//! the workers split and parse: reading then only copies bytes, once, into buffers that are
//! reused from batch to batch. Other files are read record by record.
//!
//! Formats by file name: `.jsonl`, `.jsonl.gz`, `.jsonl.zst` (one JSON object per line, the
//! text in a configurable field), `.txt` (the whole file is one document, or one document per
//! line with `lines`), `.arrow` (Arrow IPC file or stream) and `.parquet`, with a string text
//! column. Blank
//! JSONL lines are not records. Record numbers are 1-based physical line numbers (row numbers
//! for Arrow); a whole-file document is record 1.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
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

/// What the reader hands to a worker.
pub(crate) enum Batch {
    Lines(Lines),
    Records(Vec<Record>),
}

impl Batch {
    /// The bytes the batch's texts come from (a JSONL line's whole text, at most).
    pub fn text_bytes(&self) -> usize {
        match self {
            Batch::Lines(lines) => lines.bytes.len() - lines.start,
            Batch::Records(records) => records.iter().map(Record::size).sum(),
        }
    }
}

/// Whole lines of one file: `bytes[start..]`, each line ended by a newline but perhaps the
/// last of the file.
pub(crate) struct Lines {
    pub source: u32,
    /// The number of the first line.
    pub first_line: u64,
    /// JSONL (else each line is a document's text).
    pub json: bool,
    pub bytes: Vec<u8>,
    pub start: usize,
}

impl Lines {
    /// Each line with its number, without its line end (`\n` or `\r\n`).
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let body = &self.bytes[self.start..];
        let body = body.strip_suffix(b"\n").unwrap_or(body);
        let ends = memchr::memchr_iter(b'\n', body).chain([body.len()]);
        ends.scan(0, move |start, end| {
            let line = &body[*start..end];
            *start = end + 1;
            Some(line.strip_suffix(b"\r").unwrap_or(line))
        })
        .enumerate()
        .map(|(i, line)| (self.first_line + i as u64, line))
    }
}

/// What a worker turns into tokens, or the reason it cannot.
pub(crate) enum Payload {
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
            Payload::Text(b) => b.len(),
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

/// An open input file: line-wise, read in chunks of lines, or read record by record.
pub(crate) enum Opened {
    Lines(LineChunks),
    Records(FileRecords),
}

/// Opens `path` for reading; records up to and including line `skip_through` are skipped
/// (a resumed run continues after its last complete shard).
pub(crate) fn open(
    source: u32,
    path: &Path,
    lines: bool,
    text_field: &str,
    read: Arc<AtomicU64>,
    skip_through: u64,
) -> Result<Opened> {
    let format = format_of(path)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let raw = Counting { inner: file, read };
    let name = path.to_string_lossy();
    let line_wise =
        |reader, json| Opened::Lines(LineChunks::new(source, path, reader, json, skip_through));
    let kind = match format {
        Format::Jsonl => {
            let decoded: Box<dyn Read + Send> = if name.ends_with(".gz") {
                Box::new(flate2::read::MultiGzDecoder::new(raw))
            } else if name.ends_with(".zst") {
                Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| Error::io(path, e))?)
            } else {
                Box::new(raw)
            };
            return Ok(line_wise(decoded, true));
        }
        Format::Text if lines => return Ok(line_wise(Box::new(raw), false)),
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
    let mut records = FileRecords {
        source,
        kind,
        next_line: 1,
    };
    while records.next_line <= skip_through {
        if records.next_record()?.is_none() {
            break;
        }
    }
    Ok(Opened::Records(records))
}

/// A line-wise file, read as chunks of whole lines.
pub(crate) struct LineChunks {
    source: u32,
    path: PathBuf,
    reader: Box<dyn Read + Send>,
    json: bool,
    /// The start of a line that the last chunk did not hold whole.
    carry: Vec<u8>,
    next_line: u64,
    skip_through: u64,
    at_end: bool,
}

impl LineChunks {
    fn new(
        source: u32,
        path: &Path,
        reader: Box<dyn Read + Send>,
        json: bool,
        skip_through: u64,
    ) -> Self {
        LineChunks {
            source,
            path: path.to_path_buf(),
            reader,
            json,
            carry: Vec::new(),
            next_line: 1,
            skip_through,
            at_end: false,
        }
    }

    /// The next chunk, in `buffer` (emptied first): whole lines, at least `max_bytes` of
    /// them where the file has as many, but no more than `max_lines` lines; `None` at the
    /// end of the file.
    pub fn next_chunk(
        &mut self,
        mut buffer: Vec<u8>,
        max_bytes: usize,
        max_lines: usize,
    ) -> Result<Option<Lines>> {
        loop {
            buffer.clear();
            buffer.append(&mut self.carry);
            // Lines are searched for from here on: what came before holds none.
            let mut searched = 0;
            let (cut, lines) = loop {
                if buffer.len() < max_bytes && !self.at_end {
                    self.fill(&mut buffer, max_bytes)?;
                }
                match whole_lines(
                    &buffer[searched..],
                    max_lines,
                    max_bytes.saturating_sub(searched),
                ) {
                    Some((end, lines)) => break (searched + end, lines),
                    None if self.at_end => break (buffer.len(), usize::from(!buffer.is_empty())),
                    None => {
                        // A line longer than the chunk: read on until it ends.
                        searched = buffer.len();
                        self.fill(&mut buffer, searched + max_bytes)?;
                    }
                }
            };
            if lines == 0 {
                return Ok(None);
            }
            self.carry.extend_from_slice(&buffer[cut..]);
            buffer.truncate(cut);
            let first_line = self.next_line;
            self.next_line += lines as u64;
            let mut chunk = Lines {
                source: self.source,
                first_line,
                json: self.json,
                bytes: buffer,
                start: 0,
            };
            if self.next_line <= self.skip_through + 1 {
                // Every line of this chunk is done already.
                buffer = chunk.bytes;
                continue;
            }
            if first_line <= self.skip_through {
                let skip = (self.skip_through + 1 - first_line) as usize;
                let after = memchr::memchr_iter(b'\n', &chunk.bytes)
                    .nth(skip - 1)
                    .expect("the chunk holds the lines counted in it");
                chunk.start = after + 1;
                chunk.first_line = self.skip_through + 1;
            }
            return Ok(Some(chunk));
        }
    }

    /// Reads until `buffer` holds `len` bytes or the file ends.
    fn fill(&mut self, buffer: &mut Vec<u8>, len: usize) -> Result<()> {
        let want = len.saturating_sub(buffer.len());
        let got = (&mut self.reader)
            .take(want as u64)
            .read_to_end(buffer)
            .map_err(|e| Error::io(&self.path, e))?;
        if got < want {
            self.at_end = true;
        }
        Ok(())
    }
}

/// Where the whole lines of `bytes` end that make a chunk: after `max_lines` lines, or after
/// the first line that ends at or beyond `max_bytes`, or after the last line; with the
/// number of lines. `None` when no line ends in `bytes`.
fn whole_lines(bytes: &[u8], max_lines: usize, max_bytes: usize) -> Option<(usize, usize)> {
    let mut found = None;
    for (count, at) in memchr::memchr_iter(b'\n', bytes).enumerate() {
        found = Some((at + 1, count + 1));
        if count + 1 >= max_lines || at + 1 >= max_bytes {
            break;
        }
    }
    found
}

/// The records of a file read record by record.
pub(crate) struct FileRecords {
    source: u32,
    kind: Kind,
    next_line: u64,
}

enum Kind {
    Whole(Option<Vec<u8>>),
    Rows {
        batches: super::arrow_input::TextBatches,
        current: std::vec::IntoIter<Option<String>>,
    },
    Done,
}

impl FileRecords {
    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let line = self.next_line;
        let payload = match &mut self.kind {
            Kind::Whole(bytes) => match bytes.take() {
                Some(bytes) => Payload::Text(bytes),
                None => return Ok(None),
            },
            Kind::Rows { batches, current } => match next_row(batches, current)? {
                Some(Some(text)) => Payload::Str(text),
                Some(None) => Payload::Bad {
                    reason: "missing_field",
                    message: "the text column is null".into(),
                },
                None => {
                    self.kind = Kind::Done;
                    return Ok(None);
                }
            },
            Kind::Done => return Ok(None),
        };
        self.next_line += 1;
        Ok(Some(Record {
            source: self.source,
            line,
            payload,
        }))
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

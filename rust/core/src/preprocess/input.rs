//! Reading input files as a stream of batches of records, each record named by its source
//! and line.
//!
//! Line-wise files (JSONL, and `.txt` with `lines`) are handed on as chunks of whole lines,
//! which the workers split and parse. An uncompressed file is mapped, and a chunk is a range
//! of the mapping: the workers parse the page cache in place, where reading copied every
//! byte once more (a sixth of what preprocess adds to encoding, on one core). A compressed
//! file, or one that cannot be mapped (a pipe), is decoded into buffers reused from batch to
//! batch. Other files are read record by record.
//!
//! Formats by file name ([`INPUT_SUFFIXES`]): `.jsonl`/`.ndjson`, optionally `.gz`/`.zst`
//! (one JSON object per line, the text in a configurable field), `.txt` (the whole file is one
//! document, or one document per line with `lines`), `.arrow`/`.feather` (Arrow IPC file or
//! stream) and `.parquet`, with a string text column. Blank
//! JSONL lines are not records. Record numbers are 1-based physical line numbers (row numbers
//! for Arrow); a whole-file document is record 1.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::arrow_input::{Columns, RowBatches};
use super::record_format::RecordFormat;
use super::recycle::Recycler;
use super::split::SplitRange;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Text,
    Arrow,
    Parquet,
}

/// The file names preprocess reads, by the suffix that names their format. This list is the
/// one definition: the Python directory scan and error messages use it too.
pub const INPUT_SUFFIXES: &[(&str, Format)] = &[
    (".jsonl", Format::Jsonl),
    (".jsonl.gz", Format::Jsonl),
    (".jsonl.zst", Format::Jsonl),
    (".ndjson", Format::Jsonl),
    (".ndjson.gz", Format::Jsonl),
    (".ndjson.zst", Format::Jsonl),
    (".txt", Format::Text),
    (".arrow", Format::Arrow),
    (".feather", Format::Arrow),
    (".parquet", Format::Parquet),
];

/// The UTF-8 byte order mark some editors write at the start of a file: not part of the
/// first record's text, so it is skipped (a JSON parser would reject the line otherwise).
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

pub(crate) fn format_of(path: &Path) -> Result<Format> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    INPUT_SUFFIXES
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|&(_, format)| format)
        .ok_or_else(|| {
            let expected: Vec<&str> = INPUT_SUFFIXES.iter().map(|(suffix, _)| *suffix).collect();
            Error::invalid_option(
                "inputs",
                format!(
                    "{}: unsupported input (expected {})",
                    path.display(),
                    expected.join(", ")
                ),
            )
        })
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
    /// What each JSONL record is.
    pub format: RecordFormat,
    pub bytes: ChunkBytes,
    pub start: usize,
}

/// Where a chunk's bytes are: in a buffer they were read into, or in the mapped file.
pub(crate) enum ChunkBytes {
    Read(Vec<u8>),
    Mapped(MappedRange),
}

impl ChunkBytes {
    /// The buffer, to be reused, if the bytes were read into one.
    pub fn into_buffer(self) -> Option<Vec<u8>> {
        match self {
            ChunkBytes::Read(buffer) => Some(buffer),
            ChunkBytes::Mapped(_) => None,
        }
    }
}

impl Deref for ChunkBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Read(buffer) => buffer,
            ChunkBytes::Mapped(range) => &range.map[range.start..range.end],
        }
    }
}

/// A range of a mapped file. Once dropped, its pages are unmapped (they stay in the page
/// cache): a mapping would otherwise keep every page it touched resident, and a run's
/// memory would grow with the corpus.
pub(crate) struct MappedRange {
    map: Arc<memmap2::Mmap>,
    start: usize,
    end: usize,
}

impl Drop for MappedRange {
    fn drop(&mut self) {
        release_pages(&self.map, self.start, self.end);
    }
}

/// Unmaps the pages from the one holding `start` to the one before the page holding `end`
/// (the next range reads that one), or to the end of the file for the last range.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn release_pages(map: &memmap2::Mmap, start: usize, end: usize) {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let end = if end == map.len() {
        end
    } else {
        end - end % page.max(1)
    };
    if end > start {
        // SAFETY: the mapping is a private, read-only view of a file: dropping its pages
        // only makes the next access read them from the page cache again, the same bytes.
        // Failing to drop them changes nothing either.
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        };
    }
}

#[cfg(not(target_os = "linux"))]
fn release_pages(_map: &memmap2::Mmap, _start: usize, _end: usize) {}

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
    /// A structured record (from Arrow), as the JSON object it would be in JSONL.
    Json {
        format: RecordFormat,
        value: serde_json::Value,
    },
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
            // A first guess of a record's size, to end batches: it is never measured.
            Payload::Json { .. } => 1024,
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

/// Opens the part `range` of `path`, whose records are `record_format`, for reading, its
/// first record being number `first_line`; records up to and including line `skip_through`
/// are skipped (a resumed run continues after its last complete shard).
#[allow(clippy::too_many_arguments)]
pub(crate) fn open(
    source: u32,
    path: &Path,
    range: &SplitRange,
    first_line: u64,
    lines: bool,
    text_field: &str,
    record_format: RecordFormat,
    read: Arc<AtomicU64>,
    skip_through: u64,
) -> Result<Opened> {
    let format = format_of(path)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let raw = Counting { inner: file, read };
    let name = path.to_string_lossy();
    let line_wise = |from, json| {
        let mut chunks = LineChunks::new(source, path, from, json, record_format, skip_through);
        chunks.next_line = first_line;
        Opened::Lines(chunks)
    };
    let columns = match record_format {
        RecordFormat::Text => Columns::Text(text_field.to_owned()),
        structured => Columns::Record(structured),
    };
    let streamed = |reader| LineSource::Stream(Stream::new(reader));
    let kind = match format {
        Format::Jsonl => {
            let from = if name.ends_with(".gz") {
                streamed(Box::new(flate2::read::MultiGzDecoder::new(raw)))
            } else if name.ends_with(".zst") {
                streamed(Box::new(
                    zstd::stream::read::Decoder::new(raw).map_err(|e| Error::io(path, e))?,
                ))
            } else {
                mapped_range(raw, range, path)?
            };
            return Ok(line_wise(from, true));
        }
        Format::Text if lines => return Ok(line_wise(mapped_range(raw, range, path)?, false)),
        Format::Text => {
            let mut bytes = Vec::new();
            BufReader::new(raw)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io(path, e))?;
            if bytes.starts_with(BYTE_ORDER_MARK) {
                bytes.drain(..BYTE_ORDER_MARK.len());
            }
            Kind::Whole(Some(bytes))
        }
        Format::Arrow => Kind::Rows {
            batches: super::arrow_input::arrow_batches(path, raw, &columns)?,
            current: Vec::new().into_iter(),
        },
        Format::Parquet => {
            // Parquet reads by seeking to column chunks; progress counts the file as read
            // when it is opened.
            let size = raw.inner.metadata().map_or(0, |m| m.len());
            raw.read.fetch_add(size, Ordering::Relaxed);
            Kind::Rows {
                batches: super::arrow_input::parquet_batches(
                    path,
                    raw.inner,
                    &columns,
                    match range {
                        SplitRange::RowGroups { start, end, .. } => Some(*start..*end),
                        _ => None,
                    },
                )?,
                current: Vec::new().into_iter(),
            }
        }
    };
    let mut records = FileRecords {
        source,
        kind,
        next_line: first_line,
    };
    while records.next_line <= skip_through {
        if records.next_record()?.is_none() {
            break;
        }
    }
    Ok(Opened::Records(records))
}

/// The lines of `range` of the file: mapped; a whole file that cannot be mapped (a pipe, an
/// empty file) is read as a stream.
fn mapped_range(raw: Counting<File>, range: &SplitRange, path: &Path) -> Result<LineSource> {
    let from = mapped_or_streamed(raw);
    match (range, from) {
        (SplitRange::Bytes { start, end }, LineSource::Mapped(mut mapped)) => {
            let owned = super::split::owned_lines(&mapped.map, *start, *end);
            (mapped.at, mapped.end) = (owned.start, owned.end);
            Ok(LineSource::Mapped(mapped))
        }
        (SplitRange::Bytes { .. }, LineSource::Stream(_)) => Err(Error::Format {
            path: path.display().to_string(),
            message: "changed since the run was planned (it can no longer be mapped)".into(),
        }),
        (_, from) => Ok(from),
    }
}

/// The file mapped, or read as a stream where it cannot be (a pipe, an empty file).
fn mapped_or_streamed(raw: Counting<File>) -> LineSource {
    let regular = raw
        .inner
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > 0);
    // SAFETY: the mapping is read-only and private. Changing or truncating an input file
    // while it is being preprocessed is not supported (a resumed run would not match
    // either); reading it with read() would give a mix of old and new bytes, the mapping
    // gives the same or, for a truncated file, stops the process with SIGBUS.
    #[allow(unsafe_code)]
    let map = regular
        .then(|| unsafe { memmap2::Mmap::map(&raw.inner) }.ok())
        .flatten();
    match map {
        Some(map) => {
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            LineSource::Mapped(Mapped {
                end: map.len(),
                map: Arc::new(map),
                at: 0,
                read: raw.read,
            })
        }
        None => LineSource::Stream(Stream::new(Box::new(raw))),
    }
}

/// A line-wise file, handed on as chunks of whole lines.
pub(crate) struct LineChunks {
    source: u32,
    path: PathBuf,
    from: LineSource,
    json: bool,
    format: RecordFormat,
    next_line: u64,
    skip_through: u64,
}

enum LineSource {
    Stream(Stream),
    Mapped(Mapped),
}

/// Lines read (and perhaps decompressed) into buffers.
struct Stream {
    reader: Box<dyn Read + Send>,
    /// The start of a line that the last chunk did not hold whole.
    carry: Vec<u8>,
    at_end: bool,
}

/// Lines of a mapped file.
struct Mapped {
    map: Arc<memmap2::Mmap>,
    /// Where the next chunk starts.
    at: usize,
    /// Where the lines read end (the end of a split's lines).
    end: usize,
    read: Arc<AtomicU64>,
}

impl LineChunks {
    fn new(
        source: u32,
        path: &Path,
        from: LineSource,
        json: bool,
        format: RecordFormat,
        skip_through: u64,
    ) -> Self {
        LineChunks {
            source,
            path: path.to_path_buf(),
            from,
            json,
            format,
            next_line: 1,
            skip_through,
        }
    }

    /// The number of the first line not yet handed on.
    pub fn next_line(&self) -> u64 {
        self.next_line
    }

    /// The next chunk: whole lines, at least `max_bytes` of them where the file has as many,
    /// but no more than `max_lines` lines; `None` at the end of the file. A streamed file is
    /// read into a buffer from `buffers`.
    pub fn next_chunk(
        &mut self,
        buffers: &Recycler<u8>,
        max_bytes: usize,
        max_lines: usize,
    ) -> Result<Option<Lines>> {
        loop {
            let next = match &mut self.from {
                LineSource::Stream(stream) => {
                    stream.next(buffers.take(), max_bytes, max_lines, &self.path)?
                }
                LineSource::Mapped(mapped) => mapped.next(max_bytes, max_lines),
            };
            let Some((bytes, lines)) = next else {
                return Ok(None);
            };
            let first_line = self.next_line;
            self.next_line += lines as u64;
            let mut chunk = Lines {
                source: self.source,
                first_line,
                json: self.json,
                format: self.format,
                bytes,
                start: 0,
            };
            if self.next_line <= self.skip_through + 1 {
                // Every line of this chunk is done already.
                if let Some(buffer) = chunk.bytes.into_buffer() {
                    buffers.give(buffer);
                }
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
            if chunk.first_line == 1 && chunk.bytes.starts_with(BYTE_ORDER_MARK) {
                chunk.start = BYTE_ORDER_MARK.len();
            }
            return Ok(Some(chunk));
        }
    }
}

impl Stream {
    fn new(reader: Box<dyn Read + Send>) -> Self {
        Stream {
            reader,
            carry: Vec::new(),
            at_end: false,
        }
    }

    /// The next chunk's bytes, read into `buffer`, and its number of lines.
    fn next(
        &mut self,
        mut buffer: Vec<u8>,
        max_bytes: usize,
        max_lines: usize,
        path: &Path,
    ) -> Result<Option<(ChunkBytes, usize)>> {
        buffer.clear();
        buffer.append(&mut self.carry);
        // Lines are searched for from here on: what came before holds none.
        let mut searched = 0;
        let (cut, lines) = loop {
            if buffer.len() < max_bytes && !self.at_end {
                self.fill(&mut buffer, max_bytes, path)?;
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
                    self.fill(&mut buffer, searched + max_bytes, path)?;
                }
            }
        };
        if lines == 0 {
            return Ok(None);
        }
        self.carry.extend_from_slice(&buffer[cut..]);
        buffer.truncate(cut);
        Ok(Some((ChunkBytes::Read(buffer), lines)))
    }

    /// Reads until `buffer` holds `len` bytes or the file ends.
    fn fill(&mut self, buffer: &mut Vec<u8>, len: usize, path: &Path) -> Result<()> {
        let want = len.saturating_sub(buffer.len());
        let got = (&mut self.reader)
            .take(want as u64)
            .read_to_end(buffer)
            .map_err(|e| Error::io(path, e))?;
        if got < want {
            self.at_end = true;
        }
        Ok(())
    }
}

impl Mapped {
    /// The next chunk's range, cut where a stream would be, and its number of lines.
    fn next(&mut self, max_bytes: usize, max_lines: usize) -> Option<(ChunkBytes, usize)> {
        let rest = &self.map[self.at..self.end];
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..rest.len().min(max_bytes)];
        let (end, lines) = whole_lines(window, max_lines, max_bytes).unwrap_or_else(|| {
            // No line ends in the window: the file's last line, or a line longer than it.
            match memchr::memchr(b'\n', &rest[window.len()..]) {
                Some(at) => (window.len() + at + 1, 1),
                None => (rest.len(), 1),
            }
        });
        let start = self.at;
        self.at += end;
        self.read.fetch_add(end as u64, Ordering::Relaxed);
        let range = MappedRange {
            map: self.map.clone(),
            start,
            end: self.at,
        };
        Some((ChunkBytes::Mapped(range), lines))
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
        batches: RowBatches,
        current: std::vec::IntoIter<Payload>,
    },
    Done,
}

impl FileRecords {
    /// The number of the next record.
    pub fn next_line(&self) -> u64 {
        self.next_line
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let line = self.next_line;
        let payload = match &mut self.kind {
            Kind::Whole(bytes) => match bytes.take() {
                Some(bytes) => Payload::Text(bytes),
                None => return Ok(None),
            },
            Kind::Rows { batches, current } => match next_row(batches, current)? {
                Some(payload) => payload,
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
    batches: &mut RowBatches,
    current: &mut std::vec::IntoIter<Payload>,
) -> Result<Option<Payload>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::tests::temp_dir;
    use proptest::prelude::*;

    #[test]
    fn formats_come_from_the_suffix_table_alone() {
        let format = |name: &str| format_of(Path::new("corpus").join(name).as_path());
        assert_eq!(format("a.ndjson.zst").unwrap(), Format::Jsonl);
        assert_eq!(format("a.jsonl.gz").unwrap(), Format::Jsonl);
        assert_eq!(format("a.feather").unwrap(), Format::Arrow);
        assert_eq!(format("a.txt").unwrap(), Format::Text);
        assert_eq!(format("a.parquet").unwrap(), Format::Parquet);
        for name in ["a.txt.gz", "a.csv", "jsonl", "a.jsonl.bz2"] {
            let message = format(name).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
            assert!(
                message.contains(".ndjson.zst, .txt, .arrow, .feather"),
                "{message}"
            );
        }
    }

    /// Every chunk of `bytes`, as (first line, bytes), through a mapping when `mapped`.
    fn chunks(
        path: &Path,
        mapped: bool,
        max_bytes: usize,
        max_lines: usize,
        skip_through: u64,
    ) -> Vec<(u64, Vec<u8>)> {
        let read = Arc::new(AtomicU64::new(0));
        let raw = Counting {
            inner: File::open(path).unwrap(),
            read: read.clone(),
        };
        let from = if mapped {
            mapped_or_streamed(raw)
        } else {
            LineSource::Stream(Stream::new(Box::new(raw)))
        };
        assert_eq!(
            matches!(from, LineSource::Mapped(_)),
            mapped && std::fs::metadata(path).unwrap().len() > 0
        );
        let mut lines = LineChunks::new(0, path, from, true, RecordFormat::Text, skip_through);
        let buffers = Recycler::new(usize::MAX);
        let mut out = Vec::new();
        while let Some(chunk) = lines.next_chunk(&buffers, max_bytes, max_lines).unwrap() {
            // Each chunk is dropped (its pages released) before the next is read.
            out.push((chunk.first_line, chunk.bytes[chunk.start..].to_vec()));
        }
        assert_eq!(
            read.load(Ordering::Relaxed),
            std::fs::metadata(path).unwrap().len()
        );
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// A mapped file is cut into the same chunks as a streamed one: long lines, a last
        /// line without a line end, blank lines, CRLF, and resuming after any line.
        #[test]
        fn a_mapped_file_gives_the_chunks_of_a_stream(
            lines in prop::collection::vec("[a-z]{0,40}(\r)?", 0..60),
            last_line_end in any::<bool>(),
            max_bytes in 1usize..64,
            max_lines in 1usize..8,
            skip_through in 0u64..70,
        ) {
            let mut text = lines.join("\n");
            if last_line_end && !text.is_empty() {
                text.push('\n');
            }
            let path = temp_dir("chunks").join("lines.jsonl");
            std::fs::write(&path, &text).unwrap();
            let streamed = chunks(&path, false, max_bytes, max_lines, skip_through);
            let mapped = chunks(&path, true, max_bytes, max_lines, skip_through);
            prop_assert_eq!(&mapped, &streamed);
            // Nothing lost or repeated: the chunks are the text after the skipped lines.
            let joined: Vec<u8> = streamed.iter().flat_map(|(_, b)| b.clone()).collect();
            let kept: usize = text
                .split_inclusive('\n')
                .skip(skip_through as usize)
                .map(str::len)
                .sum();
            prop_assert_eq!(joined.len(), kept);
            prop_assert!(text.as_bytes().ends_with(&joined));
        }
    }

    #[test]
    fn a_line_longer_than_a_chunk_is_one_chunk() {
        let path = temp_dir("long-line").join("long.jsonl");
        let long = "y".repeat(10_000);
        std::fs::write(&path, format!("ab\n{long}\ncd\n{long}")).unwrap();
        let got = chunks(&path, true, 100, 10, 0);
        let want: Vec<(u64, Vec<u8>)> = vec![
            (1, b"ab\n".to_vec()),
            (2, format!("{long}\n").into_bytes()),
            (3, b"cd\n".to_vec()),
            (4, long.into_bytes()),
        ];
        assert_eq!(got, want);
    }

    /// A pipe cannot be mapped: it is read as a stream.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_is_streamed() {
        let path = temp_dir("pipe").join("pipe.jsonl");
        let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid, NUL-terminated path.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
        assert_eq!(made, 0);
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || std::fs::write(path, b"one\ntwo\nthree\n").unwrap())
        };
        let read = Arc::new(AtomicU64::new(0));
        let raw = Counting {
            inner: File::open(&path).unwrap(),
            read,
        };
        let from = mapped_or_streamed(raw);
        assert!(matches!(from, LineSource::Stream(_)));
        let mut lines = LineChunks::new(0, &path, from, true, RecordFormat::Text, 1);
        let chunk = lines
            .next_chunk(&Recycler::new(usize::MAX), 1 << 20, 100)
            .unwrap()
            .unwrap();
        writer.join().unwrap();
        assert_eq!(
            (chunk.first_line, &chunk.bytes[chunk.start..]),
            (2, &b"two\nthree\n"[..])
        );
    }
}

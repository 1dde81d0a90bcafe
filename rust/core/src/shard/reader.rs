//! Reading shards in place. Each file is memory-mapped and its Arrow IPC record batches are
//! decoded over the mapping, so a document's tokens are a slice of the page cache: opening a
//! dataset copies no token, and a loader's memory does not grow with the dataset.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowPrimitiveType, UInt8Type, UInt32Type};
use arrow_array::{
    Array, GenericListArray, LargeListArray, ListArray, OffsetSizeTrait, RecordBatch,
};
use arrow_buffer::Buffer;
use arrow_ipc::convert::fb_to_schema;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_ipc::root_as_footer;

use crate::{Error, Result, contained};

/// The documents of a dataset (or of a packed dataset's rows), in dataset order, across all
/// of its shards. Every array it hands out was validated when its shard was read: offsets
/// rise within the values buffer, the `length` column equals the offsets' differences, and
/// no column holds nulls, so no row can be read out of bounds or as a wrong slice.
#[derive(Debug)]
pub struct TokenStore {
    chunks: Vec<Chunk>,
    /// `row_starts[c]` is the index of chunk `c`'s first row; one more entry at the end.
    row_starts: Vec<u64>,
}

/// The validated record batches of one shard file.
#[derive(Debug)]
pub(crate) struct Shard {
    pub path: PathBuf,
    pub rows: u64,
    pub tokens: u64,
    chunks: Vec<Chunk>,
}

/// One record batch of one shard.
#[derive(Debug)]
struct Chunk {
    batch: RecordBatch,
    input_ids: LargeListArray,
    /// Per-row document lengths of a packed dataset, when the shard has that column.
    seq_lengths: Option<ListArray>,
    /// Per-token loss masks (1: trained on), when the shard has that column; validated to
    /// have the offsets of `input_ids`.
    loss_mask: Option<LargeListArray>,
}

impl TokenStore {
    /// Maps the given shard files, in order, checking each as [`Shard::read`] does but
    /// against no manifest (a dataset is opened with [`super::Dataset::open`]).
    #[cfg(test)]
    pub(crate) fn open(paths: &[PathBuf]) -> Result<Self> {
        let shards = paths
            .iter()
            .map(|path| Shard::read(path, open_regular(path)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_shards(shards))
    }

    pub(crate) fn from_shards(shards: Vec<Shard>) -> Self {
        let chunks: Vec<Chunk> = shards.into_iter().flat_map(|shard| shard.chunks).collect();
        let mut row_starts = Vec::with_capacity(chunks.len() + 1);
        let mut rows = 0u64;
        row_starts.push(0);
        for chunk in &chunks {
            rows += chunk.input_ids.len() as u64;
            row_starts.push(rows);
        }
        TokenStore { chunks, row_starts }
    }

    /// Number of rows (documents, or packed rows).
    pub fn len(&self) -> u64 {
        *self.row_starts.last().unwrap_or(&0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tokens of row `row`, borrowed from the mapping.
    pub fn tokens(&self, row: u64) -> Result<&[u32]> {
        let (chunk, local) = self.locate(row)?;
        Ok(list_row(&chunk.input_ids, local))
    }

    /// The document lengths inside packed row `row`, or `None` when the shards have no
    /// `seq_lengths` column (a dataset of one document per row).
    pub fn seq_lengths(&self, row: u64) -> Result<Option<&[u32]>> {
        let (chunk, local) = self.locate(row)?;
        Ok(chunk.seq_lengths.as_ref().map(|list| list_row(list, local)))
    }

    /// The loss mask of row `row` (one byte per token, nonzero where trained on), or `None`
    /// when the shards have no `loss_mask` column (every token is trained on).
    pub fn loss_mask(&self, row: u64) -> Result<Option<&[u8]>> {
        let (chunk, local) = self.locate(row)?;
        Ok(chunk.loss_mask.as_ref().map(|list| {
            let offsets = list.value_offsets();
            let values = list.values().as_primitive::<UInt8Type>().values();
            &values[offsets[local] as usize..offsets[local + 1] as usize]
        }))
    }

    /// Whether the rows have loss masks.
    pub fn has_loss_mask(&self) -> bool {
        self.chunks.iter().any(|chunk| chunk.loss_mask.is_some())
    }

    /// Tokens per row, in order.
    pub fn lengths(&self) -> Vec<i64> {
        let mut lengths = Vec::with_capacity(self.len() as usize);
        for chunk in &self.chunks {
            let offsets = chunk.input_ids.value_offsets();
            lengths.extend(offsets.windows(2).map(|w| w[1] - w[0]));
        }
        lengths
    }

    /// The record batches of every shard, in order, as validated (for export without a
    /// copy: their buffers borrow the mappings).
    pub fn record_batches(&self) -> impl Iterator<Item = &RecordBatch> {
        self.chunks.iter().map(|chunk| &chunk.batch)
    }

    fn locate(&self, row: u64) -> Result<(&Chunk, usize)> {
        if row >= self.len() {
            return Err(Error::invalid_option(
                "row",
                format!("{row} is out of range for a dataset of {} rows", self.len()),
            ));
        }
        let chunk = self.row_starts.partition_point(|&start| start <= row) - 1;
        Ok((&self.chunks[chunk], (row - self.row_starts[chunk]) as usize))
    }
}

/// Row `row` of a validated list of `uint32`.
fn list_row<O: OffsetSizeTrait>(list: &GenericListArray<O>, row: usize) -> &[u32] {
    let offsets = list.value_offsets();
    let values = list.values().as_primitive::<UInt32Type>().values();
    &values[offsets[row].as_usize()..offsets[row + 1].as_usize()]
}

impl Shard {
    /// Decodes the shard `file` (opened from `path`, which names it in errors) over a
    /// memory mapping and validates every record batch.
    pub(crate) fn read(path: &Path, file: File) -> Result<Self> {
        let mut chunks = Vec::new();
        let (mut rows, mut tokens) = (0u64, 0u64);
        for (index, batch) in read_batches(path, &file)?.into_iter().enumerate() {
            let chunk = Chunk::from_batch(path, index, batch)?;
            let offsets = chunk.input_ids.value_offsets();
            rows += chunk.input_ids.len() as u64;
            tokens += (offsets[offsets.len() - 1] - offsets[0]) as u64;
            chunks.push(chunk);
        }
        Ok(Shard {
            path: path.to_path_buf(),
            rows,
            tokens,
            chunks,
        })
    }

    /// The fields of the shard's record batches (one schema per file), if it has any.
    pub(crate) fn fields(&self) -> Option<&arrow_schema::Fields> {
        self.chunks
            .first()
            .map(|chunk| chunk.batch.schema_ref().fields())
    }

    /// Checks that every token id is below `vocab_size`, naming the first that is not.
    pub(crate) fn check_token_ids(&self, vocab_size: u64) -> Result<()> {
        let mut row = 0u64;
        for chunk in &self.chunks {
            // One branch-free pass over the chunk's tokens (it vectorises); rows are searched
            // only to name the bad one.
            let offsets = chunk.input_ids.value_offsets();
            let values = chunk
                .input_ids
                .values()
                .as_primitive::<UInt32Type>()
                .values();
            let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
            let largest = values[first..last].iter().copied().max().unwrap_or(0);
            if u64::from(largest) < vocab_size {
                row += chunk.input_ids.len() as u64;
                continue;
            }
            for local in 0..chunk.input_ids.len() {
                let tokens = list_row(&chunk.input_ids, local);
                if let Some(position) = tokens.iter().position(|&t| u64::from(t) >= vocab_size) {
                    return Err(Error::Format {
                        path: self.path.display().to_string(),
                        message: format!(
                            "row {row}, token {position}: id {} is not below the manifest's vocab_size {vocab_size}",
                            tokens[position]
                        ),
                    });
                }
                row += 1;
            }
        }
        Ok(())
    }
}

impl Chunk {
    fn from_batch(path: &Path, index: usize, batch: RecordBatch) -> Result<Self> {
        let bad = |message: String| Error::Format {
            path: path.display().to_string(),
            message: format!("record batch {index}: {message}"),
        };
        let input_ids = batch
            .column_by_name("input_ids")
            .ok_or_else(|| bad("no input_ids column".into()))?
            .as_list_opt::<i64>()
            .filter(|list| list.values().as_primitive_opt::<UInt32Type>().is_some())
            .ok_or_else(|| bad("input_ids is not a large_list<uint32> column".into()))?
            .clone();
        if input_ids.null_count() > 0 || input_ids.values().null_count() > 0 {
            return Err(bad("input_ids has null values".into()));
        }
        check_offsets(input_ids.value_offsets(), input_ids.values().len())
            .map_err(|m| bad(format!("input_ids {m}")))?;
        let lengths = batch
            .column_by_name("length")
            .ok_or_else(|| bad("no length column".into()))?
            .as_primitive_opt::<UInt32Type>()
            .filter(|lengths| lengths.null_count() == 0)
            .ok_or_else(|| bad("length is not a uint32 column without nulls".into()))?;
        let offsets = input_ids.value_offsets();
        for (row, (&length, w)) in lengths.values().iter().zip(offsets.windows(2)).enumerate() {
            if i64::from(length) != w[1] - w[0] {
                return Err(bad(format!(
                    "row {row}: length {length}, but input_ids holds {} tokens",
                    w[1] - w[0]
                )));
            }
        }
        let seq_lengths =
            optional_list::<i32, UInt32Type>(&batch, "seq_lengths", "list<uint32>", &bad)?;
        if let Some(list) = &seq_lengths {
            check_offsets(list.value_offsets(), list.values().len())
                .map_err(|m| bad(format!("seq_lengths {m}")))?;
            for row in 0..list.len() {
                let inside: u64 = list_row(list, row).iter().map(|&n| u64::from(n)).sum();
                if inside > u64::from(lengths.value(row)) {
                    return Err(bad(format!(
                        "row {row}: seq_lengths add up to {inside}, more than the row's {} tokens",
                        lengths.value(row)
                    )));
                }
            }
        }
        let loss_mask =
            optional_list::<i64, UInt8Type>(&batch, "loss_mask", "large_list<uint8>", &bad)?;
        if let Some(list) = &loss_mask {
            let (mask_offsets, token_offsets) = (list.value_offsets(), input_ids.value_offsets());
            let rows_differ = mask_offsets
                .windows(2)
                .zip(token_offsets.windows(2))
                .position(|(m, t)| m[1] - m[0] != t[1] - t[0]);
            if let Some(row) = rows_differ {
                return Err(bad(format!(
                    "row {row}: loss_mask is not as long as input_ids"
                )));
            }
            check_offsets(mask_offsets, list.values().len())
                .map_err(|m| bad(format!("loss_mask {m}")))?;
        }
        Ok(Chunk {
            batch,
            input_ids,
            seq_lengths,
            loss_mask,
        })
    }
}

/// The column `name` of `batch`, if it has one, as a list (of type `what`) of `T` values
/// without nulls.
fn optional_list<O: OffsetSizeTrait, T: ArrowPrimitiveType>(
    batch: &RecordBatch,
    name: &str,
    what: &str,
    bad: impl Fn(String) -> Error,
) -> Result<Option<GenericListArray<O>>> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(None);
    };
    column
        .as_list_opt::<O>()
        .filter(|list| list.values().as_primitive_opt::<T>().is_some())
        .filter(|list| list.null_count() == 0 && list.values().null_count() == 0)
        .cloned()
        .map(Some)
        .ok_or_else(|| bad(format!("{name} is not a {what} column without nulls")))
}

/// Offsets that are not negative, never fall, and end within the values.
fn check_offsets<O: OffsetSizeTrait>(
    offsets: &[O],
    values: usize,
) -> std::result::Result<(), String> {
    let mut previous = 0usize;
    for (i, offset) in offsets.iter().enumerate() {
        let offset = offset
            .to_usize()
            .ok_or_else(|| format!("offset {i} is negative"))?;
        if i > 0 && offset < previous {
            return Err(format!("offsets fall at row {}", i - 1));
        }
        previous = offset;
    }
    if previous > values {
        return Err(format!(
            "offsets end at {previous}, beyond the {values} values"
        ));
    }
    Ok(())
}

/// Decodes every record batch of an Arrow IPC file over a memory mapping of it. The Arrow
/// decoder validates each array; a file crafted to reach one of its internal assertions
/// makes it panic, which is contained and reported as the corrupt file it is.
fn read_batches(path: &Path, file: &File) -> Result<Vec<RecordBatch>> {
    let buffer = map_file(path, file)?;
    contained::contain(|| decode_batches(path, &buffer)).unwrap_or_else(|| {
        Err(Error::Format {
            path: path.display().to_string(),
            message: "not a readable Arrow file (its metadata is inconsistent)".into(),
        })
    })
}

fn decode_batches(path: &Path, buffer: &Buffer) -> Result<Vec<RecordBatch>> {
    let format = |message: String| Error::Format {
        path: path.display().to_string(),
        message,
    };
    let arrow = |e: arrow_schema::ArrowError| format(format!("not a readable Arrow file ({e})"));
    if buffer.len() < 10 {
        return Err(format(format!(
            "{} bytes: too short for an Arrow file",
            buffer.len()
        )));
    }
    let trailer_start = buffer.len() - 10;
    let trailer: [u8; 10] = buffer[trailer_start..].try_into().expect("ten bytes");
    let footer_len = read_footer_length(trailer).map_err(arrow)?;
    if footer_len > trailer_start {
        return Err(format("the Arrow footer is longer than the file".into()));
    }
    let footer = root_as_footer(&buffer[trailer_start - footer_len..trailer_start])
        .map_err(|e| format(format!("not a readable Arrow footer ({e})")))?;
    let schema = footer
        .schema()
        .ok_or_else(|| format("the Arrow footer has no schema".into()))?;
    let decoder = FileDecoder::new(Arc::new(fb_to_schema(schema)), footer.version());
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        let bad_block = || format("a record batch has a negative offset or length".into());
        let start = usize::try_from(block.offset()).map_err(|_| bad_block())?;
        let body = usize::try_from(block.bodyLength()).map_err(|_| bad_block())?;
        let meta = usize::try_from(block.metaDataLength()).map_err(|_| bad_block())?;
        let len = body.checked_add(meta).ok_or_else(bad_block)?;
        if start.checked_add(len).is_none_or(|end| end > buffer.len()) {
            return Err(format(
                "a record batch lies beyond the end of the file".into(),
            ));
        }
        let data = buffer.slice_with_length(start, len);
        if let Some(batch) = decoder.read_record_batch(block, &data).map_err(arrow)? {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// Opens `path` for reading if it is a regular file (following symbolic links), and refuses
/// devices, FIFOs, sockets and directories without blocking on them.
pub(crate) fn open_regular(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading would wait for a writer.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let metadata = file.metadata().map_err(|e| Error::io(path, e))?;
    if !metadata.is_file() {
        return Err(Error::Format {
            path: path.display().to_string(),
            message: "not a regular file".into(),
        });
    }
    Ok(file)
}

/// The whole file as an Arrow buffer that borrows a read-only memory mapping.
#[allow(unsafe_code)]
fn map_file(path: &Path, file: &File) -> Result<Buffer> {
    // SAFETY: a mapping is undefined behaviour only if the file is changed underneath it.
    // Shards are never modified in place: writers create a temporary file and rename it over
    // the old name, which leaves the mapped inode untouched.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| Error::io(path, e))?;
    Ok(Buffer::from(bytes::Bytes::from_owner(map)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::{Row, write_shard};

    fn rows(lengths: &[usize], first: u32) -> Vec<Row> {
        let mut next = first;
        lengths
            .iter()
            .map(|&n| Row {
                tokens: (0..n)
                    .map(|_| {
                        next += 1;
                        next
                    })
                    .collect(),
                source: 0,
                line: 1,
                loss_mask: None,
            })
            .collect()
    }

    #[test]
    fn reads_tokens_across_shards_in_order() {
        let dir = std::env::temp_dir().join(format!("seqpack-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sources = vec!["a.jsonl".to_string()];
        let first = rows(&[3, 1, 4], 0);
        let second = rows(&[2, 5], 100);
        write_shard(&dir, 0, 0, &first, &sources).unwrap();
        write_shard(&dir, 1, 3, &second, &sources).unwrap();
        let paths = [0, 1].map(|i| dir.join(crate::shard::shard_file_name(i)));
        let store = TokenStore::open(&paths).unwrap();
        assert_eq!(store.len(), 5);
        assert_eq!(store.lengths(), vec![3, 1, 4, 2, 5]);
        for (i, row) in first.iter().chain(&second).enumerate() {
            assert_eq!(store.tokens(i as u64).unwrap(), row.tokens.as_slice());
            assert_eq!(store.seq_lengths(i as u64).unwrap(), None);
        }
        assert!(store.tokens(5).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_files_that_are_not_arrow() {
        let dir = std::env::temp_dir().join(format!("seqpack-reader-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("shard-00000.arrow");
        std::fs::write(&path, b"definitely not an arrow file").unwrap();
        let error = TokenStore::open(std::slice::from_ref(&path)).unwrap_err();
        assert!(matches!(error, Error::Format { .. }), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Reading shards in place. Each file is memory-mapped and its Arrow IPC record batches are
//! decoded over the mapping, so a document's tokens are a slice of the page cache: opening a
//! dataset copies no token, and a loader's memory does not grow with the dataset.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, LargeListArray, ListArray, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::convert::fb_to_schema;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_ipc::root_as_footer;

use crate::{Error, Result};

/// The documents of a dataset (or of a packed dataset's rows), in dataset order, across all
/// of its shards.
#[derive(Debug)]
pub struct TokenStore {
    chunks: Vec<Chunk>,
    /// `row_starts[c]` is the index of chunk `c`'s first row; one more entry at the end.
    row_starts: Vec<u64>,
}

/// One record batch of one shard.
#[derive(Debug)]
struct Chunk {
    input_ids: LargeListArray,
    /// Per-row document lengths of a packed dataset, when the shard has that column.
    seq_lengths: Option<ListArray>,
}

impl TokenStore {
    /// Maps the given shard files, in order.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut chunks = Vec::new();
        for path in paths {
            for batch in read_batches(path)? {
                chunks.push(Chunk::from_batch(path, &batch)?);
            }
        }
        let mut row_starts = Vec::with_capacity(chunks.len() + 1);
        let mut rows = 0u64;
        row_starts.push(0);
        for chunk in &chunks {
            rows += chunk.input_ids.len() as u64;
            row_starts.push(rows);
        }
        Ok(TokenStore { chunks, row_starts })
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
        let offsets = chunk.input_ids.value_offsets();
        let values = chunk
            .input_ids
            .values()
            .as_primitive::<UInt32Type>()
            .values();
        Ok(&values[offsets[local] as usize..offsets[local + 1] as usize])
    }

    /// The document lengths inside packed row `row`, or `None` when the shards have no
    /// `seq_lengths` column (a dataset of one document per row).
    pub fn seq_lengths(&self, row: u64) -> Result<Option<&[u32]>> {
        let (chunk, local) = self.locate(row)?;
        Ok(chunk.seq_lengths.as_ref().map(|list| {
            let offsets = list.value_offsets();
            let values = list.values().as_primitive::<UInt32Type>().values();
            &values[offsets[local] as usize..offsets[local + 1] as usize]
        }))
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

impl Chunk {
    fn from_batch(path: &Path, batch: &RecordBatch) -> Result<Self> {
        let format = |message: String| Error::Format {
            path: path.display().to_string(),
            message,
        };
        let input_ids = batch
            .column_by_name("input_ids")
            .ok_or_else(|| format("no input_ids column".into()))?
            .as_list_opt::<i64>()
            .filter(|list| list.values().as_primitive_opt::<UInt32Type>().is_some())
            .ok_or_else(|| format("input_ids is not a large_list<uint32> column".into()))?
            .clone();
        let seq_lengths = match batch.column_by_name("seq_lengths") {
            None => None,
            Some(column) => Some(
                column
                    .as_list_opt::<i32>()
                    .filter(|list| list.values().as_primitive_opt::<UInt32Type>().is_some())
                    .ok_or_else(|| format("seq_lengths is not a list<uint32> column".into()))?
                    .clone(),
            ),
        };
        if input_ids.null_count() > 0 || input_ids.values().null_count() > 0 {
            return Err(format("input_ids has null values".into()));
        }
        Ok(Chunk {
            input_ids,
            seq_lengths,
        })
    }
}

/// Decodes every record batch of an Arrow IPC file over a memory mapping of it.
fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let format = |message: String| Error::Format {
        path: path.display().to_string(),
        message,
    };
    let buffer = map_file(path)?;
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

/// The whole file as an Arrow buffer that borrows a read-only memory mapping.
#[allow(unsafe_code)]
fn map_file(path: &Path) -> Result<Buffer> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: a mapping is undefined behaviour only if the file is changed underneath it.
    // Shards are never modified in place: writers create a temporary file and rename it over
    // the old name, which leaves the mapped inode untouched.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
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

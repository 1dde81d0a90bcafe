//! Shard checksums: xxh3-64 over the file's bytes, written as `xxh3:<16 hex digits>`. Fast
//! enough (tens of GB/s) to verify every shard when a dataset is opened.

use std::io::{Read, Write};
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use crate::{Error, Result};

pub(crate) fn format(hash: u64) -> String {
    format!("xxh3:{hash:016x}")
}

/// The checksum of a whole file.
pub fn checksum_file(path: &Path) -> Result<String> {
    let mut file = super::reader::open_regular(path)?;
    checksum_of(path, &mut file)
}

/// The checksum of what is left to read of `file` (opened from `path`).
pub(crate) fn checksum_of(path: &Path, file: &mut std::fs::File) -> Result<String> {
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(format(hasher.digest()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// A writer that hashes and counts what passes through it, so a shard's checksum and size
/// come from the one write instead of a second read.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Xxh3,
    pub bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Xxh3::new(),
            bytes: 0,
        }
    }

    pub fn digest(&self) -> String {
        format(self.hasher.digest())
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

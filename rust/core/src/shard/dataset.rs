//! A dataset directory opened for reading: the one reader of the format, which every user of
//! a dataset (the loaders, `pack`, `decompose`, the Python `Dataset`) goes through.
//!
//! What is checked, and when:
//! - always, at open: the manifest's fields and types; shard `file`s are plain names of
//!   regular files in the directory, each listed once; each shard's size; every record batch
//!   (offsets within the values, `length` equal to the offsets' differences, no nulls);
//!   the manifest's row and token counts, per shard and in total;
//! - with `verify`: each shard's checksum, and every token id below the manifest's
//!   `vocab_size`;
//! - when given: the tokenizer fingerprint the dataset must have been made with.
//!
//! Shards are memory-mapped: a file changed in place while mapped (rather than replaced by
//! a rename, as seqpack writes) can make a later read fault.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checksum::checksum_of;
use super::reader::{Shard, open_regular};
use super::{MANIFEST, Manifest, ShardEntry, TokenStore, dataset_fingerprint};
use crate::{Error, Result};

/// What [`Dataset::open`] checks beyond what it always checks.
#[derive(Debug, Clone, Default)]
pub struct Verify {
    /// Shard checksums and token ids against the manifest.
    pub contents: bool,
    /// The tokenizer fingerprint the dataset must have been made with.
    pub tokenizer_fingerprint: Option<String>,
}

#[derive(Debug)]
pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
    /// The manifest as written, with the fields this version does not know.
    raw_manifest: serde_json::Value,
    fingerprint: String,
    store: Arc<TokenStore>,
}

impl Dataset {
    /// Opens the dataset directory `dir`; see the module documentation for what is checked.
    pub fn open(dir: &Path, verify: &Verify) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST);
        let bytes = read_manifest(dir, &manifest_path)?;
        let (manifest, raw_manifest) = Manifest::parse(&manifest_path, &bytes)?;
        let bad_manifest = |message: String| Error::Format {
            path: manifest_path.display().to_string(),
            message,
        };
        if let Some(expected) = &verify.tokenizer_fingerprint {
            if *expected != manifest.tokenizer.fingerprint {
                return Err(bad_manifest(format!(
                    "made with tokenizer {}, not the expected {expected}",
                    manifest.tokenizer.fingerprint
                )));
            }
        }
        check_shard_names(&manifest.shards).map_err(bad_manifest)?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        for entry in &manifest.shards {
            shards.push(open_shard(dir, entry, &manifest, verify.contents)?);
        }
        check_same_columns(&shards)?;
        let rows: u64 = shards.iter().map(|s| s.rows).sum();
        let tokens: u64 = shards.iter().map(|s| s.tokens).sum();
        if rows != manifest.total_rows || tokens != manifest.total_tokens {
            return Err(bad_manifest(format!(
                "total_rows {} and total_tokens {}, but the shards hold {rows} rows and {tokens} tokens",
                manifest.total_rows, manifest.total_tokens
            )));
        }
        let store = TokenStore::from_shards(shards);
        let masked_rows = store.has_loss_mask();
        if masked_rows != (manifest.loss_mask.is_some() && rows > 0) {
            return Err(bad_manifest(if masked_rows {
                "the shards have a loss_mask column, but the manifest records no loss_mask".into()
            } else {
                "the manifest records a loss_mask, but the shards have no loss_mask column".into()
            }));
        }
        let tokenizer = raw_manifest
            .get("tokenizer")
            .unwrap_or(&serde_json::Value::Null);
        let fingerprint = dataset_fingerprint(tokenizer, &manifest.shards);
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifest,
            raw_manifest,
            fingerprint,
            store: Arc::new(store),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest as written, fields unknown to this version included.
    pub fn raw_manifest(&self) -> &serde_json::Value {
        &self.raw_manifest
    }

    /// The dataset's identity (see [`dataset_fingerprint`]): 32 hex digits.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The rows of every shard, memory-mapped and validated.
    pub fn store(&self) -> &Arc<TokenStore> {
        &self.store
    }

    /// The shard files, in dataset order.
    pub fn shard_paths(&self) -> Vec<PathBuf> {
        let files = self.manifest.shards.iter().map(|s| self.dir.join(&s.file));
        files.collect()
    }
}

fn read_manifest(dir: &Path, manifest_path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = match open_regular(manifest_path) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a dataset directory (no manifest.json; an interrupted `seqpack preprocess` can be finished with --resume)",
                ),
            ));
        }
        other => other?,
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io(manifest_path, e))?;
    Ok(bytes)
}

/// Shard files must be plain names of files in the directory, each listed once.
fn check_shard_names(shards: &[ShardEntry]) -> std::result::Result<(), String> {
    let mut seen = HashSet::new();
    for (i, entry) in shards.iter().enumerate() {
        if !is_plain_file_name(&entry.file) {
            return Err(format!(
                "shards[{i}].file {:?} is not the plain name of a file in the dataset directory",
                entry.file
            ));
        }
        if !seen.insert(entry.file.as_str()) {
            return Err(format!("shards[{i}].file {:?} is listed twice", entry.file));
        }
    }
    Ok(())
}

/// A name of a directory entry: not empty, `.` or `..`, and without a path separator or NUL.
pub(crate) fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Every shard must have the columns of the first, so that they read as one table.
fn check_same_columns(shards: &[Shard]) -> Result<()> {
    let mut with_rows = shards.iter().filter_map(|s| s.fields().map(|f| (s, f)));
    let Some((_, first)) = with_rows.next() else {
        return Ok(());
    };
    match with_rows.find(|(_, fields)| fields != &first) {
        Some((shard, _)) => Err(Error::Format {
            path: shard.path.display().to_string(),
            message: "its columns differ from those of the dataset's first shard".into(),
        }),
        None => Ok(()),
    }
}

/// Opens, checks and maps one shard against its manifest entry.
fn open_shard(dir: &Path, entry: &ShardEntry, manifest: &Manifest, verify: bool) -> Result<Shard> {
    let path = dir.join(&entry.file);
    let bad = |message: String| Error::Format {
        path: path.display().to_string(),
        message,
    };
    let mut file = match open_regular(&path) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad("missing (listed in the manifest)".into()));
        }
        other => other?,
    };
    let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
    if size != entry.bytes {
        return Err(bad(format!(
            "{size} bytes, the manifest says {} (truncated or replaced)",
            entry.bytes
        )));
    }
    if verify {
        let checksum = checksum_of(&path, &mut file)?;
        if checksum != entry.checksum {
            return Err(bad(format!(
                "checksum {checksum} does not match the manifest's {} (the file is corrupted)",
                entry.checksum
            )));
        }
    }
    let shard = Shard::read(&path, file)?;
    if shard.rows != entry.rows {
        return Err(bad(format!(
            "{} rows, the manifest says {}",
            shard.rows, entry.rows
        )));
    }
    if shard.tokens != entry.tokens {
        return Err(bad(format!(
            "{} tokens, the manifest says {}",
            shard.tokens, entry.tokens
        )));
    }
    if verify {
        shard.check_token_ids(manifest.tokenizer.vocab_size)?;
    }
    Ok(shard)
}

//! The small JSON files a run keeps beside its shards (a split's journal, a split's result):
//! read if they are there, written atomically.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The file at `path` (`what` names it in errors), or `None` if there is none.
pub(super) fn read<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Format {
                path: path.display().to_string(),
                message: format!("unreadable {what}: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

pub(super) fn write<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string(value).expect("plain data always serialises");
    crate::shard::write_atomically(path, text.as_bytes())
}

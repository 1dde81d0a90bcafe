//! The output directory of a run: who may write there and what a resumed run may delete.
//!
//! A run holds an exclusive lock on [`LOCK`] inside the directory for as long as it writes,
//! so a second run into the same directory is refused instead of mixing its shards with the
//! first's. Only after taking the lock does a run look at what the directory holds: two runs
//! that start together cannot both see it empty. A run that is not resuming needs a
//! directory that is empty (but for the lock). A resumed run needs its own journal or
//! manifest there, made by the same inputs, options and tokenizer, and deletes only files of
//! the names it writes: shards past the journal's last one and its own temporary files,
//! never anything else a user keeps beside them.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::commit::{RESULT_PREFIX, SplitResult};
use super::journal::{JOURNAL_PREFIX, Journal};
use crate::shard::{MANIFEST, Manifest};
use crate::{Error, Result};

/// The lock file a run holds while it writes (removed when it ends).
pub(crate) const LOCK: &str = ".seqpack.lock";

/// The exclusive right to write a directory; released (and its file removed) on drop.
pub(crate) struct OutputLock {
    path: PathBuf,
    _file: File,
}

impl OutputLock {
    pub fn acquire(out: &Path) -> Result<Self> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let path = out.join(LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match try_lock_exclusive(&file) {
            Ok(true) => Ok(OutputLock { path, _file: file }),
            Ok(false) => Err(Error::invalid_option(
                "out",
                format!(
                    "{} is being written by another seqpack run (it holds {LOCK}); wait for it \
                     to end or choose another directory",
                    out.display()
                ),
            )),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

/// An advisory `flock` that another process's attempt sees (and that the kernel drops with
/// the process, so a killed run leaves no stale lock): `false` when another holds it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn try_lock_exclusive(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock takes a descriptor that `file` keeps open for the whole call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(error),
    }
}

/// Elsewhere runs are not locked against each other (the README says so).
#[cfg(not(target_os = "linux"))]
fn try_lock_exclusive(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held: a run that opened the old file and waits for it finds
        // the directory's new state once it gets the lock, and checks that first.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What the locked directory holds for this run.
pub(crate) enum Prepared {
    /// Start (or go on) writing: each split goes on from its own journal or result.
    Write,
    /// A resumed run whose earlier attempt had finished: its manifest.
    Finished(Box<Manifest>),
}

/// Checks the (locked) output directory. `finished_by_this_run` tells whether a finished
/// dataset's manifest is this run's. What a resumed run rewrites is cleared per split, by
/// [`clear_split`].
pub(crate) fn prepare(
    out: &Path,
    run: &str,
    resume: bool,
    finished_by_this_run: impl Fn(&Manifest) -> bool,
) -> Result<Prepared> {
    let names = entries(out)?;
    if names.is_empty() {
        return Ok(Prepared::Write);
    }
    if !resume {
        return Err(Error::invalid_option(
            "out",
            format!(
                "{} exists and is not empty; pass resume to continue an interrupted run, or \
                 choose another directory",
                out.display()
            ),
        ));
    }
    let manifest_path = out.join(MANIFEST);
    if manifest_path.exists() {
        let manifest = Manifest::read(&manifest_path)?;
        if !finished_by_this_run(&manifest) {
            return Err(other_run(out, "holds a dataset made"));
        }
        return Ok(Prepared::Finished(Box::new(manifest)));
    }
    let mut started = false;
    for name in &names {
        let path = out.join(name);
        let written_by = if split_of(name, JOURNAL_PREFIX, ".json").is_some() {
            Journal::read(&path)?.map(|journal| journal.run)
        } else if split_of(name, RESULT_PREFIX, ".json").is_some() {
            SplitResult::read(&path)?.map(|result| result.run)
        } else {
            None
        };
        match written_by {
            Some(other) if other != run => return Err(other_run(out, "was started")),
            Some(_) => started = true,
            None => {}
        }
    }
    // A run killed before its first shard was complete leaves only temporary files.
    if !started && !names.iter().all(|name| is_temporary(name)) {
        return Err(Error::invalid_option(
            "resume",
            format!(
                "{} holds no interrupted seqpack run to resume (no {JOURNAL_PREFIX}*.json, \
                 {RESULT_PREFIX}*.json or {MANIFEST}); nothing was deleted. Choose an empty \
                 directory",
                out.display()
            ),
        ));
    }
    Ok(Prepared::Write)
}

/// Deletes what split `split` wrote that its journal does not account for: shards numbered
/// `kept` or later (renamed into place before a kill let the journal record them) and its
/// temporary files.
pub(crate) fn clear_split(out: &Path, split: usize, kept: usize) -> Result<()> {
    for name in entries(out)? {
        if written_after_journal(&name, split, kept) {
            let path = out.join(&name);
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

fn other_run(out: &Path, what: &str) -> Error {
    Error::invalid_option(
        "resume",
        format!(
            "{} {what} with other inputs, options or tokenizer; use a new directory",
            out.display()
        ),
    )
}

/// The names in the directory, but for the lock.
fn entries(out: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(out).map_err(|e| Error::io(out, e))? {
        let name = entry.map_err(|e| Error::io(out, e))?.file_name();
        let name = name.to_string_lossy().into_owned();
        if name != LOCK {
            names.push(name);
        }
    }
    Ok(names)
}

/// The number in a name `{prefix}{5 or more digits}{suffix}`.
fn split_of(name: &str, prefix: &str, suffix: &str) -> Option<usize> {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .filter(|digits| digits.len() >= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
}

/// The split and index of a shard file name a run writes (`shard-00003-00042.arrow`).
fn shard_of(name: &str) -> Option<(usize, usize)> {
    let (split, index) = name.strip_prefix("shard-")?.split_once('-')?;
    let split = split_of(split, "", "")?;
    Some((split, split_of(index, "", ".arrow")?))
}

/// The split of a temporary file a run writes: a shard's, a journal's or a split result's;
/// `usize::MAX` for the manifest's.
fn temporary_of(name: &str) -> Option<usize> {
    let stem = name.strip_suffix(".tmp")?;
    if stem == MANIFEST {
        return Some(usize::MAX);
    }
    shard_of(stem)
        .map(|(split, _)| split)
        .or_else(|| split_of(stem, JOURNAL_PREFIX, ".json"))
        .or_else(|| split_of(stem, RESULT_PREFIX, ".json"))
}

fn is_temporary(name: &str) -> bool {
    temporary_of(name).is_some()
}

/// Whether `name` is a file split `split` writes that its journal does not account for: a
/// shard numbered `kept` or later, or a temporary file of the split.
fn written_after_journal(name: &str, split: usize, kept: usize) -> bool {
    match shard_of(name) {
        Some((of, index)) => of == split && index >= kept,
        None => temporary_of(name) == Some(split),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_splits_own_names_count_as_written_after_its_journal() {
        assert!(written_after_journal("shard-00003-00002.arrow", 3, 2));
        assert!(!written_after_journal("shard-00003-00001.arrow", 3, 2));
        assert!(!written_after_journal("shard-00004-00002.arrow", 3, 2));
        assert!(written_after_journal("shard-00003-00000.arrow.tmp", 3, 2));
        assert!(!written_after_journal("shard-00004-00000.arrow.tmp", 3, 2));
        assert!(written_after_journal(
            ".seqpack-progress-00003.json.tmp",
            3,
            0
        ));
        assert!(written_after_journal(".seqpack-split-00003.json.tmp", 3, 0));
        assert!(is_temporary("manifest.json.tmp"));
        for users in [
            "notes.tmp",
            "shard-x.arrow",
            "shard-00003.arrow",
            "shard-3-1.arrow",
            "data.arrow",
            "README",
        ] {
            assert!(!written_after_journal(users, 3, 0), "{users}");
            assert!(!is_temporary(users), "{users}");
        }
    }

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = super::super::tests::temp_dir("output-lock");
        let first = OutputLock::acquire(&dir).unwrap();
        let second = OutputLock::acquire(&dir).err().expect("refused while held");
        assert!(
            second.to_string().contains("another seqpack run"),
            "{second}"
        );
        drop(first);
        assert!(!dir.join(LOCK).exists(), "the lock file goes with the lock");
        OutputLock::acquire(&dir).unwrap();
    }
}

//! Buffers handed back once used, for the next batch: a batch's input and tokens each take
//! a buffer of about a megabyte (its records' outcomes a smaller one), and fresh memory
//! costs more than filling it (see [`crate::buffer`]), so a run reuses the few that are in
//! flight at once.
//!
//! A buffer that grew far beyond the usual size (for a record of several megabytes) is freed
//! instead: kept, every buffer in flight would in time be as large as for the largest record
//! of the corpus (on the 1.25 GB Linux C corpus, with a 24 MB document, a run's anonymous
//! memory peaked at 343 MiB, 533 MiB streamed from a pipe; with the limit, 214–222 and 371).

use std::sync::Mutex;

pub(super) struct Recycler<T> {
    free: Mutex<Vec<Vec<T>>>,
    /// Buffers of a larger capacity are not kept.
    keep_up_to: usize,
}

impl<T> Recycler<T> {
    /// Keeps buffers of up to `keep_up_to` elements.
    pub fn new(keep_up_to: usize) -> Self {
        Recycler {
            free: Mutex::new(Vec::new()),
            keep_up_to,
        }
    }

    /// An empty buffer, with the memory of one handed back if there is one.
    pub fn take(&self) -> Vec<T> {
        self.lock().pop().unwrap_or_default()
    }

    /// Hands `buffer` back, emptied (or frees it, if it grew too large).
    pub fn give(&self, mut buffer: Vec<T>) {
        buffer.clear();
        if buffer.capacity() > 0 && buffer.capacity() <= self.keep_up_to {
            self.lock().push(buffer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<T>>> {
        // A panic while holding the lock leaves only a list of buffers, always valid.
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_unless_they_grew_too_large() {
        let recycler = Recycler::new(100);
        let mut usual: Vec<u32> = Vec::with_capacity(80);
        usual.push(1);
        let address = usual.as_ptr();
        recycler.give(usual);
        let again = recycler.take();
        assert!(again.is_empty() && again.capacity() >= 80);
        assert_eq!(again.as_ptr(), address);
        recycler.give(Vec::with_capacity(1000));
        assert_eq!(recycler.take().capacity(), 0);
    }
}

//! Buffers handed back once used, for the next batch: a batch's input and tokens each take
//! a buffer of about a megabyte (its records' outcomes a smaller one), and fresh memory
//! costs more than filling it (see [`crate::buffer`]), so a run reuses the few that are in
//! flight at once.

use std::sync::Mutex;

pub(super) struct Recycler<T> {
    free: Mutex<Vec<Vec<T>>>,
}

impl<T> Default for Recycler<T> {
    fn default() -> Self {
        Recycler {
            free: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Recycler<T> {
    /// An empty buffer, with the memory of one handed back if there is one.
    pub fn take(&self) -> Vec<T> {
        self.lock().pop().unwrap_or_default()
    }

    /// Hands `buffer` back, emptied.
    pub fn give(&self, mut buffer: Vec<T>) {
        buffer.clear();
        if buffer.capacity() > 0 {
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

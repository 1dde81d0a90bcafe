//! Per-thread memory of recent pieces and their ids. Text repeats its words, so most pieces
//! skip the merge loop; each thread keeps its own map, so parallel encoding shares no lock.

use std::cell::RefCell;

use rustc_hash::FxHashMap;
use thread_local::ThreadLocal;

use super::model::{Model, Scratch};

/// Entries per thread before the map is emptied and refilled: enough for the working set of
/// a corpus's frequent words, small enough (a few MB) to stay in cache memory per thread.
const CAPACITY: usize = 1 << 16;

/// Longer pieces are rare repeats; storing them would only evict useful entries.
const MAX_PIECE_BYTES: usize = 64;

#[derive(Default)]
pub(crate) struct Local {
    words: FxHashMap<Box<[u8]>, Box<[u32]>>,
    scratch: Scratch,
}

impl Local {
    /// Appends the ids of `piece` to `out`, from memory when possible.
    #[inline]
    pub(crate) fn encode_piece(&mut self, model: &Model, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(id) = model.single_token(piece) {
            return out.push(id);
        }
        if piece.len() > MAX_PIECE_BYTES {
            return model.encode_word(piece, &mut self.scratch, out);
        }
        if let Some(ids) = self.words.get(piece) {
            return out.extend_from_slice(ids);
        }
        let start = out.len();
        model.encode_word(piece, &mut self.scratch, out);
        if self.words.len() >= CAPACITY {
            // Emptying is cheaper than tracking recency and keeps memory bounded; the map
            // refills with whatever is frequent now.
            self.words.clear();
        }
        self.words.insert(piece.into(), out[start..].into());
    }
}

/// The per-thread state of one tokenizer.
#[derive(Default)]
pub(crate) struct PerThread(ThreadLocal<RefCell<Local>>);

impl PerThread {
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Local) -> T) -> T {
        let local = self.0.get_or_default();
        // A tokenizer never calls itself while encoding, so the borrow is never taken twice.
        f(&mut local.borrow_mut())
    }
}

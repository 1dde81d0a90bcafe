//! Per-thread memory of pieces and their ids. Text repeats its words, so most pieces skip
//! the merge loop; each thread keeps its own maps, so parallel encoding shares no lock.
//!
//! Most pieces of real text are short and encode to a single token. Those go to a map keyed
//! by an integer, which is cheaper to hash and compare than a byte string; up to 7 bytes
//! (the bulk) the key is a u64, which halves the map's memory and so its cache misses. Such
//! pieces are learnt as they are met rather than found by encoding the whole vocabulary
//! up front, which took 13 of a 32k tokenizer's 44 ms load time.

use std::cell::RefCell;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use thread_local::ThreadLocal;

use super::model::{Model, Scratch};

/// Entries per thread before the map is emptied and refilled: enough for the working set of
/// a corpus's frequent words, small enough (a few MB) to stay in cache memory per thread.
const CAPACITY: usize = 1 << 16;

/// Longer pieces are rare repeats; storing them would only evict useful entries.
const MAX_PIECE_BYTES: usize = 64;

#[derive(Default)]
pub(crate) struct Local {
    /// Pieces of up to 15 bytes that encode to one token: never emptied, as they are at
    /// most the vocabulary.
    short_tokens: FxHashMap<u64, u32>,
    long_tokens: FxHashMap<u128, u32>,
    /// Other pieces, up to [`MAX_PIECE_BYTES`].
    words: Words,
    scratch: Scratch,
}

/// Pieces and their ids, stored end to end in two buffers that the table's entries index:
/// emptying or dropping the map frees three allocations, not two per entry (with a box per
/// piece and per id list, dropping a tokenizer after a 30 MB run took 22–34 ms).
#[derive(Default)]
struct Words {
    table: HashTable<Word>,
    bytes: Vec<u8>,
    ids: Vec<u32>,
}

#[derive(Clone, Copy)]
struct Word {
    hash: u64,
    bytes_start: u32,
    ids_start: u32,
    /// Both at most [`MAX_PIECE_BYTES`]: a piece has no more ids than bytes.
    bytes_len: u8,
    ids_len: u8,
}

impl Words {
    fn hash(piece: &[u8]) -> u64 {
        FxBuildHasher.hash_one(piece)
    }

    fn get(&self, piece: &[u8]) -> Option<&[u32]> {
        let bytes = &self.bytes;
        let word = self.table.find(Self::hash(piece), |w| {
            &bytes[w.bytes_start as usize..][..usize::from(w.bytes_len)] == piece
        })?;
        Some(&self.ids[word.ids_start as usize..][..usize::from(word.ids_len)])
    }

    /// Adds `piece`, which is not in the map, with its `ids`.
    fn insert(&mut self, piece: &[u8], ids: &[u32]) {
        debug_assert!(piece.len() <= MAX_PIECE_BYTES && ids.len() <= piece.len());
        let word = Word {
            hash: Self::hash(piece),
            bytes_start: self.bytes.len() as u32,
            ids_start: self.ids.len() as u32,
            bytes_len: piece.len() as u8,
            ids_len: ids.len() as u8,
        };
        self.bytes.extend_from_slice(piece);
        self.ids.extend_from_slice(ids);
        self.table.insert_unique(word.hash, word, |w| w.hash);
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn clear(&mut self) {
        self.table.clear();
        self.bytes.clear();
        self.ids.clear();
    }
}

/// The bytes of a piece and its length in one integer (distinct pieces, distinct keys), for
/// pieces shorter than the integer.
#[inline]
fn packed<const N: usize>(piece: &[u8]) -> Option<[u8; N]> {
    if piece.len() >= N {
        return None;
    }
    let mut buffer = [0u8; N];
    buffer[..piece.len()].copy_from_slice(piece);
    buffer[N - 1] = piece.len() as u8;
    Some(buffer)
}

impl Local {
    /// Appends the ids of `piece` to `out`, from memory when possible.
    #[inline]
    pub(crate) fn encode_piece(&mut self, model: &Model, piece: &[u8], out: &mut Vec<u32>) {
        let short = packed::<8>(piece).map(u64::from_le_bytes);
        let long = match short {
            Some(key) => match self.short_tokens.get(&key) {
                Some(&id) => return out.push(id),
                None => None,
            },
            None => packed::<16>(piece).map(u128::from_le_bytes),
        };
        if let Some(id) = long.and_then(|key| self.long_tokens.get(&key)) {
            return out.push(*id);
        }
        if piece.len() > MAX_PIECE_BYTES {
            return model.encode_word(piece, &mut self.scratch, out);
        }
        if let Some(ids) = self.words.get(piece) {
            return out.extend_from_slice(ids);
        }
        let start = out.len();
        model.encode_word(piece, &mut self.scratch, out);
        if let [id] = out[start..] {
            if let Some(key) = short {
                self.short_tokens.insert(key, id);
                return;
            }
            if let Some(key) = long {
                self.long_tokens.insert(key, id);
                return;
            }
        }
        if self.words.len() >= CAPACITY {
            // Emptying is cheaper than tracking recency and keeps memory bounded; the map
            // refills with whatever is frequent now.
            self.words.clear();
        }
        self.words.insert(piece, &out[start..]);
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

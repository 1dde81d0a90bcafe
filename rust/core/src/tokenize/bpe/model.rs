//! The BPE model: the vocabulary as bytes, the ranked merges, and the merge loop that turns
//! one pre-tokenized piece into ids.
//!
//! Merging follows HF `tokenizers` (and GPT-2): repeatedly merge the adjacent pair with the
//! lowest rank, the leftmost one on ties, until no adjacent pair has a merge. A heap of
//! candidate pairs over a linked list of symbols keeps this O(n log n) in the piece length,
//! so a long run of one character (minified code, ASCII art) cannot make encoding quadratic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// The symbol an unknown byte becomes (only a vocabulary without all 256 byte tokens has
/// unknown bytes; without an `unk_token` HF drops them, and so does seqpack).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unknown {
    pub(crate) id: u32,
    /// HF's `fuse_unk`: consecutive unknown bytes become one unknown token.
    pub(crate) fuse: bool,
}

pub(crate) struct Model {
    byte_ids: [Option<u32>; 256],
    /// `(left, right)` packed into a u64 → `(rank, merged id)`.
    merges: FxHashMap<u64, (u32, u32)>,
    /// HF's `ignore_merges`: a piece that is itself a token is that token, merges or not.
    whole_words: Option<FxHashMap<Box<[u8]>, u32>>,
    unknown: Option<Unknown>,
}

/// Reusable buffers for [`Model::encode_word`], so encoding allocates nothing per piece.
#[derive(Default)]
pub(crate) struct Scratch {
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    next: u32,
    prev: u32,
    merged_away: bool,
}

const NONE: u32 = u32::MAX;

fn key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

impl Model {
    /// `vocab` holds each token's bytes and id (only its single bytes are read, unless
    /// `ignore_merges`); `merges` are `(left, right, merged)` ids in rank order (a later
    /// duplicate of a pair replaces the earlier one, as in HF).
    pub(crate) fn new(
        vocab: &[(Box<[u8]>, u32)],
        merges: &[(u32, u32, u32)],
        ignore_merges: bool,
        unknown: Option<Unknown>,
    ) -> Self {
        let mut byte_ids = [None; 256];
        for (bytes, id) in vocab {
            if let [b] = bytes[..] {
                byte_ids[usize::from(b)] = Some(*id);
            }
        }
        let merges = merges
            .iter()
            .enumerate()
            .map(|(rank, &(l, r, m))| (key(l, r), (rank as u32, m)))
            .collect();
        Model {
            byte_ids,
            merges,
            whole_words: ignore_merges.then(|| vocab.iter().cloned().collect()),
            unknown,
        }
    }

    /// Appends the ids of one piece to `out`.
    pub(crate) fn encode_word(&self, word: &[u8], scratch: &mut Scratch, out: &mut Vec<u32>) {
        if let Some(id) = self.whole_words.as_ref().and_then(|w| w.get(word)) {
            out.push(*id);
            return;
        }
        let symbols = &mut scratch.symbols;
        symbols.clear();
        let mut after_unknown = false;
        for &b in word {
            let id = match (self.byte_ids[usize::from(b)], self.unknown) {
                (Some(id), _) => id,
                (None, Some(unk)) if !(unk.fuse && after_unknown) => unk.id,
                (None, _) => {
                    after_unknown = true;
                    continue;
                }
            };
            after_unknown = self.byte_ids[usize::from(b)].is_none();
            let at = symbols.len() as u32;
            symbols.push(Symbol {
                id,
                next: at + 1,
                prev: at.wrapping_sub(1),
                merged_away: false,
            });
        }
        let Some(last) = symbols.last_mut() else {
            return;
        };
        last.next = NONE;
        if symbols.len() > 1 {
            self.merge_all(scratch);
        }
        let mut at = 0;
        while at != NONE {
            let symbol = scratch.symbols[at as usize];
            out.push(symbol.id);
            at = symbol.next;
        }
    }

    fn merge_of(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        self.merges.get(&key(left, right)).copied()
    }

    fn merge_all(&self, scratch: &mut Scratch) {
        let Scratch { symbols, heap } = scratch;
        heap.clear();
        for (at, pair) in symbols.windows(2).enumerate() {
            if let Some((rank, _)) = self.merge_of(pair[0].id, pair[1].id) {
                heap.push(Reverse((rank, at as u32)));
            }
        }
        while let Some(Reverse((rank, at))) = heap.pop() {
            let left = symbols[at as usize];
            if left.merged_away || left.next == NONE {
                continue;
            }
            let right = symbols[left.next as usize];
            // Entries go stale when a neighbour merges first; a symbol only ever grows, so a
            // stale entry never finds its rank on the pair that is there now.
            let Some((current, merged)) = self.merge_of(left.id, right.id) else {
                continue;
            };
            if current != rank {
                continue;
            }
            symbols[left.next as usize].merged_away = true;
            symbols[at as usize].id = merged;
            symbols[at as usize].next = right.next;
            if right.next != NONE {
                symbols[right.next as usize].prev = at;
                if let Some((rank, _)) = self.merge_of(merged, symbols[right.next as usize].id) {
                    heap.push(Reverse((rank, at)));
                }
            }
            if left.prev != NONE {
                if let Some((rank, _)) = self.merge_of(symbols[left.prev as usize].id, merged) {
                    heap.push(Reverse((rank, left.prev)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model over the bytes of `alphabet` plus `merges` given as strings; token ids are
    /// alphabet positions, then merge order.
    fn model(alphabet: &str, merges: &[(&str, &str)]) -> (Model, Vec<String>) {
        let mut tokens: Vec<String> = alphabet.chars().map(String::from).collect();
        let mut vocab: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        for (i, t) in tokens.iter().enumerate() {
            vocab.insert(t.as_bytes().into(), i as u32);
        }
        let mut ranked = Vec::new();
        for (l, r) in merges {
            let merged = format!("{l}{r}");
            let id = *vocab.entry(merged.as_bytes().into()).or_insert_with(|| {
                tokens.push(merged.clone());
                tokens.len() as u32 - 1
            });
            ranked.push((vocab[l.as_bytes()], vocab[r.as_bytes()], id));
        }
        let vocab: Vec<(Box<[u8]>, u32)> = vocab.into_iter().collect();
        (Model::new(&vocab, &ranked, false, None), tokens)
    }

    fn encode(model: &(Model, Vec<String>), word: &str) -> Vec<String> {
        let mut out = Vec::new();
        model
            .0
            .encode_word(word.as_bytes(), &mut Scratch::default(), &mut out);
        out.iter().map(|&id| model.1[id as usize].clone()).collect()
    }

    #[test]
    fn lowest_rank_first_not_left_to_right() {
        let m = model("abcd", &[("b", "c"), ("a", "b"), ("bc", "d"), ("a", "bcd")]);
        // "ab" would win left to right; rank says "bc" first, then "bcd", then "abcd".
        assert_eq!(encode(&m, "abcd"), ["abcd"]);
        assert_eq!(encode(&m, "abc"), ["a", "bc"]);
        assert_eq!(encode(&m, "abd"), ["ab", "d"]);
    }

    #[test]
    fn ties_go_to_the_leftmost_pair() {
        let m = model("a", &[("a", "a"), ("aa", "a")]);
        assert_eq!(encode(&m, "aaa"), ["aaa"]);
        assert_eq!(encode(&m, "aaaa"), ["aa", "aa"]);
        assert_eq!(encode(&m, "aaaaa"), ["aa", "aaa"]);
    }

    #[test]
    fn long_runs_merge_fully() {
        let m = model("a", &[("a", "a"), ("aa", "aa"), ("aaaa", "aaaa")]);
        let word = "a".repeat(100_000);
        let tokens = encode(&m, &word);
        assert_eq!(tokens.len(), 12_500);
        assert!(tokens.iter().all(|t| t == "aaaaaaaa"));
    }

    #[test]
    fn unknown_bytes_are_dropped_or_become_unk() {
        let (mut m, _) = model("ab", &[("a", "b")]);
        let run = |m: &Model, word: &[u8]| {
            let mut out = Vec::new();
            m.encode_word(word, &mut Scratch::default(), &mut out);
            out
        };
        // Dropped: "a" and "b" meet and merge.
        assert_eq!(run(&m, b"axxb"), [2]);
        m.unknown = Some(Unknown {
            id: 99,
            fuse: false,
        });
        assert_eq!(run(&m, b"axxb"), [0, 99, 99, 1]);
        m.unknown = Some(Unknown { id: 99, fuse: true });
        assert_eq!(run(&m, b"axxbx"), [0, 99, 1, 99]);
    }
}

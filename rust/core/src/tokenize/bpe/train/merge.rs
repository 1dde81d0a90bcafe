//! Learning the merges from piece counts: the standard incremental algorithm. Each pair of
//! adjacent symbols has a count (summed over the pieces it occurs in, weighted by their
//! counts) and the set of pieces it occurs in; a max-heap holds candidate pairs. Merging a
//! pair rewrites only the pieces that contain it and adjusts the counts of the pairs around
//! each occurrence. Heap entries are not updated in place: a popped entry whose count is out
//! of date is pushed back with the current count (counts of existing pairs only ever fall,
//! and new pairs are pushed when they appear, so the top entry, once current, is the best).
//!
//! Choice rule: the highest count; among equal counts, the pair whose left token's bytes
//! are lexicographically smallest, then whose right token's bytes are. It depends on the
//! corpus alone, never on hash or thread order. A pair whose concatenation is already a
//! token is never merged: two merges making one token would let encoding (which applies
//! merges by rank) disagree with the segmentation training ended with.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::count::Counts;

type Pair = (u32, u32);

pub(crate) struct Learned {
    /// Token bytes by id: the 256 single bytes, then one token per merge.
    pub(crate) tokens: Vec<Arc<[u8]>>,
    /// Merged pairs of ids, in rank order; merge `k` made token `256 + k`.
    pub(crate) merges: Vec<Pair>,
}

struct Word {
    symbols: Vec<u32>,
    count: u64,
}

struct Candidate {
    count: u64,
    pair: Pair,
    left: Arc<[u8]>,
    right: Arc<[u8]>,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.count
            .cmp(&other.count)
            .then_with(|| other.left.cmp(&self.left))
            .then_with(|| other.right.cmp(&self.right))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// Learns up to `merges_wanted` merges, stopping early when the best pair occurs fewer than
/// `min_frequency` times. `reserved` are byte strings no merge may produce (the special
/// tokens' spellings).
pub(crate) fn learn(
    counts: Counts,
    merges_wanted: usize,
    min_frequency: u64,
    reserved: &FxHashSet<Vec<u8>>,
) -> Learned {
    let mut words: Vec<Word> = counts
        .into_iter()
        .map(|(piece, count)| Word {
            symbols: piece.iter().map(|&b| u32::from(b)).collect(),
            count,
        })
        .collect();
    let mut tokens: Vec<Arc<[u8]>> = (0..=255u8).map(|b| Arc::from(&[b][..])).collect();
    let mut known: FxHashSet<Arc<[u8]>> = tokens.iter().cloned().collect();
    known.extend(reserved.iter().map(|r| Arc::from(r.as_slice())));

    let mut pair_counts: FxHashMap<Pair, i64> = FxHashMap::default();
    let mut occurs_in: FxHashMap<Pair, FxHashSet<u32>> = FxHashMap::default();
    for (w, word) in words.iter().enumerate() {
        for pair in word.symbols.windows(2) {
            let pair = (pair[0], pair[1]);
            *pair_counts.entry(pair).or_default() += word.count as i64;
            occurs_in.entry(pair).or_default().insert(w as u32);
        }
    }
    let candidate = |pair: Pair, count: i64, tokens: &[Arc<[u8]>]| Candidate {
        count: count as u64,
        pair,
        left: tokens[pair.0 as usize].clone(),
        right: tokens[pair.1 as usize].clone(),
    };
    let mut heap: BinaryHeap<Candidate> = pair_counts
        .iter()
        .map(|(&pair, &count)| candidate(pair, count, &tokens))
        .collect();

    let mut merges = Vec::with_capacity(merges_wanted);
    let mut deltas: FxHashMap<Pair, i64> = FxHashMap::default();
    while merges.len() < merges_wanted {
        let Some(mut top) = heap.pop() else { break };
        let current = pair_counts.get(&top.pair).copied().unwrap_or(0);
        if current <= 0 {
            continue;
        }
        if current as u64 != top.count {
            top.count = current as u64;
            heap.push(top);
            continue;
        }
        if top.count < min_frequency {
            break;
        }
        let merged: Arc<[u8]> = [&top.left[..], &top.right[..]].concat().into();
        pair_counts.remove(&top.pair);
        let Some(places) = occurs_in.remove(&top.pair) else {
            continue;
        };
        if known.contains(&merged) {
            continue;
        }
        let new = tokens.len() as u32;
        tokens.push(merged.clone());
        known.insert(merged);
        merges.push(top.pair);

        deltas.clear();
        for &w in &places {
            let word = &mut words[w as usize];
            let weight = word.count as i64;
            merge_word(&mut word.symbols, top.pair, new, |pair, sign| {
                if pair != top.pair {
                    *deltas.entry(pair).or_default() += sign * weight;
                    if sign > 0 {
                        occurs_in.entry(pair).or_default().insert(w);
                    }
                }
            });
        }
        for (&pair, &delta) in &deltas {
            let count = pair_counts.entry(pair).or_default();
            *count += delta;
            if *count <= 0 {
                pair_counts.remove(&pair);
                occurs_in.remove(&pair);
            } else if pair.0 == new || pair.1 == new {
                heap.push(candidate(pair, pair_counts[&pair], &tokens));
            }
        }
    }
    Learned { tokens, merges }
}

/// Replaces the non-overlapping occurrences of `pair` in `symbols`, left to right, with
/// `new`, reporting each change of an adjacent pair as `(pair, +1 or -1)`.
fn merge_word(symbols: &mut Vec<u32>, pair: Pair, new: u32, mut change: impl FnMut(Pair, i64)) {
    let (a, b) = pair;
    let n = symbols.len();
    let (mut read, mut write) = (0, 0);
    while read < n {
        if read + 1 < n && symbols[read] == a && symbols[read + 1] == b {
            change(pair, -1);
            if write > 0 {
                let before = symbols[write - 1];
                change((before, a), -1);
                change((before, new), 1);
            }
            if read + 2 < n {
                let after = symbols[read + 2];
                change((b, after), -1);
                change((new, after), 1);
            }
            symbols[write] = new;
            read += 2;
        } else {
            symbols[write] = symbols[read];
            read += 1;
        }
        write += 1;
    }
    symbols.truncate(write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(words: &[(&str, u64)]) -> Counts {
        words
            .iter()
            .map(|&(w, n)| (w.as_bytes().into(), n))
            .collect()
    }

    fn merged_strings(learned: &Learned) -> Vec<String> {
        learned.tokens[256..]
            .iter()
            .map(|t| String::from_utf8(t.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn merges_the_most_frequent_pair_first() {
        let learned = learn(
            counts(&[
                ("hug", 10),
                ("pug", 5),
                ("pun", 12),
                ("bun", 4),
                ("hugs", 5),
            ]),
            4,
            1,
            &FxHashSet::default(),
        );
        // ("u","g") = 20 and ("u","n") = 16 lead; then "h"+"ug" = 15, then "p"+"un" = 12.
        assert_eq!(merged_strings(&learned), ["ug", "un", "hug", "pun"]);
    }

    #[test]
    fn ties_go_to_the_smallest_bytes() {
        let learned = learn(
            counts(&[("ab", 3), ("cd", 3), ("ba", 3)]),
            3,
            1,
            &FxHashSet::default(),
        );
        assert_eq!(merged_strings(&learned), ["ab", "ba", "cd"]);
    }

    #[test]
    fn min_frequency_stops_and_reserved_strings_are_skipped() {
        let learned = learn(
            counts(&[("xy", 5), ("zw", 1)]),
            10,
            2,
            &FxHashSet::default(),
        );
        assert_eq!(merged_strings(&learned), ["xy"]);
        let reserved = [b"xy".to_vec()].into_iter().collect();
        let learned = learn(counts(&[("xy", 5), ("zw", 2)]), 10, 1, &reserved);
        assert_eq!(merged_strings(&learned), ["zw"]);
    }

    #[test]
    fn overlapping_occurrences_merge_left_to_right() {
        let mut symbols = vec![1, 1, 1, 2, 1, 1];
        let mut changes = FxHashMap::default();
        merge_word(&mut symbols, (1, 1), 9, |p, s| {
            *changes.entry(p).or_insert(0) += s
        });
        assert_eq!(symbols, [9, 1, 2, 9]);
        // Before: (1,1)×3, (1,2), (2,1). After: (9,1), (1,2), (2,9).
        changes.retain(|_, s| *s != 0);
        let expected: FxHashMap<Pair, i64> = [((1, 1), -3), ((9, 1), 1), ((2, 1), -1), ((2, 9), 1)]
            .into_iter()
            .collect();
        assert_eq!(changes, expected);
    }

    #[test]
    fn a_word_of_one_repeated_byte_counts_right() {
        let learned = learn(counts(&[("aaaa", 1)]), 2, 1, &FxHashSet::default());
        assert_eq!(merged_strings(&learned), ["aa", "aaaa"]);
    }
}

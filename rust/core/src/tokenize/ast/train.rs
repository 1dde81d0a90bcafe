//! Learning merges over sequences with syntax trees: BPE where a pair counts only where the
//! layout admits it, and, optionally, the stopping criterion of Müller & Vlachos (2019).
//!
//! Every unit position keeps its symbol; the symbols of a sequence form a linked list. Pair
//! counts and the positions of each pair are updated incrementally around each merge, so a
//! merge costs time in proportion to its occurrences, not to the corpus. A merge is applied to
//! its occurrences in position order, skipping any that overlaps the previous one, so a run
//! `a a a` under the merge `a a` becomes `aa a`, never `aa aa`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::layout::Layout;

const DEAD: u32 = u32::MAX;

/// The paper's stopping criterion. `rare types` are the symbol types of the validation
/// sequences seen fewer than `rare_below` times in training; a candidate merge that would
/// change their number is rejected (and never proposed again); training stops at the
/// `max_rejections`-th rejection.
#[derive(Debug, Clone, Copy)]
pub struct Stopping {
    pub max_rejections: usize,
    pub rare_below: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LearnOptions {
    pub(crate) max_merges: usize,
    /// Pairs seen fewer times in training are never merged: merges have run out.
    pub(crate) min_count: u64,
    pub(crate) stopping: Option<Stopping>,
}

/// One candidate the criterion looked at, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub left: u32,
    pub right: u32,
    /// Non-overlapping occurrences in the training sequences.
    pub count: u64,
    pub accepted: bool,
    /// The number of rare validation types after this merge (for a rejected one: had it been
    /// applied).
    pub rare_types: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Learned {
    /// Merge `t` makes the symbol `base + t`.
    pub(crate) merges: Vec<(u32, u32)>,
    /// Every candidate, accepted or rejected (empty without a stopping criterion).
    pub(crate) steps: Vec<Step>,
    pub(crate) rare_types_before: u64,
}

fn key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// Sequences being merged: the units' current symbols and where each pair occurs.
struct Text {
    sym: Vec<u32>,
    /// For the position where a symbol starts: where the next one starts (or the sequence end).
    next: Vec<u32>,
    prev: Vec<u32>,
    layout: Layout,
    /// Positions of each pair, possibly stale (checked on use), in no order.
    at: FxHashMap<u64, Vec<u32>>,
    /// Admissible occurrences of each pair, overlapping ones included.
    count: FxHashMap<u64, i64>,
    /// Occurrences of each symbol type.
    types: Vec<u64>,
}

impl Text {
    fn new(units: Vec<u32>, layout: Layout, base: u32) -> Self {
        let n = units.len();
        assert_eq!(n, layout.len(), "one layout position per unit");
        let mut text = Text {
            next: (1..=n as u32).collect(),
            prev: (0..n as u32).map(|i| i.wrapping_sub(1)).collect(),
            sym: units,
            layout,
            at: FxHashMap::default(),
            count: FxHashMap::default(),
            types: vec![0; base as usize],
        };
        for i in 0..n {
            text.types[text.sym[i] as usize] += 1;
            if text.has_next(i) {
                let (j, k) = (i + 1, text.next[i + 1] as usize);
                if text.layout.admissible(i, j, k) {
                    text.add(text.sym[i], text.sym[j], i, 1);
                }
            }
        }
        text
    }

    fn has_next(&self, i: usize) -> bool {
        !self.layout.is_edge(self.next[i] as usize)
    }

    fn has_prev(&self, i: usize) -> bool {
        !self.layout.is_edge(i)
    }

    fn add(&mut self, a: u32, b: u32, position: usize, delta: i64) {
        let k = key(a, b);
        *self.count.entry(k).or_default() += delta;
        if delta > 0 {
            self.at.entry(k).or_default().push(position as u32);
        }
    }

    /// Where `a b` would merge: valid, admissible, non-overlapping, left to right.
    fn occurrences(&mut self, a: u32, b: u32) -> Vec<u32> {
        let Some(positions) = self.at.get_mut(&key(a, b)) else {
            return Vec::new();
        };
        positions.sort_unstable();
        positions.dedup();
        let positions = std::mem::take(positions);
        let mut found = Vec::new();
        let mut taken = usize::MAX;
        for &i in &positions {
            let i = i as usize;
            if i == taken || self.sym[i] != a || !self.has_next(i) {
                continue;
            }
            let j = self.next[i] as usize;
            if self.sym[j] == b && self.layout.admissible(i, j, self.next[j] as usize) {
                found.push(i as u32);
                taken = j;
            }
        }
        // Kept for a rejected pair's sake: the caller may not apply them.
        self.at.insert(key(a, b), positions);
        found
    }

    /// Merges `a b` into `c` at `positions` (from [`Text::occurrences`]) and returns the pairs
    /// whose count grew.
    fn apply(&mut self, a: u32, b: u32, c: u32, positions: &[u32]) -> Vec<u64> {
        let mut grown = Vec::new();
        for &i in positions {
            let i = i as usize;
            let j = self.next[i] as usize;
            let k = self.next[j] as usize;
            let h = self.prev[i] as usize;
            let (before, after) = (self.has_prev(i), self.has_next(j));
            if before && self.layout.admissible(h, i, j) {
                self.add(self.sym[h], a, h, -1);
            }
            self.add(a, b, i, -1);
            if after && self.layout.admissible(j, k, self.next[k] as usize) {
                self.add(b, self.sym[k], j, -1);
            }
            self.sym[i] = c;
            self.sym[j] = DEAD;
            self.next[i] = k as u32;
            if after {
                self.prev[k] = i as u32;
            }
            if before && self.layout.admissible(h, i, k) {
                self.add(self.sym[h], c, h, 1);
                grown.push(key(self.sym[h], c));
            }
            if after && self.layout.admissible(i, k, self.next[k] as usize) {
                self.add(c, self.sym[k], i, 1);
                grown.push(key(c, self.sym[k]));
            }
        }
        let n = positions.len() as u64;
        self.types[a as usize] -= n;
        self.types[b as usize] -= n;
        self.types.push(n);
        debug_assert_eq!(self.types.len() as u32, c + 1);
        grown
    }
}

/// The rare-type bookkeeping of the stopping criterion.
struct Rare {
    valid: Text,
    below: u64,
    now: u64,
}

impl Rare {
    fn is_rare(&self, valid: u64, train: u64) -> bool {
        valid > 0 && train < self.below
    }

    /// The number of rare types after merging `a b` into a new type, with `n_train` and
    /// `n_valid` occurrences.
    fn after(&self, train: &[u64], a: u32, b: u32, n_train: u64, n_valid: u64) -> u64 {
        let (a, b) = (a as usize, b as usize);
        let v = &self.valid.types;
        // `a a` uses two of `a` per merge.
        let affected = if a == b {
            vec![(a, 2)]
        } else {
            vec![(a, 1), (b, 1)]
        };
        let mut before = 0;
        let mut after = u64::from(self.is_rare(n_valid, n_train));
        for (x, times) in affected {
            before += u64::from(self.is_rare(v[x], train[x]));
            after += u64::from(self.is_rare(v[x] - times * n_valid, train[x] - times * n_train));
        }
        self.now + after - before
    }
}

/// Learns merges over `train` (units below `base`, with their layout). With a stopping
/// criterion, `valid` are the validation sequences it watches.
pub(crate) fn learn(
    base: u32,
    train: (Vec<u32>, Layout),
    valid: Option<(Vec<u32>, Layout)>,
    options: LearnOptions,
) -> Learned {
    let mut text = Text::new(train.0, train.1, base);
    let mut rare = match (options.stopping, valid) {
        (Some(stopping), Some((units, layout))) => {
            let valid = Text::new(units, layout, base);
            let mut rare = Rare {
                valid,
                below: stopping.rare_below,
                now: 0,
            };
            rare.now = (0..base as usize)
                .filter(|&t| rare.is_rare(rare.valid.types[t], text.types[t]))
                .count() as u64;
            Some((rare, stopping.max_rejections))
        }
        _ => None,
    };
    let mut learned = Learned {
        rare_types_before: rare.as_ref().map_or(0, |(r, _)| r.now),
        ..Learned::default()
    };
    let mut heap: BinaryHeap<(i64, Reverse<u64>)> =
        text.count.iter().map(|(&k, &c)| (c, Reverse(k))).collect();
    let mut rejected: FxHashSet<u64> = FxHashSet::default();
    while learned.merges.len() < options.max_merges {
        let Some(best) = pop_best(&mut heap, &text.count, &rejected, options.min_count) else {
            break;
        };
        let (a, b) = ((best >> 32) as u32, best as u32);
        let c = base + learned.merges.len() as u32;
        let positions = text.occurrences(a, b);
        if let Some((rare, max_rejections)) = rare.as_mut() {
            let in_valid = rare.valid.occurrences(a, b);
            let after = rare.after(
                &text.types,
                a,
                b,
                positions.len() as u64,
                in_valid.len() as u64,
            );
            let accepted = after == rare.now;
            learned.steps.push(Step {
                left: a,
                right: b,
                count: positions.len() as u64,
                accepted,
                rare_types: after,
            });
            if !accepted {
                rejected.insert(best);
                let rejections = learned.steps.iter().filter(|s| !s.accepted).count();
                if rejections >= *max_rejections {
                    break;
                }
                continue;
            }
            rare.valid.apply(a, b, c, &in_valid);
        }
        for grown in text.apply(a, b, c, &positions) {
            heap.push((text.count[&grown], Reverse(grown)));
        }
        learned.merges.push((a, b));
    }
    learned
}

/// The most frequent pair not rejected (ties: the smallest ids), if it occurs `min_count`
/// times. Heap entries are stale when a count has fallen since; they are re-queued.
fn pop_best(
    heap: &mut BinaryHeap<(i64, Reverse<u64>)>,
    count: &FxHashMap<u64, i64>,
    rejected: &FxHashSet<u64>,
    min_count: u64,
) -> Option<u64> {
    while let Some((c, Reverse(k))) = heap.pop() {
        if rejected.contains(&k) {
            continue;
        }
        let now = count.get(&k).copied().unwrap_or(0);
        if now != c {
            if now > 0 && now < c {
                heap.push((now, Reverse(k)));
            }
            continue;
        }
        return (c > 0 && c as u64 >= min_count).then_some(k);
    }
    None
}

//! Applying learnt merges to one sequence: the lowest-ranked admissible pair first, leftmost
//! among equals. Since the symbol a merge makes only takes part in later merges, this is the
//! same as applying every merge in creation order, each left to right without overlaps, which
//! is what training did.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::layout::Layout;

/// Merges by their pair, with their rank (merge `r` makes the symbol `base + r`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ranks {
    base: u32,
    rank: FxHashMap<(u32, u32), u32>,
}

impl Ranks {
    pub(crate) fn new(base: u32, merges: &[(u32, u32)]) -> Self {
        let rank = merges
            .iter()
            .enumerate()
            .map(|(r, &pair)| (pair, r as u32))
            .collect();
        Ranks { base, rank }
    }

    /// The ids of `units` (one sequence, laid out in `layout`) under the first `limit` merges,
    /// with the unit position where each symbol starts.
    pub(crate) fn encode(&self, units: &[u32], layout: &Layout, limit: usize) -> Vec<(u32, u32)> {
        let symbols: Vec<(u32, u32)> = units.iter().zip(0..).map(|(&u, i)| (u, i)).collect();
        self.encode_from(&symbols, units.len(), layout, limit)
    }

    /// [`Ranks::encode`] of `n` units that start out as `symbols` (id, first unit), in order:
    /// the same result as from the units, when no merge of the first `limit` can still apply
    /// inside one of the given symbols' spans without its neighbours.
    pub(crate) fn encode_from(
        &self,
        symbols: &[(u32, u32)],
        n: usize,
        layout: &Layout,
        limit: usize,
    ) -> Vec<(u32, u32)> {
        debug_assert_eq!(layout.len(), n);
        let mut sym = vec![0; n];
        let mut next = vec![n as u32; n];
        let mut prev = vec![u32::MAX; n];
        let mut alive = vec![false; n];
        for (k, &(id, at)) in symbols.iter().enumerate() {
            let at = at as usize;
            sym[at] = id;
            alive[at] = true;
            if let Some(&(_, following)) = symbols.get(k + 1) {
                next[at] = following;
                prev[following as usize] = at as u32;
            }
        }
        let rank_of = |a: u32, b: u32| {
            self.rank
                .get(&(a, b))
                .copied()
                .filter(|&r| (r as usize) < limit)
        };
        let mut heap: BinaryHeap<Reverse<(u32, u32)>> = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, sym: &[u32], next: &[u32], i: usize| {
            let j = next[i] as usize;
            if j < n && !layout.is_edge(j) {
                if let Some(r) = rank_of(sym[i], sym[j]) {
                    if layout.admissible(i, j, next[j] as usize) {
                        heap.push(Reverse((r, i as u32)));
                    }
                }
            }
        };
        for &(_, i) in symbols {
            push(&mut heap, &sym, &next, i as usize);
        }
        while let Some(Reverse((r, i))) = heap.pop() {
            let i = i as usize;
            let j = next[i] as usize;
            // Stale: `i` was absorbed, or its neighbour changed since the entry was made.
            if !alive[i] || j >= n || layout.is_edge(j) || rank_of(sym[i], sym[j]) != Some(r) {
                continue;
            }
            sym[i] = self.base + r;
            alive[j] = false;
            next[i] = next[j];
            if (next[i] as usize) < n && !layout.is_edge(next[i] as usize) {
                prev[next[i] as usize] = i as u32;
            }
            if !layout.is_edge(i) {
                push(&mut heap, &sym, &next, prev[i] as usize);
            }
            push(&mut heap, &sym, &next, i);
        }
        (0..n)
            .filter(|&i| alive[i])
            .map(|i| (sym[i], i as u32))
            .collect()
    }
}

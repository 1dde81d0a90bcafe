//! Where merges may happen: sequences of units, each with the syntax tree over it, stored flat.
//!
//! The one rule of AST-BPE is that a symbol is always a run of consecutive sibling subtrees of
//! one parent. For the boundary between units `j - 1` and `j` exactly one node has children
//! that meet there: the lowest node containing both units. Calling it `parent[j]`, two adjacent
//! symbols `[i, j)` and `[j, k)` may merge if and only if both are runs of children of
//! `P = parent[j]`, that is, `i` is P's start or a child boundary of P (`parent[i] == P`), and
//! likewise `k`. The check is O(1) and depends on positions only, so training and encoding
//! apply the same rule without ever comparing strings.
//!
//! Units a node covers that are not inside any of its children (the bytes of a leaf token,
//! whitespace between tokens) are its children one by one, so merges inside a leaf are free.

/// `parent` at a position that is no boundary: the first unit of a sequence, and the end.
pub(crate) const NONE: u32 = u32::MAX;

#[derive(Debug, Default, Clone)]
pub(crate) struct Layout {
    /// `parent[j]` for every unit position and one past the last; `NONE` where a sequence
    /// starts and at the end.
    parent: Vec<u32>,
    /// Per node, its span `[start, end)` in units and its depth (a sequence's root is 0).
    start: Vec<u32>,
    end: Vec<u32>,
    depth: Vec<u32>,
}

impl Layout {
    pub(crate) fn new() -> Self {
        Layout {
            parent: vec![NONE],
            ..Layout::default()
        }
    }

    /// Units in all sequences.
    pub(crate) fn len(&self) -> usize {
        self.parent.len() - 1
    }

    /// Appends a sequence of `units` units whose syntax tree has the nodes `spans`
    /// (`[start, end)` relative to the sequence, any order, properly nested; a root over the
    /// whole sequence is implied). A flat sequence (no spans) lets every merge happen: plain
    /// BPE.
    pub(crate) fn push(&mut self, units: usize, spans: &mut [(u32, u32)]) {
        if units == 0 {
            return;
        }
        let offset = self.len() as u32;
        let root = self.node(offset, offset + units as u32, 0);
        self.parent.pop();
        self.parent.push(NONE);
        self.parent
            .extend(std::iter::repeat_n(root, units.saturating_sub(1)));
        self.parent.push(NONE);
        // Parents before children, so a child's boundaries overwrite its parent's.
        spans.sort_unstable_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
        let mut open: Vec<u32> = Vec::new();
        for &(s, e) in spans.iter().filter(|(s, e)| e > s && e - s >= 2) {
            debug_assert!(e as usize <= units, "span beyond the sequence");
            let (s, e) = (offset + s, offset + e);
            while let Some(&top) = open.last() {
                if self.end[top as usize] >= e && self.start[top as usize] <= s {
                    break;
                }
                open.pop();
            }
            let id = self.node(s, e, open.len() as u32 + 1);
            open.push(id);
            for j in s + 1..e {
                self.parent[j as usize] = id;
            }
        }
    }

    fn node(&mut self, start: u32, end: u32, depth: u32) -> u32 {
        self.start.push(start);
        self.end.push(end);
        self.depth.push(depth);
        (self.start.len() - 1) as u32
    }

    /// Whether a sequence starts at `j` or the units end there.
    pub(crate) fn is_edge(&self, j: usize) -> bool {
        self.parent[j] == NONE
    }

    /// Whether the adjacent symbols `[i, j)` and `[j, k)` may merge (see the module docs).
    pub(crate) fn admissible(&self, i: usize, j: usize, k: usize) -> bool {
        let p = self.parent[j];
        p != NONE
            && (i == self.start[p as usize] as usize || self.parent[i] == p)
            && (k == self.end[p as usize] as usize || self.parent[k] == p)
    }

    /// Whether `[i, j)` (inside one sequence) is a run of consecutive siblings: a symbol AST-BPE
    /// could make. The shallowest node among its inner boundaries is the only candidate parent.
    pub(crate) fn is_run(&self, i: usize, j: usize) -> bool {
        let Some(p) = (i + 1..j)
            .map(|x| self.parent[x])
            .min_by_key(|&p| self.depth[p as usize])
        else {
            return true;
        };
        (i == self.start[p as usize] as usize || self.parent[i] == p)
            && (j == self.end[p as usize] as usize || self.parent[j] == p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `( ( a ) ) ;` as units 0..6 with parentheses [0, 5) and [1, 4).
    fn nested() -> Layout {
        let mut layout = Layout::new();
        layout.push(6, &mut [(1, 4), (0, 5)]);
        layout
    }

    #[test]
    fn merges_follow_sibling_runs() {
        let l = nested();
        assert!(l.admissible(1, 2, 3), "( a inside the inner parenthesis");
        assert!(l.admissible(2, 3, 4), "a ) inside the inner parenthesis");
        assert!(
            !l.admissible(0, 1, 2),
            "( ( would cut the inner parenthesis"
        );
        assert!(l.admissible(0, 1, 4), "( + the whole inner parenthesis");
        assert!(
            !l.admissible(3, 4, 5),
            ") ) would cut the inner parenthesis"
        );
        assert!(l.admissible(0, 5, 6), "the outer parenthesis + ;");
        assert!(
            !l.admissible(4, 5, 6),
            ") ; would cut the outer parenthesis"
        );
    }

    #[test]
    fn runs_agree_with_merges() {
        let l = nested();
        assert!(l.is_run(1, 4) && l.is_run(0, 6) && l.is_run(2, 3) && l.is_run(0, 4));
        assert!(!l.is_run(0, 2) && !l.is_run(3, 5) && !l.is_run(4, 6) && !l.is_run(2, 5));
    }

    #[test]
    fn sequences_never_merge_across() {
        let mut l = Layout::new();
        l.push(2, &mut []);
        l.push(2, &mut []);
        assert!(l.admissible(0, 1, 2) && l.admissible(2, 3, 4));
        assert!(l.is_edge(2) && !l.admissible(1, 2, 3));
    }
}

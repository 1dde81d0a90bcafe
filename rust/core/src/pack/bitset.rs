//! A 64-ary bit tree over `0..n`: insert, remove, "smallest member ≥ x" and "largest member"
//! in O(log64 n) word operations. It is the segment tree over free spaces that best-fit and
//! the histogram packers search; with 64 children per node it is three levels deep for any
//! realistic capacity, so each query touches about three cache lines.

pub(crate) struct BitTree {
    /// `levels[0]` holds one bit per member; bit `i` of `levels[k + 1]` says whether word `i`
    /// of `levels[k]` is non-zero.
    levels: Vec<Vec<u64>>,
}

impl BitTree {
    pub fn new(n: usize) -> Self {
        let mut levels = Vec::new();
        let mut words = n.div_ceil(64).max(1);
        loop {
            levels.push(vec![0u64; words]);
            if words == 1 {
                break;
            }
            words = words.div_ceil(64);
        }
        BitTree { levels }
    }

    #[inline]
    pub fn insert(&mut self, mut i: usize) {
        for level in &mut self.levels {
            let word = &mut level[i >> 6];
            let was_empty = *word == 0;
            *word |= 1u64 << (i & 63);
            if !was_empty {
                return;
            }
            i >>= 6;
        }
    }

    #[inline]
    pub fn remove(&mut self, mut i: usize) {
        for level in &mut self.levels {
            let word = &mut level[i >> 6];
            *word &= !(1u64 << (i & 63));
            if *word != 0 {
                return;
            }
            i >>= 6;
        }
    }

    /// The smallest member that is at least `i`.
    #[inline]
    pub fn next_at_or_after(&self, i: usize) -> Option<usize> {
        let mut level = 0;
        let mut index = i;
        // Climb until some word has a member at or after `index`.
        loop {
            let words = self.levels.get(level)?;
            let w = index >> 6;
            let word = *words.get(w)?;
            let masked = word & (!0u64 << (index & 63));
            if masked != 0 {
                index = (w << 6) | masked.trailing_zeros() as usize;
                break;
            }
            index = w + 1;
            level += 1;
        }
        // Descend along the lowest set bits.
        while level > 0 {
            level -= 1;
            index = (index << 6) | self.levels[level][index].trailing_zeros() as usize;
        }
        Some(index)
    }

    /// The largest member.
    #[inline]
    pub fn last(&self) -> Option<usize> {
        let top = self.levels.len() - 1;
        if self.levels[top][0] == 0 {
            return None;
        }
        let mut index = 63 - self.levels[top][0].leading_zeros() as usize;
        for level in (0..top).rev() {
            let word = self.levels[level][index];
            index = (index << 6) | (63 - word.leading_zeros() as usize);
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::BitTree;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn behaves_like_an_ordered_set(
            n in 1usize..20_000,
            ops in prop::collection::vec((any::<bool>(), any::<u32>(), any::<u32>()), 1..300),
        ) {
            let mut tree = BitTree::new(n);
            let mut set = BTreeSet::new();
            for (insert, a, b) in ops {
                let i = a as usize % n;
                if insert { tree.insert(i); set.insert(i); } else { tree.remove(i); set.remove(&i); }
                let q = b as usize % (n + 1);
                prop_assert_eq!(tree.next_at_or_after(q), set.range(q..).next().copied());
                prop_assert_eq!(tree.last(), set.iter().next_back().copied());
            }
        }
    }
}

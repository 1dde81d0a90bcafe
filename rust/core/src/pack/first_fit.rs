//! First-fit decreasing: items longest first, each into the lowest-numbered open pack with
//! room, found with a max segment tree over the packs' free space.

use super::Packing;
use super::assemble;
use super::items::SortedItems;
use crate::buffer;

/// Max segment tree over a growable array of packs; full packs (or packs at the depth cap)
/// hold 0, which no item fits, since items have at least one token.
struct MaxTree {
    leaves: usize,
    node: Vec<u32>,
}

impl MaxTree {
    fn new() -> Self {
        MaxTree {
            leaves: 1,
            node: vec![0; 2],
        }
    }

    fn grow(&mut self) {
        let leaves = self.leaves * 2;
        let mut node = vec![0u32; 2 * leaves];
        node[leaves..leaves + self.leaves].copy_from_slice(&self.node[self.leaves..]);
        for k in (1..leaves).rev() {
            node[k] = node[2 * k].max(node[2 * k + 1]);
        }
        self.leaves = leaves;
        self.node = node;
    }

    fn set(&mut self, pack: usize, value: u32) {
        let mut k = pack + self.leaves;
        self.node[k] = value;
        while k > 1 {
            k /= 2;
            let best = self.node[2 * k].max(self.node[2 * k + 1]);
            if self.node[k] == best {
                break;
            }
            self.node[k] = best;
        }
    }

    /// The lowest pack with at least `size` free.
    fn first_at_least(&self, size: u32) -> Option<usize> {
        if self.node[1] < size {
            return None;
        }
        let mut k = 1;
        while k < self.leaves {
            k = if self.node[2 * k] >= size {
                2 * k
            } else {
                2 * k + 1
            };
        }
        Some(k - self.leaves)
    }
}

pub(crate) fn decreasing(mut sorted: SortedItems, capacity: u32, depth_cap: u32) -> Packing {
    let mut tree = MaxTree::new();
    let mut space: Vec<u32> = buffer::with_capacity(sorted.count());
    let mut depth: Vec<u32> = buffer::with_capacity(sorted.count());
    for (size, run) in sorted.runs() {
        for slot in run {
            let pack = match tree.first_at_least(size) {
                Some(pack) => pack,
                None => {
                    if space.len() == tree.leaves {
                        tree.grow();
                    }
                    space.push(capacity);
                    depth.push(0);
                    space.len() - 1
                }
            };
            sorted.place(slot, pack as u32);
            space[pack] -= size;
            depth[pack] += 1;
            let room = if depth[pack] < depth_cap {
                space[pack]
            } else {
                0
            };
            tree.set(pack, room);
        }
    }
    assemble::from_sorted_assignment(sorted, assemble::depth_offsets(&depth))
}

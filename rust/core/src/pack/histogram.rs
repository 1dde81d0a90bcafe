//! Graphcore's histogram packers (Krell et al., 2021). Items of equal length are
//! interchangeable, so these work on the length histogram: a *group* is `count` identical
//! packs with the same list of lengths (a "strategy"), and placing a length moves as many
//! items at once as the group and the histogram allow. The work after the histogram depends
//! on the capacity and on how many distinct groups arise, not on N; only handing out the
//! concrete items at the end is O(N).
//!
//! - SPFHP (shortest-pack-first): lengths longest first; each goes into the group with the
//!   *most* free space (worst fit), one item per pack.
//! - LPFHP (longest-pack-first): each length goes into the group with the *least* sufficient
//!   free space (best fit), and as many copies per pack as fit, the depth cap and the remaining
//!   count allow.
//!
//! Groups with equal free space are kept in a stack (the newest is extended first).

use super::assemble::{ItemPacks, PacksByLength};
use super::bitset::BitTree;
use super::items::SortedItems;

const ROOT: u32 = u32::MAX;

/// A strategy as a persistent list: the lengths of a pack are this node's `repeat` copies of
/// `length` plus those of `parent`. Extending a group shares its prefix instead of copying.
struct Node {
    parent: u32,
    length: u32,
    repeat: u32,
    depth: u32,
}

struct Groups {
    depth_cap: u32,
    nodes: Vec<Node>,
    /// Open groups, one stack per free space, as (pack count, strategy node).
    by_space: Vec<Vec<(u64, u32)>>,
    spaces: BitTree,
    /// Groups that are full or at the depth cap.
    closed: Vec<(u64, u32)>,
}

impl Groups {
    fn new(capacity: u32, depth_cap: u32) -> Self {
        let capacity = capacity as usize;
        Groups {
            depth_cap,
            nodes: Vec::new(),
            by_space: vec![Vec::new(); capacity + 1],
            spaces: BitTree::new(capacity + 1),
            closed: Vec::new(),
        }
    }

    fn take(&mut self, space: usize) -> (u64, u32) {
        let stack = &mut self.by_space[space];
        let group = stack.pop().expect("bit tree lists only non-empty stacks");
        if stack.is_empty() {
            self.spaces.remove(space);
        }
        group
    }

    fn put_back(&mut self, space: usize, group: (u64, u32)) {
        if self.by_space[space].is_empty() {
            self.spaces.insert(space);
        }
        self.by_space[space].push(group);
    }

    /// Adds `count` packs made of `parent`'s lengths plus `repeat` × `length`, with `space`
    /// tokens still free.
    fn add(&mut self, count: u64, parent: u32, length: u32, repeat: u32, space: usize) {
        if count == 0 {
            return;
        }
        let depth = repeat
            + if parent == ROOT {
                0
            } else {
                self.nodes[parent as usize].depth
            };
        self.nodes.push(Node {
            parent,
            length,
            repeat,
            depth,
        });
        let group = (count, (self.nodes.len() - 1) as u32);
        if space == 0 || depth >= self.depth_cap {
            self.closed.push(group);
        } else {
            self.put_back(space, group);
        }
    }

    fn depth(&self, node: u32) -> u32 {
        self.nodes[node as usize].depth
    }

    /// Hands out concrete items: every pack of a group takes, per length in its strategy, the
    /// next unused items of that length in `sorted` order.
    fn into_packs(self, sorted: &SortedItems) -> ItemPacks {
        let open = self.by_space.iter().flatten();
        let mut packs = PacksByLength::new(sorted, sorted.count());
        let mut chain = Vec::new();
        for &(count, leaf) in self.closed.iter().chain(open) {
            chain.clear();
            let mut node = leaf;
            while node != ROOT {
                chain.push(node);
                node = self.nodes[node as usize].parent;
            }
            for _ in 0..count {
                // Root first: lengths in the order they were placed, longest first.
                for &node in chain.iter().rev() {
                    let Node { length, repeat, .. } = self.nodes[node as usize];
                    packs.take(length, repeat as usize);
                }
                packs.close();
            }
        }
        packs.finish()
    }
}

pub(crate) fn shortest_pack_first(
    sorted: &SortedItems,
    capacity: u32,
    depth_cap: u32,
) -> ItemPacks {
    let mut groups = Groups::new(capacity, depth_cap);
    for length in (1..=capacity).rev() {
        let size = length as usize;
        let mut left = sorted.items.histogram[size];
        while left > 0 {
            match groups.spaces.last().filter(|&space| space >= size) {
                Some(space) => {
                    let (count, node) = groups.take(space);
                    let moved = count.min(left);
                    if count > moved {
                        groups.put_back(space, (count - moved, node));
                    }
                    groups.add(moved, node, length, 1, space - size);
                    left -= moved;
                }
                None => {
                    groups.add(left, ROOT, length, 1, capacity as usize - size);
                    left = 0;
                }
            }
        }
    }
    groups.into_packs(sorted)
}

pub(crate) fn longest_pack_first(sorted: &SortedItems, capacity: u32, depth_cap: u32) -> ItemPacks {
    let mut groups = Groups::new(capacity, depth_cap);
    for length in (1..=capacity).rev() {
        let size = length as usize;
        let mut left = sorted.items.histogram[size];
        while left > 0 {
            match groups.spaces.next_at_or_after(size) {
                Some(space) => {
                    let (count, node) = groups.take(space);
                    let fits = (space / size) as u64;
                    let allowed = u64::from(depth_cap - groups.depth(node));
                    let repeat = fits.min(allowed).min(left);
                    let moved = count.min(left / repeat);
                    if count > moved {
                        groups.put_back(space, (count - moved, node));
                    }
                    groups.add(
                        moved,
                        node,
                        length,
                        repeat as u32,
                        space - repeat as usize * size,
                    );
                    left -= moved * repeat;
                }
                None => {
                    let fits = u64::from(capacity / length);
                    let repeat = fits.min(u64::from(depth_cap)).min(left);
                    let count = left / repeat;
                    let space = capacity as usize - repeat as usize * size;
                    groups.add(count, ROOT, length, repeat as u32, space);
                    left -= count * repeat;
                }
            }
        }
    }
    groups.into_packs(sorted)
}

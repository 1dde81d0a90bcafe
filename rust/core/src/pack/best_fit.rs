//! Best-fit decreasing: items longest first, each into the open pack whose free space is the
//! smallest that still holds it (ties: the pack that reached that free space most recently),
//! or into a new pack.

use std::collections::BTreeSet;

use super::Packing;
use super::assemble;
use super::bitset::BitTree;
use super::items::SortedItems;
use crate::buffer;

/// OBFD: the items arrive counting-sorted, and open packs are kept in one stack per free
/// space with a bit tree over the non-empty stacks, so each placement is one "smallest free
/// space ≥ size" query: O(N log64 L) after an O(N + L) sort. A stack entry carries its
/// pack's depth, so the hot loop never touches per-pack memory at random; a pack's final
/// depth is written once, when it closes (or at the end).
pub(crate) fn optimized(sorted: &SortedItems, capacity: u32, depth_cap: u32) -> Packing {
    let cap = capacity as usize;
    let mut by_space: Vec<Vec<(u32, u32)>> = vec![Vec::new(); cap + 1];
    let mut spaces = BitTree::new(cap + 1);
    let mut depth_of: Vec<u32> = buffer::with_capacity(sorted.order.len());
    let mut pack_of = buffer::with_capacity(sorted.order.len());
    for (size, run) in sorted.runs() {
        let size = size as usize;
        for _ in run {
            let ((pack, depth), space) = match spaces.next_at_or_after(size) {
                Some(space) => {
                    let stack = &mut by_space[space];
                    let open = stack.pop().expect("bit tree lists only non-empty stacks");
                    if stack.is_empty() {
                        spaces.remove(space);
                    }
                    (open, space)
                }
                None => {
                    depth_of.push(0);
                    (((depth_of.len() - 1) as u32, 0), cap)
                }
            };
            pack_of.push(pack);
            let depth = depth + 1;
            let left = space - size;
            if left > 0 && depth < depth_cap {
                if by_space[left].is_empty() {
                    spaces.insert(left);
                }
                by_space[left].push((pack, depth));
            } else {
                depth_of[pack as usize] = depth;
            }
        }
    }
    for &(pack, depth) in by_space.iter().flatten() {
        depth_of[pack as usize] = depth;
    }
    assemble::from_sorted_assignment(sorted.items, sorted, &pack_of, &depth_of)
}

/// Textbook best-fit decreasing over an ordered set of (free space, arrival, pack). It makes
/// the same choices as [`optimized`] by construction and exists as an independent check.
pub(crate) fn ordered_set(sorted: &SortedItems, capacity: u32, depth_cap: u32) -> Packing {
    let items = sorted.items;
    let mut order = sorted.order.clone();
    // A comparison sort, as the textbook does; stable, so ties keep item order.
    order.sort_by_key(|&item| std::cmp::Reverse(items.len(item as usize)));
    let mut open: BTreeSet<(u32, u64, u32)> = BTreeSet::new();
    let mut arrivals = 0u64;
    let mut depth: Vec<u32> = Vec::new();
    let mut pack_of = Vec::with_capacity(order.len());
    for &item in &order {
        let size = items.len(item as usize);
        let fit = open
            .range((size, 0, 0)..)
            .next()
            .map(|&(space, _, _)| space);
        let (pack, space) = match fit {
            Some(space) => {
                let latest = *open
                    .range(..(space + 1, 0, 0))
                    .next_back()
                    .expect("a pack with this free space exists");
                open.remove(&latest);
                (latest.2, space)
            }
            None => {
                depth.push(0);
                ((depth.len() - 1) as u32, capacity)
            }
        };
        pack_of.push(pack);
        let d = &mut depth[pack as usize];
        *d += 1;
        let left = space - size;
        if left > 0 && *d < depth_cap {
            open.insert((left, arrivals, pack));
            arrivals += 1;
        }
    }
    assemble::from_assignment(sorted.items, &order, &pack_of, &depth)
}

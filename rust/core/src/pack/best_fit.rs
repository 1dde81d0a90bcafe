//! Best-fit decreasing: items longest first, each into the open pack whose free space is the
//! smallest that still holds it (ties: the pack that reached that free space most recently),
//! or into a new pack.

use std::collections::BTreeSet;

use super::Packing;
use super::assemble;
use super::bitset::BitTree;
use super::items::{Items, SortedItems};
use crate::buffer;

/// OBFD: the items arrive counting-sorted, and open packs are kept in one stack per free
/// space with a bit tree over the non-empty stacks, so finding a pack is one "smallest free
/// space ≥ size" query: O(N log64 L) after an O(N + L) sort. A stack entry carries its
/// pack's depth, so the loop never touches per-pack memory at random; a pack's final depth
/// is written once, when it closes (or at the end), into the slot of the offsets that will
/// hold its end.
///
/// Items of one length are placed a pack at a time, which makes exactly the per-item
/// choices: the pack that takes an item of size `s` out of free space `f` is left with
/// `f - s`, and if that still holds `s` it is now the smallest such space and the newest on
/// its stack, so the next item of the run goes there too. A pack therefore takes
/// `min(items left, f / s, depth room)` items at once. Likewise, once no open pack holds `s`,
/// every remaining item of the run goes into fresh packs, `min(L / s, depth cap)` to a pack.
pub(crate) fn optimized(mut sorted: SortedItems, capacity: u32, depth_cap: u32) -> Packing {
    let cap = capacity as usize;
    let mut by_space: Vec<Vec<(u32, u32)>> = vec![Vec::new(); cap + 1];
    let mut spaces = BitTree::new(cap + 1);
    // offsets[p + 1] holds pack p's depth until the assembly turns depths into offsets.
    let mut offsets: Vec<i64> = buffer::with_capacity(sorted.count() + 1);
    offsets.push(0);
    for (size, run) in sorted.runs() {
        let size = size as usize;
        let mut slot = run.start;
        while slot < run.end {
            let Some(space) = spaces.next_at_or_after(size) else {
                let mut fresh = FreshPacks {
                    by_space: &mut by_space,
                    spaces: &mut spaces,
                    offsets: &mut offsets,
                };
                fresh.take(&mut sorted, slot..run.end, size, cap, depth_cap);
                break;
            };
            let stack = &mut by_space[space];
            let (pack, depth) = stack.pop().expect("bit tree lists only non-empty stacks");
            if stack.is_empty() {
                spaces.remove(space);
            }
            let taken = (run.end - slot)
                .min(space / size)
                .min((depth_cap - depth) as usize);
            for s in slot..slot + taken {
                sorted.place(s, pack);
            }
            slot += taken;
            let depth = depth + taken as u32;
            let room = space - taken * size;
            if room > 0 && depth < depth_cap {
                if by_space[room].is_empty() {
                    spaces.insert(room);
                }
                by_space[room].push((pack, depth));
            } else {
                offsets[pack as usize + 1] = i64::from(depth);
            }
        }
    }
    for &(pack, depth) in by_space.iter().flatten() {
        offsets[pack as usize + 1] = i64::from(depth);
    }
    assemble::from_sorted_assignment(sorted, offsets)
}

/// The open packs of [`optimized`], for the end of a run that no open pack holds.
struct FreshPacks<'a> {
    by_space: &'a mut [Vec<(u32, u32)>],
    spaces: &'a mut BitTree,
    offsets: &'a mut Vec<i64>,
}

impl FreshPacks<'_> {
    /// Opens fresh packs for the items in `slots`, all of size `size`: each new pack takes as
    /// many as fit (and the depth cap allows), in order.
    fn take(
        &mut self,
        sorted: &mut SortedItems,
        slots: std::ops::Range<usize>,
        size: usize,
        cap: usize,
        depth_cap: u32,
    ) {
        let per_pack = (cap / size).min(depth_cap as usize);
        let mut slot = slots.start;
        while slot < slots.end {
            let pack = (self.offsets.len() - 1) as u32;
            let taken = (slots.end - slot).min(per_pack);
            for s in slot..slot + taken {
                sorted.place(s, pack);
            }
            slot += taken;
            let depth = taken as u32;
            let room = cap - taken * size;
            if room > 0 && depth < depth_cap {
                if self.by_space[room].is_empty() {
                    self.spaces.insert(room);
                }
                self.by_space[room].push((pack, depth));
                self.offsets.push(0);
            } else {
                self.offsets.push(i64::from(depth));
            }
        }
    }
}

/// Textbook best-fit decreasing over an ordered set of (free space, arrival, pack). It makes
/// the same choices as [`optimized`] by construction and exists as an independent check.
pub(crate) fn ordered_set(items: &Items, capacity: u32, depth_cap: u32) -> Packing {
    let mut order: Vec<u32> = (0..items.count() as u32).collect();
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
    assemble::from_assignment(items, &order, &pack_of, assemble::depth_offsets(&depth))
}

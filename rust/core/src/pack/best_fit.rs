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
    let mut open = OpenPacks::new(cap, sorted.count());
    for (size, run) in sorted.runs() {
        let size = size as usize;
        let mut slot = run.start;
        // Once no open pack holds `size`, none will for the rest of the run: fresh packs are
        // left with less than `size` free, or closed at the depth cap.
        let mut none_fits = false;
        while slot < run.end {
            let fit = if none_fits {
                None
            } else {
                open.take_best_fit(size)
            };
            let (pack, depth, space) = fit.unwrap_or_else(|| {
                none_fits = true;
                (open.fresh(), 0, cap)
            });
            // Mostly one copy fits; the division is only paid where more do.
            let fits = if space < 2 * size { 1 } else { space / size };
            let taken = (run.end - slot).min(fits).min((depth_cap - depth) as usize);
            for s in slot..slot + taken {
                sorted.place(s, pack);
            }
            slot += taken;
            let depth = depth + taken as u32;
            let room = space - taken * size;
            if room > 0 && depth < depth_cap {
                open.put(pack, depth, room);
            } else {
                open.close(pack, depth);
            }
        }
    }
    assemble::from_sorted_assignment(sorted, open.into_depths())
}

/// The packs of [`optimized`]: open ones in one stack per free space, as (pack, depth), with
/// a bit tree over the non-empty stacks; closed ones by their depth alone.
struct OpenPacks {
    by_space: Vec<Vec<(u32, u32)>>,
    spaces: BitTree,
    /// `depths[p + 1]` is the depth of pack `p` once it is closed (see
    /// [`assemble::depth_offsets`]), so the assembly turns it into the offsets in place.
    depths: Vec<i64>,
}

impl OpenPacks {
    fn new(capacity: usize, items: usize) -> Self {
        let mut depths = buffer::with_capacity(items + 1);
        depths.push(0);
        OpenPacks {
            by_space: vec![Vec::new(); capacity + 1],
            spaces: BitTree::new(capacity + 1),
            depths,
        }
    }

    /// Removes and returns the open pack with the least free space that holds `size`
    /// (the newest among equals), as (pack, depth, free space).
    #[inline]
    fn take_best_fit(&mut self, size: usize) -> Option<(u32, u32, usize)> {
        let space = self.spaces.next_at_or_after(size)?;
        let stack = &mut self.by_space[space];
        let (pack, depth) = stack.pop().expect("bit tree lists only non-empty stacks");
        if stack.is_empty() {
            self.spaces.remove(space);
        }
        Some((pack, depth, space))
    }

    /// A new, empty pack (not yet open: [`put`](Self::put) or [`close`](Self::close) it).
    fn fresh(&mut self) -> u32 {
        self.depths.push(0);
        (self.depths.len() - 2) as u32
    }

    #[inline]
    fn put(&mut self, pack: u32, depth: u32, space: usize) {
        if self.by_space[space].is_empty() {
            self.spaces.insert(space);
        }
        self.by_space[space].push((pack, depth));
    }

    #[inline]
    fn close(&mut self, pack: u32, depth: u32) {
        self.depths[pack as usize + 1] = i64::from(depth);
    }

    fn into_depths(mut self) -> Vec<i64> {
        for &(pack, depth) in self.by_space.iter().flatten() {
            self.depths[pack as usize + 1] = i64::from(depth);
        }
        self.depths
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

//! From an assignment of items to packs to the public CSR [`Packing`], and the seeded shuffle
//! of pack order and of entries inside each pack.

use super::Packing;
use super::bounds::LowerBounds;
use super::items::{Items, SortedItems, halves, slot_starts, word};
use crate::buffer;
use crate::rng::SplitMix64;

/// Packs as lists of item indices, for algorithms that build packs one after another:
/// pack `p` holds `items[offsets[p]..offsets[p + 1]]`, and `len[e]` is the length of
/// `items[e]` (carried along so that no pass looks lengths up in item order).
pub(crate) struct ItemPacks {
    pub offsets: Vec<usize>,
    pub items: Vec<u32>,
    pub len: Vec<u32>,
}

/// Builds [`ItemPacks`] from packs described by lengths: each pack takes the next unused
/// items of the lengths it asks for (items of one length in slot order), so a packer that
/// decides only how many items of each length a pack holds (the histogram packers, `exact`,
/// `nnlshp`) never handles item indices itself.
pub(crate) struct PacksByLength<'s, 'a> {
    sorted: &'s SortedItems<'a>,
    next: Vec<usize>,
    end: Vec<usize>,
    packs: ItemPacks,
}

impl<'s, 'a> PacksByLength<'s, 'a> {
    pub fn new(sorted: &'s SortedItems<'a>, packs_hint: usize) -> Self {
        let histogram = &sorted.items.histogram;
        let next = slot_starts(histogram);
        let end = next
            .iter()
            .zip(histogram)
            .map(|(&start, &count)| start + count as usize)
            .collect();
        let mut offsets = buffer::with_capacity(packs_hint + 1);
        offsets.push(0usize);
        PacksByLength {
            sorted,
            next,
            end,
            packs: ItemPacks {
                offsets,
                items: buffer::with_capacity(sorted.count()),
                len: buffer::with_capacity(sorted.count()),
            },
        }
    }

    /// Adds up to `copies` unused items of `length` to the open pack; returns how many there
    /// were.
    pub fn take(&mut self, length: u32, copies: usize) -> usize {
        let l = length as usize;
        let take = copies.min(self.end[l] - self.next[l]);
        let sorted = self.sorted;
        let first = self.next[l];
        self.packs
            .items
            .extend((first..first + take).map(|slot| sorted.item(slot)));
        self.packs.len.extend(std::iter::repeat_n(length, take));
        self.next[l] += take;
        take
    }

    /// Items in the open pack so far.
    pub fn open_len(&self) -> usize {
        self.packs.items.len() - self.packs.offsets[self.packs.offsets.len() - 1]
    }

    /// Closes the open pack.
    pub fn close(&mut self) {
        self.packs.offsets.push(self.packs.items.len());
    }

    /// Every item not yet placed, each in a pack of its own, longest first.
    pub fn rest_alone(&mut self) {
        for length in (1..self.next.len() as u32).rev() {
            while self.take(length, 1) == 1 {
                self.close();
            }
        }
    }

    pub fn finish(self) -> ItemPacks {
        debug_assert_eq!(self.packs.items.len(), self.sorted.count());
        self.packs
    }
}

/// The packing for greedy algorithms: every slot of `sorted` is placed, and pack `p`
/// received `depths[p + 1]` items (see [`depth_offsets`]). Entries keep placement order
/// inside a pack.
pub(crate) fn from_sorted_assignment(sorted: SortedItems, depths: Vec<i64>) -> Packing {
    let items = sorted.items;
    let n = sorted.count();
    let mut offsets = starts_of_packs(depths);
    // First pass, in slot order: each item goes to its pack's next entry as one word of
    // (item, length), so besides the pack cursors the only random writes are to `doc`.
    let mut doc = buffer::zeroed::<i64>(n);
    for (length, run) in sorted.runs() {
        for slot in run {
            let (item, pack) = sorted.placed(slot);
            let cursor = &mut offsets[pack as usize];
            doc[*cursor as usize] = word(item, length);
            *cursor += 1;
        }
    }
    restore_starts(&mut offsets);
    // Second pass, in entry order: split the words into document and length, the lengths
    // going into the slots' memory, which is no longer needed.
    let mut length = sorted.into_storage();
    let mut start = buffer::zeroed::<i64>(n);
    if items.are_whole_documents() {
        // Whole documents all start at 0: leaving `start` unwritten keeps its pages untouched.
        for (d, l) in doc.iter_mut().zip(length.iter_mut()) {
            let (item, len) = halves(*d);
            *d = i64::from(item);
            *l = i64::from(len);
        }
    } else {
        for e in 0..n {
            let (item, len) = halves(doc[e]);
            doc[e] = items.doc(item as usize) as i64;
            start[e] = items.start(item as usize) as i64;
            length[e] = i64::from(len);
        }
    }
    packing(items, offsets, doc, start, length)
}

/// The packing for items placed in an arbitrary `order`: the `i`-th went into pack
/// `pack_of[i]`, and pack `p` received `depths[p + 1]` items.
pub(crate) fn from_assignment(
    items: &Items,
    order: &[u32],
    pack_of: &[u32],
    depths: Vec<i64>,
) -> Packing {
    let n = pack_of.len();
    let mut offsets = starts_of_packs(depths);
    let mut doc = buffer::zeroed::<i64>(n);
    let mut start = buffer::zeroed::<i64>(n);
    let mut length = buffer::zeroed::<i64>(n);
    let write_starts = !items.are_whole_documents();
    for (&item, &p) in order.iter().zip(pack_of) {
        let cursor = &mut offsets[p as usize];
        let e = *cursor as usize;
        doc[e] = items.doc(item as usize) as i64;
        if write_starts {
            start[e] = items.start(item as usize) as i64;
        }
        length[e] = i64::from(items.len(item as usize));
        *cursor += 1;
    }
    restore_starts(&mut offsets);
    packing(items, offsets, doc, start, length)
}

/// Pack depths in the shape the assembly takes: element `p + 1` is the depth of pack `p`,
/// element 0 is 0, so that one prefix sum turns them into the output's offsets in place.
pub(crate) fn depth_offsets(depth: &[u32]) -> Vec<i64> {
    let mut offsets = buffer::with_capacity(depth.len() + 1);
    offsets.push(0);
    offsets.extend(depth.iter().map(|&d| i64::from(d)));
    offsets
}

/// From depths (see [`depth_offsets`]) to each pack's first entry at `offsets[p]`. The
/// assembly fills pack `p` through `offsets[p]` as its cursor, which ends at the pack's end;
/// [`restore_starts`] then shifts the array by one, so no second cursor array is needed.
fn starts_of_packs(mut offsets: Vec<i64>) -> Vec<i64> {
    for p in 1..offsets.len() {
        offsets[p] += offsets[p - 1];
    }
    offsets
}

fn restore_starts(offsets: &mut [i64]) {
    let num_packs = offsets.len() - 1;
    offsets.copy_within(0..num_packs, 1);
    offsets[0] = 0;
}

/// The packing for algorithms that produce packs as lists.
pub(crate) fn from_packs(items: &Items, packs: ItemPacks) -> Packing {
    let n = packs.items.len();
    let mut doc = buffer::with_capacity(n);
    let mut start = buffer::with_capacity(n);
    let mut length = buffer::with_capacity(n);
    for (&item, &len) in packs.items.iter().zip(&packs.len) {
        doc.push(items.doc(item as usize) as i64);
        start.push(items.start(item as usize) as i64);
        length.push(i64::from(len));
    }
    let mut offsets = buffer::with_capacity(packs.offsets.len());
    offsets.extend(packs.offsets.iter().map(|&o| o as i64));
    packing(items, offsets, doc, start, length)
}

fn packing(
    items: &Items,
    pack_offsets: Vec<i64>,
    doc: Vec<i64>,
    start: Vec<i64>,
    length: Vec<i64>,
) -> Packing {
    Packing {
        capacity: 0,
        pack_offsets,
        doc,
        start,
        length,
        placed_tokens: items.placed_tokens,
        truncated_tokens: items.truncated_tokens,
        bounds: LowerBounds::default(),
        seconds: 0.0,
    }
}

/// Shuffles the order of packs and of the entries inside each pack.
pub(crate) fn shuffle(packing: &mut Packing, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<u32> = (0..packing.num_packs() as u32).collect();
    rng.shuffle(&mut order);
    let n = packing.doc.len();
    let mut offsets = buffer::with_capacity(order.len() + 1);
    let mut entries: Vec<(i64, i64, i64)> = buffer::with_capacity(n);
    offsets.push(0);
    for &p in &order {
        let range = packing.pack_offsets[p as usize] as usize
            ..packing.pack_offsets[p as usize + 1] as usize;
        let begin = entries.len();
        entries.extend(range.map(|e| (packing.doc[e], packing.start[e], packing.length[e])));
        rng.shuffle(&mut entries[begin..]);
        offsets.push(entries.len() as i64);
    }
    packing.pack_offsets = offsets;
    for (e, (d, s, l)) in entries.into_iter().enumerate() {
        packing.doc[e] = d;
        packing.start[e] = s;
        packing.length[e] = l;
    }
}

//! From an assignment of items to packs to the public CSR [`Packing`], and the seeded shuffle
//! of pack order and of entries inside each pack.

use super::Packing;
use super::bounds::LowerBounds;
use super::items::{Items, SortedItems};
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

/// The packing for greedy algorithms: the `i`-th item in sorted order went into pack
/// `pack_of[i]`, and pack `p` received `depths[p + 1]` items (see [`depth_offsets`]). Entries
/// keep placement order inside a pack.
pub(crate) fn from_sorted_assignment(
    items: &Items,
    sorted: &SortedItems,
    pack_of: &[u32],
    depths: Vec<i64>,
) -> Packing {
    let placed = sorted
        .runs()
        .flat_map(|(length, run)| run.iter().map(move |&item| (item, length)));
    scatter(items, placed, pack_of, depths)
}

/// As [`from_sorted_assignment`] for items placed in an arbitrary `order`.
pub(crate) fn from_assignment(
    items: &Items,
    order: &[u32],
    pack_of: &[u32],
    depths: Vec<i64>,
) -> Packing {
    let placed = order.iter().map(|&item| (item, items.len(item as usize)));
    scatter(items, placed, pack_of, depths)
}

/// Pack depths in the shape the assembly takes: element `p + 1` is the depth of pack `p`,
/// element 0 is 0, so that one prefix sum turns them into the output's offsets in place.
pub(crate) fn depth_offsets(depth: &[u32]) -> Vec<i64> {
    let mut offsets = buffer::with_capacity(depth.len() + 1);
    offsets.push(0);
    offsets.extend(depth.iter().map(|&d| i64::from(d)));
    offsets
}

/// Writes each placed (item, length) straight into its pack's slot of the output arrays:
/// offsets from the depths, one scatter, no intermediate per-pack lists.
fn scatter(
    items: &Items,
    placed: impl Iterator<Item = (u32, u32)>,
    pack_of: &[u32],
    mut offsets: Vec<i64>,
) -> Packing {
    let num_packs = offsets.len() - 1;
    // The prefix sum makes offsets[p] the first entry of pack p.
    for p in 1..=num_packs {
        offsets[p] += offsets[p - 1];
    }
    let n = pack_of.len();
    let mut doc = buffer::zeroed::<i64>(n);
    let mut start = buffer::zeroed::<i64>(n);
    let mut length = buffer::zeroed::<i64>(n);
    // Whole documents all start at 0: leaving `start` unwritten keeps its pages untouched.
    let write_starts = !items.are_whole_documents();
    // Fill each pack through its own offset, which ends up at the pack's end; shifting the
    // array by one then restores the starts without a second cursor array.
    for ((item, len), &p) in placed.zip(pack_of) {
        let slot = &mut offsets[p as usize];
        let e = *slot as usize;
        doc[e] = items.doc(item as usize) as i64;
        if write_starts {
            start[e] = items.start(item as usize) as i64;
        }
        length[e] = i64::from(len);
        *slot += 1;
    }
    offsets.copy_within(0..num_packs, 1);
    offsets[0] = 0;
    packing(items, offsets, doc, start, length)
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

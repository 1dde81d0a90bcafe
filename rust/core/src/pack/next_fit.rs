//! Order-preserving packers: next-fit, and concatenate-and-chunk ("wrapped").

use super::assemble::ItemPacks;
use super::items::Items;
use super::{LongDocs, PackOptions};
use crate::buffer;

/// Next-fit: items in order into the one open pack; a new pack when the item does not fit
/// or the pack is at the depth cap. Order-preserving, O(N), and about 2× the optimum at worst.
pub(crate) fn in_order(items: &Items, capacity: u32, depth_cap: u32) -> ItemPacks {
    let count = items.count();
    let mut offsets = buffer::with_capacity(count + 1);
    let mut len = buffer::with_capacity(count);
    offsets.push(0);
    let mut space = 0u32;
    let mut depth = depth_cap;
    items.for_each_len(|index, size| {
        if size > space || depth == depth_cap {
            if index > 0 {
                offsets.push(index);
            }
            space = capacity;
            depth = 0;
        }
        space -= size;
        depth += 1;
        len.push(size);
    });
    if count > 0 {
        offsets.push(count);
    }
    ItemPacks {
        offsets,
        items: (0..count as u32).collect(),
        len,
    }
}

/// Concatenate-and-chunk: documents in input order laid end to end and cut every `capacity`
/// tokens (or after `max_docs_per_pack` pieces), so a document may straddle packs. This is the
/// baseline that causes cross-contamination when rows are attended to as one sequence; its
/// pieces still carry (document, start), so the isolation information is not lost.
///
/// Long documents are not split into capacity-sized fragments first (wrapping cuts them
/// anyway); `Truncate` keeps each document's first `capacity` tokens. The lengths are
/// already validated by [`Items::from_lengths`].
pub(crate) fn wrapped(
    lengths: &[i64],
    options: &PackOptions,
    depth_cap: u32,
) -> (Items<'static>, ItemPacks) {
    let cap = u64::from(options.capacity);
    let mut doc = Vec::new();
    let mut start = Vec::new();
    let mut len = Vec::new();
    let mut offsets = vec![];
    let mut truncated = 0u64;
    let mut room = 0u64;
    let mut depth = depth_cap;
    for (index, &value) in lengths.iter().enumerate() {
        let mut total = value as u64;
        if options.long_docs == LongDocs::Truncate && total > cap {
            truncated += total - cap;
            total = cap;
        }
        let mut at = 0u64;
        while at < total {
            if room == 0 || depth == depth_cap {
                offsets.push(len.len());
                room = cap;
                depth = 0;
            }
            let piece = room.min(total - at);
            doc.push(index as u32);
            start.push(at);
            len.push(piece as u32);
            at += piece;
            room -= piece;
            depth += 1;
        }
    }
    offsets.push(len.len());
    let packs = ItemPacks {
        offsets,
        items: (0..len.len() as u32).collect(),
        len: len.clone(),
    };
    let items = Items::from_pieces(doc, start, len, truncated, options.capacity);
    (items, packs)
}

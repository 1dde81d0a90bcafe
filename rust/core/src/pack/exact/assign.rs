//! Documents to packs: every pack of a group takes, for each length of its pattern, the next
//! unused items of that length in decreasing-length order. One pass over the items: O(N).

use super::round::Plan;
use crate::buffer;
use crate::pack::assemble::ItemPacks;
use crate::pack::items::{SortedItems, slot_starts};

pub(crate) fn items_to_patterns(sorted: &SortedItems, plan: &Plan) -> ItemPacks {
    let mut next_of_length = slot_starts(&sorted.items.histogram);
    let mut items = buffer::with_capacity(sorted.count());
    let mut len = buffer::with_capacity(sorted.count());
    let mut offsets = buffer::with_capacity(plan.num_packs() as usize + 1);
    offsets.push(0usize);
    for (count, content) in &plan.groups {
        for _ in 0..*count {
            for &(length, copies) in content {
                let next = &mut next_of_length[length as usize];
                items.extend((*next..*next + copies as usize).map(|slot| sorted.item(slot)));
                len.extend(std::iter::repeat_n(length, copies as usize));
                *next += copies as usize;
            }
            offsets.push(items.len());
        }
    }
    debug_assert_eq!(items.len(), sorted.count());
    ItemPacks {
        offsets,
        items,
        len,
    }
}

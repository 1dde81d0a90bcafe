//! Documents to packs: every pack of a group takes, for each length of its pattern, the next
//! unused items of that length in decreasing-length order. One pass over the items: O(N).

use super::round::Plan;
use crate::pack::assemble::{ItemPacks, PacksByLength};
use crate::pack::items::SortedItems;

pub(crate) fn items_to_patterns(sorted: &SortedItems, plan: &Plan) -> ItemPacks {
    let mut packs = PacksByLength::new(sorted, plan.num_packs() as usize);
    for (count, content) in &plan.groups {
        for _ in 0..*count {
            for &(length, copies) in content {
                let taken = packs.take(length, copies as usize);
                debug_assert_eq!(
                    taken, copies as usize,
                    "a plan asks for the items there are"
                );
            }
            packs.close();
        }
    }
    packs.finish()
}

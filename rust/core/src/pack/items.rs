//! Items: what the algorithms place. An item is a document, or a fragment of one that is
//! longer than the capacity. In the common case (no document split) item `k` *is* document
//! `k` and its length is read from the caller's slice, so nothing is materialised; otherwise
//! every item carries an explicit (document, start, length).

use super::LongDocs;
use crate::buffer;
use crate::{Error, Result};

pub(crate) struct Items<'a> {
    kind: Kind<'a>,
    pub placed_tokens: u64,
    pub truncated_tokens: u64,
    /// `histogram[l]` = number of items of length `l`, for `l` in `0..=capacity`. It comes
    /// out of the validating pass, so no algorithm reads the lengths again to count them.
    pub histogram: Vec<u64>,
}

enum Kind<'a> {
    /// Item `k` is document `k` from token 0, `min(lengths[k], capacity)` tokens long.
    Whole { lengths: &'a [i64], capacity: i64 },
    /// Explicit pieces; fragments of one document are consecutive and in token order.
    Pieces {
        doc: Vec<u32>,
        start: Vec<u64>,
        len: Vec<u32>,
    },
}

/// Item indices are 32-bit to halve memory traffic in the hot loops.
pub(crate) const MAX_ITEMS: usize = u32::MAX as usize;

impl<'a> Items<'a> {
    /// Validates the lengths and turns them into items. Fragments of a long document are
    /// consecutive items, so item order is document order with fragments in token order.
    pub fn from_lengths(lengths: &'a [i64], capacity: u32, long_docs: LongDocs) -> Result<Self> {
        check_count(lengths.len())?;
        let cap = i64::from(capacity);
        let mut histogram = vec![0u64; capacity as usize + 1];
        let mut fragments = 0usize;
        let mut total = 0u64;
        let mut kept = 0u64;
        for (index, &value) in lengths.iter().enumerate() {
            if value <= 0 {
                return Err(Error::NonPositiveLength { index, value });
            }
            // Lengths near i64::MAX sum past u64: refused rather than wrapped.
            total = total
                .checked_add(value as u64)
                .ok_or_else(|| too_many_tokens(index))?;
            if value <= cap {
                kept += value as u64;
                histogram[value as usize] += 1;
                continue;
            }
            kept += cap as u64;
            match long_docs {
                LongDocs::Error => {
                    return Err(Error::DocumentTooLong {
                        index,
                        length: value,
                        capacity,
                    });
                }
                LongDocs::Truncate => histogram[cap as usize] += 1,
                LongDocs::Split => {
                    let pieces = (value - 1) / cap + 1;
                    // Saturates into `check_count`'s error: pieces of one document alone can
                    // exceed usize's half.
                    fragments = fragments.saturating_add(pieces as usize - 1);
                    let last = value - (pieces - 1) * cap;
                    histogram[cap as usize] += pieces as u64 - 1;
                    histogram[last as usize] += 1;
                }
            }
        }
        if long_docs == LongDocs::Split && fragments > 0 {
            return Self::split(lengths, capacity, fragments, total, histogram);
        }
        Ok(Items {
            kind: Kind::Whole {
                lengths,
                capacity: cap,
            },
            placed_tokens: kept,
            truncated_tokens: total - kept,
            histogram,
        })
    }

    fn split(
        lengths: &[i64],
        capacity: u32,
        fragments: usize,
        total: u64,
        histogram: Vec<u64>,
    ) -> Result<Self> {
        let count = lengths.len().saturating_add(fragments);
        check_count(count)?;
        let cap = i64::from(capacity);
        let mut doc = buffer::with_capacity(count);
        let mut start = buffer::with_capacity(count);
        let mut len = buffer::with_capacity(count);
        for (index, &value) in lengths.iter().enumerate() {
            let mut at = 0;
            while at < value {
                let piece = (value - at).min(cap);
                doc.push(index as u32);
                start.push(at as u64);
                len.push(piece as u32);
                at += piece;
            }
        }
        Ok(Items {
            kind: Kind::Pieces { doc, start, len },
            placed_tokens: total,
            truncated_tokens: 0,
            histogram,
        })
    }

    /// Items given explicitly as (document, start, length) pieces.
    pub fn from_pieces(
        doc: Vec<u32>,
        start: Vec<u64>,
        len: Vec<u32>,
        truncated: u64,
        capacity: u32,
    ) -> Items<'static> {
        let mut histogram = vec![0u64; capacity as usize + 1];
        let mut placed_tokens = 0;
        for &l in &len {
            histogram[l as usize] += 1;
            placed_tokens += u64::from(l);
        }
        Items {
            kind: Kind::Pieces { doc, start, len },
            placed_tokens,
            truncated_tokens: truncated,
            histogram,
        }
    }

    pub fn count(&self) -> usize {
        match &self.kind {
            Kind::Whole { lengths, .. } => lengths.len(),
            Kind::Pieces { len, .. } => len.len(),
        }
    }

    #[inline]
    pub fn len(&self, item: usize) -> u32 {
        match &self.kind {
            Kind::Whole { lengths, capacity } => lengths[item].min(*capacity) as u32,
            Kind::Pieces { len, .. } => len[item],
        }
    }

    /// Calls `f(item, length)` for every item in order; the representation is matched once,
    /// outside the loop.
    #[inline]
    pub fn for_each_len(&self, mut f: impl FnMut(usize, u32)) {
        match &self.kind {
            Kind::Whole { lengths, capacity } => {
                for (item, &l) in lengths.iter().enumerate() {
                    f(item, l.min(*capacity) as u32);
                }
            }
            Kind::Pieces { len, .. } => {
                for (item, &l) in len.iter().enumerate() {
                    f(item, l);
                }
            }
        }
    }

    /// Whether every item is a whole document from token 0 (so every start is 0).
    pub fn are_whole_documents(&self) -> bool {
        matches!(self.kind, Kind::Whole { .. })
    }

    #[inline]
    pub fn doc(&self, item: usize) -> u64 {
        match &self.kind {
            Kind::Whole { .. } => item as u64,
            Kind::Pieces { doc, .. } => u64::from(doc[item]),
        }
    }

    #[inline]
    pub fn start(&self, item: usize) -> u64 {
        match &self.kind {
            Kind::Whole { .. } => 0,
            Kind::Pieces { start, .. } => start[item],
        }
    }
}

fn too_many_tokens(index: usize) -> Error {
    Error::invalid_option(
        "lengths",
        format!("the lengths up to document {index} sum past 2^64 tokens"),
    )
}

pub(crate) fn check_count(count: usize) -> Result<()> {
    if count >= MAX_ITEMS {
        return Err(Error::TooManyItems {
            count,
            limit: MAX_ITEMS - 1,
        });
    }
    Ok(())
}

/// Items in order of decreasing length (ties by increasing item index), from a counting
/// sort: O(N + L). Each sorted position (a *slot*) is one 64-bit word: the item's index in
/// the low half and, once a greedy algorithm has placed it, its pack in the high half. The
/// assembly then turns these words into the packing's `length` array in place, so a packing
/// touches no fresh memory beyond its output: fresh pages, which the kernel must zero, are
/// what large packings spend most of their time on.
pub(crate) struct SortedItems<'a> {
    pub items: &'a Items<'a>,
    slots: Vec<i64>,
}

/// Two 32-bit values in one 64-bit word, `low` in the low half. The high half may reach
/// 2^32 - 1, so the word may be negative as an i64; [`halves`] undoes it exactly.
#[inline]
pub(crate) fn word(low: u32, high: u32) -> i64 {
    (u64::from(low) | (u64::from(high) << 32)) as i64
}

/// The (low, high) halves of a [`word`].
#[inline]
pub(crate) fn halves(word: i64) -> (u32, u32) {
    let bits = word as u64;
    (bits as u32, (bits >> 32) as u32)
}

impl<'a> SortedItems<'a> {
    pub fn by_decreasing_length(items: &'a Items<'a>) -> Self {
        let mut next = slot_starts(&items.histogram);
        let mut slots = buffer::zeroed::<i64>(items.count());
        items.for_each_len(|item, l| {
            let slot = &mut next[l as usize];
            slots[*slot] = word(item as u32, 0);
            *slot += 1;
        });
        SortedItems { items, slots }
    }

    pub fn count(&self) -> usize {
        self.slots.len()
    }

    /// The item in `slot`.
    #[inline]
    pub fn item(&self, slot: usize) -> u32 {
        halves(self.slots[slot]).0
    }

    /// Records that the item in `slot` went into `pack`.
    #[inline]
    pub fn place(&mut self, slot: usize, pack: u32) {
        self.slots[slot] = word(self.item(slot), pack);
    }

    /// (item, pack) of `slot`, once placed.
    #[inline]
    pub fn placed(&self, slot: usize) -> (u32, u32) {
        halves(self.slots[slot])
    }

    /// Hands the slot words over as storage (for the packing's `length` array).
    pub fn into_storage(self) -> Vec<i64> {
        self.slots
    }

    /// Runs of equal length, longest first, as (length, slots). Iterating by runs lets the
    /// hot loops know each item's length without a random read of the item's length.
    /// The iterator borrows the items, not `self`, so slots can be placed while it runs.
    pub fn runs(&self) -> impl Iterator<Item = (u32, std::ops::Range<usize>)> + 'a {
        let items: &'a Items<'a> = self.items;
        runs(&items.histogram)
    }
}

/// The runs of a length histogram in decreasing-length order, as (length, slots).
fn runs(histogram: &[u64]) -> impl Iterator<Item = (u32, std::ops::Range<usize>)> + '_ {
    let capacity = histogram.len() - 1;
    let mut position = 0usize;
    (1..=capacity as u32).rev().filter_map(move |length| {
        let count = histogram[length as usize] as usize;
        let run = position..position + count;
        position += count;
        (count > 0).then_some((length, run))
    })
}

/// Where each length's run begins in decreasing-length order: `starts[l]` is the number of
/// items longer than `l`.
pub(crate) fn slot_starts(histogram: &[u64]) -> Vec<usize> {
    let mut starts = vec![0usize; histogram.len()];
    let mut position = 0usize;
    for l in (1..histogram.len()).rev() {
        starts[l] = position;
        position += histogram[l] as usize;
    }
    starts
}

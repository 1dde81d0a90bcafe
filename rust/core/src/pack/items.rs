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
            total += value as u64;
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
                    fragments += pieces as usize - 1;
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
        let count = lengths.len() + fragments;
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
/// sort: O(N + L).
pub(crate) struct SortedItems<'a> {
    pub items: &'a Items<'a>,
    /// Item indices, longest first.
    pub order: Vec<u32>,
}

impl<'a> SortedItems<'a> {
    pub fn by_decreasing_length(items: &'a Items<'a>) -> Self {
        let histogram = &items.histogram;
        let mut next = slot_starts(histogram);
        let mut order = buffer::zeroed::<u32>(items.count());
        items.for_each_len(|item, l| {
            let slot = &mut next[l as usize];
            order[*slot] = item as u32;
            *slot += 1;
        });
        SortedItems { items, order }
    }

    /// Runs of equal length, longest first, as (length, items). Iterating by runs lets the
    /// hot loops know each item's length without a random read of the item's length.
    pub fn runs(&self) -> impl Iterator<Item = (u32, &[u32])> {
        let histogram = &self.items.histogram;
        let capacity = histogram.len() - 1;
        let mut position = 0usize;
        (1..=capacity as u32).rev().filter_map(move |length| {
            let count = histogram[length as usize] as usize;
            let run = &self.order[position..position + count];
            position += count;
            (count > 0).then_some((length, run))
        })
    }
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

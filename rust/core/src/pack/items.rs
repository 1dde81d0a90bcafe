//! Items: what the algorithms place. An item is a document, or a fragment of one that is
//! longer than the capacity. In the common case (no long documents) item `k` *is* document
//! `k`, so nothing but the lengths is materialised; fragments past a document's first are
//! appended with an explicit (document, start).

use super::LongDocs;
use crate::{Error, Result};

pub(crate) struct Items {
    /// Length of every item, each in `1..=capacity`.
    pub len: Vec<u32>,
    /// Items `0..leading` are whole (or truncated) documents: item `k` is document `k` from
    /// token 0. When documents are split, `leading` is 0 and every item is explicit.
    leading: usize,
    /// Document and start offset of items `leading..`.
    extra_doc: Vec<u32>,
    extra_start: Vec<u64>,
    pub placed_tokens: u64,
    pub truncated_tokens: u64,
}

/// Item indices are 32-bit to halve memory traffic in the hot loops.
pub(crate) const MAX_ITEMS: usize = u32::MAX as usize;

impl Items {
    /// Validates the lengths and turns them into items. Fragments of a long document are
    /// consecutive items, so item order is document order with fragments in token order.
    pub fn from_lengths(lengths: &[i64], capacity: u32, long_docs: LongDocs) -> Result<Self> {
        check_count(lengths.len())?;
        let cap = i64::from(capacity);
        let mut fragments = 0usize;
        for (index, &value) in lengths.iter().enumerate() {
            if value <= 0 {
                return Err(Error::NonPositiveLength { index, value });
            }
            if value > cap {
                if long_docs == LongDocs::Error {
                    return Err(Error::DocumentTooLong {
                        index,
                        length: value,
                        capacity,
                    });
                }
                fragments += ((value - 1) / cap) as usize; // pieces after the first
            }
        }
        if long_docs == LongDocs::Split && fragments > 0 {
            return Self::split(lengths, capacity, fragments);
        }
        // Every item is a whole (or truncated) document: keep only the lengths.
        let mut items = Items::with_capacity(lengths.len());
        items.leading = lengths.len();
        for &value in lengths {
            let kept = value.min(cap);
            items.len.push(kept as u32);
            items.placed_tokens += kept as u64;
            items.truncated_tokens += (value - kept) as u64;
        }
        Ok(items)
    }

    fn split(lengths: &[i64], capacity: u32, fragments: usize) -> Result<Self> {
        let total = lengths.len() + fragments;
        check_count(total)?;
        let cap = i64::from(capacity);
        let mut items = Items::with_capacity(total);
        items.extra_doc.reserve(total);
        items.extra_start.reserve(total);
        for (doc, &value) in lengths.iter().enumerate() {
            let mut start = 0;
            while start < value {
                let piece = (value - start).min(cap);
                items.extra_doc.push(doc as u32);
                items.extra_start.push(start as u64);
                items.len.push(piece as u32);
                start += piece;
            }
            items.placed_tokens += value as u64;
        }
        Ok(items)
    }

    /// Items given explicitly as (document, start, length) pieces.
    pub fn from_pieces(doc: Vec<u32>, start: Vec<u64>, len: Vec<u32>, truncated: u64) -> Self {
        let placed_tokens = len.iter().map(|&l| u64::from(l)).sum();
        Items {
            len,
            leading: 0,
            extra_doc: doc,
            extra_start: start,
            placed_tokens,
            truncated_tokens: truncated,
        }
    }

    fn with_capacity(n: usize) -> Self {
        Items {
            len: Vec::with_capacity(n),
            leading: 0,
            extra_doc: Vec::new(),
            extra_start: Vec::new(),
            placed_tokens: 0,
            truncated_tokens: 0,
        }
    }

    pub fn count(&self) -> usize {
        self.len.len()
    }

    #[inline]
    pub fn doc(&self, item: usize) -> u64 {
        if item < self.leading {
            item as u64
        } else {
            u64::from(self.extra_doc[item - self.leading])
        }
    }

    #[inline]
    pub fn start(&self, item: usize) -> u64 {
        if item < self.leading {
            0
        } else {
            self.extra_start[item - self.leading]
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
/// sort: O(N + L) and branch-free in the scatter.
pub(crate) struct SortedItems<'a> {
    pub items: &'a Items,
    /// Item indices, longest first.
    pub order: Vec<u32>,
    /// `histogram[l]` = number of items of length `l`, for `l` in `0..=capacity`.
    pub histogram: Vec<u64>,
}

impl<'a> SortedItems<'a> {
    pub fn by_decreasing_length(items: &'a Items, capacity: u32) -> Self {
        let cap = capacity as usize;
        let mut histogram = vec![0u64; cap + 1];
        for &l in &items.len {
            histogram[l as usize] += 1;
        }
        // next[l] = where the next item of length l goes; longest lengths come first.
        let mut next = vec![0usize; cap + 1];
        let mut position = 0usize;
        for l in (1..=cap).rev() {
            next[l] = position;
            position += histogram[l] as usize;
        }
        let mut order = vec![0u32; items.count()];
        for (item, &l) in items.len.iter().enumerate() {
            let slot = &mut next[l as usize];
            order[*slot] = item as u32;
            *slot += 1;
        }
        SortedItems {
            items,
            order,
            histogram,
        }
    }

    /// Runs of equal length, longest first, as (length, items). Iterating by runs lets the
    /// hot loops know each item's length without a random read of `items.len`.
    pub fn runs(&self) -> impl Iterator<Item = (u32, &[u32])> {
        let capacity = self.histogram.len() - 1;
        let mut position = 0usize;
        (1..=capacity as u32).rev().filter_map(move |length| {
            let count = self.histogram[length as usize] as usize;
            let run = &self.order[position..position + count];
            position += count;
            (count > 0).then_some((length, run))
        })
    }
}

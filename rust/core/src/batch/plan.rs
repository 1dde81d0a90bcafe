//! The plan of an epoch: its rows in training order, each a list of document slices.

use crate::pack::{PackOptions, pack};
use crate::rng::SplitMix64;
use crate::shard::TokenStore;
use crate::{Error, Result};

/// Tokens `start..start + len` of document (row of the token store) `doc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub doc: u64,
    pub start: u64,
    pub len: u32,
}

impl Segment {
    /// The segment's tokens in `store`; an error if the document is shorter, which means
    /// the plan was made for another dataset.
    pub fn tokens<'s>(&self, store: &'s TokenStore) -> Result<&'s [u32]> {
        let tokens = store.tokens(self.doc)?;
        let (start, end) = (
            self.start as usize,
            (self.start + u64::from(self.len)) as usize,
        );
        tokens.get(start..end).ok_or_else(|| {
            Error::invalid_option(
                "plan",
                format!(
                    "wants tokens {start}..{end} of document {}, which has {} (the plan does not belong to this dataset)",
                    self.doc,
                    tokens.len()
                ),
            )
        })
    }

    /// The segment's loss mask in `store`, in a dataset with masks (checked as
    /// [`Segment::tokens`] is: a mask is as long as its tokens).
    pub fn loss_mask<'s>(&self, store: &'s TokenStore) -> Result<Option<&'s [u8]>> {
        let len = self.tokens(store)?.len();
        let start = self.start as usize;
        Ok(store
            .loss_mask(self.doc)?
            .map(|mask| &mask[start..start + len]))
    }
}

/// Rows of at most `capacity` tokens: row `r` is `segments[pack_offsets[r]..pack_offsets[r + 1]]`.
/// With `align > 1` every segment is followed by padding up to a multiple of `align` (so
/// each document starts on a patch boundary); rows are packed with those padded lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub capacity: u32,
    pub align: u32,
    pub pack_offsets: Vec<usize>,
    pub segments: Vec<Segment>,
    /// Tokens in the rows.
    pub placed_tokens: u64,
    /// Tokens dropped by `long_docs = truncate`.
    pub truncated_tokens: u64,
    /// Padding that alignment puts after segments (inside rows, besides their end padding).
    pub alignment_padding: u64,
}

impl Plan {
    /// Packs documents of `lengths` for one epoch with `options`. With a `document_order`
    /// seed, the documents are first put in an order drawn from it, then packed: each seed
    /// gives other rows, since the packers break ties (equal lengths, equal free space) by
    /// input order, and order-keeping algorithms (`nf`, `wrapped`) see a fresh order.
    /// `options.seed` shuffles the rows. Without them, documents keep the dataset order and
    /// rows the order the algorithm closed them. (`sampler::EpochPlanner` derives both.)
    ///
    /// With `align > 1` (which must divide the capacity) documents are packed with their
    /// lengths rounded up to a multiple of `align`, and each segment keeps its real length.
    pub fn pack_epoch(
        lengths: &[i64],
        options: &PackOptions,
        align: u32,
        document_order: Option<u64>,
    ) -> Result<Self> {
        Error::check_divisor(
            "align",
            u64::from(align),
            "the capacity",
            u64::from(options.capacity),
        )?;
        let mut order: Vec<u64> = (0..lengths.len() as u64).collect();
        if let Some(seed) = document_order {
            SplitMix64::new(seed).shuffle(&mut order);
        }
        let padded = |n: i64| match n {
            n if n > 0 && align > 1 => {
                n.saturating_add(i64::from(align) - 1) / i64::from(align) * i64::from(align)
            }
            n => n,
        };
        let shuffled: Vec<i64> = order.iter().map(|&d| padded(lengths[d as usize])).collect();
        let packing = pack(&shuffled, options).map_err(|error| match error {
            // Name the document by its index in the dataset, not in the shuffled order.
            Error::NonPositiveLength { index, value } => Error::NonPositiveLength {
                index: order[index] as usize,
                value,
            },
            Error::DocumentTooLong {
                index, capacity, ..
            } => Error::DocumentTooLong {
                index: order[index] as usize,
                length: lengths[order[index] as usize],
                capacity,
            },
            other => other,
        })?;
        let segments: Vec<Segment> = (0..packing.doc.len())
            .map(|e| {
                let doc = order[packing.doc[e] as usize];
                let start = packing.start[e] as u64;
                // A padded length may reach past the document's end: keep the real tokens.
                let real = (lengths[doc as usize] as u64).saturating_sub(start);
                Segment {
                    doc,
                    start,
                    len: (packing.length[e] as u64).min(real) as u32,
                }
            })
            .collect();
        let placed_tokens: u64 = segments.iter().map(|s| u64::from(s.len)).sum();
        let total: u64 = lengths.iter().map(|&n| n as u64).sum();
        let alignment_padding = segments
            .iter()
            .map(|s| u64::from(s.len.next_multiple_of(align) - s.len))
            .sum();
        Ok(Plan {
            capacity: options.capacity,
            align,
            pack_offsets: packing.pack_offsets.iter().map(|&o| o as usize).collect(),
            segments,
            placed_tokens,
            truncated_tokens: total - placed_tokens,
            alignment_padding,
        })
    }

    /// The rows of a packed dataset, each one pack split by its `seq_lengths`, in an order
    /// drawn from `seed` (stored order without one). `capacity` is the row length.
    pub fn packed_rows(store: &TokenStore, capacity: u32, seed: Option<u64>) -> Result<Self> {
        let mut rows: Vec<u64> = (0..store.len()).collect();
        if let Some(seed) = seed {
            SplitMix64::new(seed).shuffle(&mut rows);
        }
        let mut pack_offsets = Vec::with_capacity(rows.len() + 1);
        let mut segments = Vec::new();
        let mut placed_tokens = 0u64;
        pack_offsets.push(0);
        for &row in &rows {
            let stored = store.tokens(row)?.len() as u64;
            let lengths = store.seq_lengths(row)?.ok_or_else(|| {
                Error::invalid_option(
                    "dataset",
                    "has no seq_lengths column: it is not a packed dataset".to_string(),
                )
            })?;
            let mut start = 0u64;
            for &len in lengths {
                segments.push(Segment {
                    doc: row,
                    start,
                    len,
                });
                start += u64::from(len);
            }
            if start > stored || start > u64::from(capacity) {
                return Err(Error::invalid_option(
                    "dataset",
                    format!(
                        "row {row}: seq_lengths sum to {start}, beyond the row's {stored} stored tokens or the row length {capacity}"
                    ),
                ));
            }
            placed_tokens += start;
            pack_offsets.push(segments.len());
        }
        Ok(Plan {
            capacity,
            align: 1,
            pack_offsets,
            segments,
            placed_tokens,
            truncated_tokens: 0,
            alignment_padding: 0,
        })
    }

    /// The same rows in the order `order` (row `i` of the result is row `order[i]` of this
    /// plan; `order` must be a permutation of the rows).
    pub fn reordered(&self, order: &[usize]) -> Plan {
        debug_assert_eq!(order.len(), self.num_packs());
        let mut pack_offsets = Vec::with_capacity(order.len() + 1);
        let mut segments = Vec::with_capacity(self.segments.len());
        pack_offsets.push(0);
        for &p in order {
            segments.extend_from_slice(self.row(p));
            pack_offsets.push(segments.len());
        }
        Plan {
            pack_offsets,
            segments,
            ..*self
        }
    }

    pub fn num_packs(&self) -> usize {
        self.pack_offsets.len() - 1
    }

    /// The segments of row `p`.
    pub fn row(&self, p: usize) -> &[Segment] {
        &self.segments[self.pack_offsets[p]..self.pack_offsets[p + 1]]
    }

    /// The segments of row `p`, or an error naming it when the plan has no such row.
    pub fn checked_row(&self, p: usize) -> Result<&[Segment]> {
        if p >= self.num_packs() {
            return Err(Error::invalid_option(
                "pack",
                format!(
                    "{p} is out of range for a plan of {} rows",
                    self.num_packs()
                ),
            ));
        }
        Ok(self.row(p))
    }
}

//! One batch from rows of a plan.

use super::plan::{Plan, Segment};
use crate::shard::TokenStore;
use crate::{Error, Result};

/// The label that loss functions skip (PyTorch's `ignore_index`, HF's convention).
pub const IGNORE_INDEX: i64 = -100;

/// The arrays of one batch of `batch_size` rows of `seq_len` tokens, row-major. Padding
/// fills each row after its documents and is a segment of its own in `cu_seqlens`, with
/// positions restarting at 0, document index -1 and label [`IGNORE_INDEX`]. A plan aligned
/// to `K` also pads each segment up to a multiple of `K`: that padding belongs to the
/// segment (its positions and document index continue) but carries no label. In a dataset
/// with loss masks, a token whose mask is false carries no label either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub batch_size: usize,
    pub seq_len: usize,
    /// Its labels are `input_ids` with [`IGNORE_INDEX`] on each segment's first token and
    /// on padding: the loss shifts labels by one, so no token is ever predicted from
    /// another document. In a dataset with loss masks, also on every token not trained on.
    pub tokens: TokenArrays,
    /// Boundaries of all segments (padding included) over the flattened batch, leading 0.
    pub cu_seqlens: Vec<i32>,
    /// Real tokens of each segment of `cu_seqlens` (its alignment padding left out; 0 for
    /// a row's end padding): what the `cu_seqlens` of THD kernels count.
    pub real_lengths: Vec<u32>,
    pub max_seqlen: u32,
    /// Tokens that are not padding.
    pub real_tokens: u64,
}

/// The arrays of a model's input, one value per position, row-major: those of a [`Batch`],
/// and of a context-parallel shard of one (`super::CpShard`), which say how their labels
/// line up with the positions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenArrays {
    pub input_ids: Vec<i64>,
    pub labels: Vec<i64>,
    /// Positions within each document (restarting at 0 on a row's end padding).
    pub position_ids: Vec<i64>,
    /// Index of the segment within its row (0, 1, …), -1 on padding.
    pub document_ids: Vec<i32>,
}

impl TokenArrays {
    /// Arrays with room for `positions` positions and nothing in them yet.
    pub fn with_capacity(positions: usize) -> TokenArrays {
        TokenArrays {
            input_ids: Vec::with_capacity(positions),
            labels: Vec::with_capacity(positions),
            position_ids: Vec::with_capacity(positions),
            document_ids: Vec::with_capacity(positions),
        }
    }

    /// `len` positions of `pad_id` that carry no label.
    fn pad(&mut self, pad_id: i64, len: usize) {
        self.input_ids.extend(std::iter::repeat_n(pad_id, len));
        self.labels.extend(std::iter::repeat_n(IGNORE_INDEX, len));
    }
}

/// Assembles the rows `packs` of `plan` (`None`: a row of padding only) into a batch of
/// rows of `seq_len` tokens, reading tokens from `store`.
pub fn assemble(
    store: &TokenStore,
    plan: &Plan,
    packs: &[Option<usize>],
    seq_len: usize,
    pad_id: i64,
) -> Result<Batch> {
    let rows: Vec<_> = packs.iter().map(|p| p.map(|p| (store, plan, p))).collect();
    assemble_rows(&rows, seq_len, pad_id)
}

/// Assembles rows that each come with their own store and plan (row `p` of `plan`, whose
/// tokens are in `store`; `None`: a row of padding only), as a mixture's batches do.
pub fn assemble_rows(
    rows: &[Option<(&TokenStore, &Plan, usize)>],
    seq_len: usize,
    pad_id: i64,
) -> Result<Batch> {
    let mut batch = empty_batch(rows.len(), seq_len)?;
    for &row in rows {
        let row_start = batch.tokens.input_ids.len();
        if let Some((store, plan, p)) = row {
            for (index, segment) in plan.checked_row(p)?.iter().enumerate() {
                let slice = segment.tokens(store)?;
                let mask = segment.loss_mask(store)?;
                let aligned = slice.len().next_multiple_of(plan.align as usize);
                if batch.tokens.input_ids.len() + aligned > row_start + seq_len {
                    return Err(Error::invalid_option(
                        "plan",
                        format!("row {p} holds more than seq_len = {seq_len} tokens"),
                    ));
                }
                push_segment(
                    &mut batch,
                    slice,
                    mask,
                    aligned - slice.len(),
                    pad_id,
                    index as i32,
                );
            }
        }
        let padding = row_start + seq_len - batch.tokens.input_ids.len();
        if padding > 0 {
            push_padding(&mut batch, padding, pad_id);
        }
    }
    Ok(batch)
}

/// One flattened batch (`batch_size` 1, `seq_len` its token count) of the rows `packs` of
/// `plan`, their segments one after the other with no padding between rows or after the
/// last: the document index counts segments over the whole batch. No rows: no tokens.
pub fn assemble_flat(
    store: &TokenStore,
    plan: &Plan,
    packs: &[usize],
    pad_id: i64,
) -> Result<Batch> {
    let rows: Vec<_> = packs.iter().map(|&p| (store, plan, p)).collect();
    assemble_flat_rows(&rows, pad_id)
}

/// [`assemble_flat`] of rows that each come with their own store and plan (row `p` of
/// `plan`, whose tokens are in `store`), as a mixture's flattened batches do.
pub fn assemble_flat_rows(rows: &[(&TokenStore, &Plan, usize)], pad_id: i64) -> Result<Batch> {
    let mut segments: Vec<(&TokenStore, &Segment, usize)> = Vec::new();
    for &(store, plan, p) in rows {
        let align = plan.align as usize;
        segments.extend(plan.checked_row(p)?.iter().map(|s| (store, s, align)));
    }
    let total: usize = segments
        .iter()
        .map(|&(_, s, align)| (s.len as usize).next_multiple_of(align))
        .sum();
    let mut batch = empty_batch(1, total)?;
    for (index, &(store, segment, align)) in segments.iter().enumerate() {
        let slice = segment.tokens(store)?;
        let mask = segment.loss_mask(store)?;
        let padding = slice.len().next_multiple_of(align) - slice.len();
        push_segment(&mut batch, slice, mask, padding, pad_id, index as i32);
    }
    Ok(batch)
}

/// A batch of `batch_size` rows of `seq_len` tokens with room for them and nothing in it
/// yet; refused when int32 `cu_seqlens` could not index its tokens.
fn empty_batch(batch_size: usize, seq_len: usize) -> Result<Batch> {
    let total = batch_size * seq_len;
    if i32::try_from(total).is_err() {
        return Err(Error::invalid_option(
            "batch",
            format!("of {total} tokens exceeds the 2^31 that int32 cu_seqlens can index"),
        ));
    }
    Ok(Batch {
        batch_size,
        seq_len,
        tokens: TokenArrays::with_capacity(total),
        cu_seqlens: vec![0],
        real_lengths: Vec::new(),
        max_seqlen: 0,
        real_tokens: 0,
    })
}

/// A document segment (with its loss mask, in a dataset with masks), then `align_padding`
/// tokens of padding that are part of it.
fn push_segment(
    batch: &mut Batch,
    tokens: &[u32],
    mask: Option<&[u8]>,
    align_padding: usize,
    pad_id: i64,
    document: i32,
) {
    if tokens.is_empty() {
        return;
    }
    let arrays = &mut batch.tokens;
    let first = arrays.input_ids.len();
    let len = tokens.len() + align_padding;
    arrays
        .input_ids
        .extend(tokens.iter().map(|&t| i64::from(t)));
    arrays.labels.push(IGNORE_INDEX);
    let ids = &arrays.input_ids[first + 1..];
    match mask {
        None => arrays.labels.extend_from_slice(ids),
        Some(mask) => {
            let labels = ids.iter().zip(&mask[1..]);
            arrays
                .labels
                .extend(labels.map(|(&id, &trained)| if trained != 0 { id } else { IGNORE_INDEX }));
        }
    }
    arrays.pad(pad_id, align_padding);
    batch.real_tokens += tokens.len() as u64;
    batch.real_lengths.push(tokens.len() as u32);
    end_segment(batch, len, document);
}

/// Padding at the end of a row: a segment of its own, with no label and document -1.
fn push_padding(batch: &mut Batch, len: usize, pad_id: i64) {
    batch.tokens.pad(pad_id, len);
    batch.real_lengths.push(0);
    end_segment(batch, len, -1);
}

fn end_segment(batch: &mut Batch, len: usize, document: i32) {
    batch.tokens.position_ids.extend(0..len as i64);
    batch
        .tokens
        .document_ids
        .extend(std::iter::repeat_n(document, len));
    batch.cu_seqlens.push(batch.tokens.input_ids.len() as i32);
    batch.max_seqlen = batch.max_seqlen.max(len as u32);
}

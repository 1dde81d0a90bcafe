//! Writing a plan out as a packed dataset: fixed-length rows that any Arrow reader (HF
//! `datasets`, polars, pyarrow) can train on, with the document lengths of each row kept.

use std::collections::BTreeMap;
use std::path::Path;

use super::plan::Plan;
use crate::shard::{
    LengthHistogram, LossMaskInfo, MANIFEST, Manifest, PackedRow, TokenStore, create_empty_output,
    format_version, write_packed_shard,
};
use crate::{Error, Result};

/// Rows per shard of a packed dataset (a shard of 4096-token rows is then 64 MiB).
pub const PACKED_ROWS_PER_SHARD: usize = 4096;

/// Writes every row of `plan` over `store` to `out` as a packed dataset whose rows have
/// exactly `plan.capacity` tokens (padding with `pad_id`). `source` is the manifest of the
/// dataset packed; the new manifest keeps its tokenizer and records `packing` (whatever the
/// caller put there: algorithm, seed, …) in its options. Returns the new manifest.
pub fn write_packed(
    store: &TokenStore,
    plan: &Plan,
    source: &Manifest,
    out: &Path,
    pad_id: u32,
    packing: serde_json::Value,
) -> Result<Manifest> {
    create_empty_output(out)?;
    let row_len = plan.capacity as usize;
    let mut shards = Vec::new();
    let mut histogram = LengthHistogram::default();
    let mut rows = Vec::with_capacity(PACKED_ROWS_PER_SHARD.min(plan.num_packs()));
    let mut loss_mask = source.loss_mask.as_ref().map(LossMaskInfo::derived_from);
    for p in 0..plan.num_packs() {
        if plan.row(p).iter().map(|s| s.len as usize).sum::<usize>() > row_len {
            return Err(Error::invalid_option(
                "plan",
                format!("row {p} holds more than its {row_len} tokens"),
            ));
        }
        let mut row = PackedRow {
            tokens: Vec::with_capacity(row_len),
            seq_lengths: Vec::new(),
            documents: Vec::new(),
            starts: Vec::new(),
            loss_mask: loss_mask.is_some().then(|| Vec::with_capacity(row_len)),
        };
        for segment in plan.row(p) {
            row.tokens.extend_from_slice(segment.tokens(store)?);
            if let (Some(row_mask), Some(mask)) = (&mut row.loss_mask, segment.loss_mask(store)?) {
                row_mask.extend_from_slice(mask);
            }
            row.seq_lengths.push(segment.len);
            row.documents.push(segment.doc);
            row.starts.push(segment.start);
        }
        histogram.add(row.tokens.len() as u64);
        row.tokens.resize(row_len, pad_id);
        if let (Some(info), Some(mask)) = (&mut loss_mask, &mut row.loss_mask) {
            // Padding is not trained on.
            mask.resize(row_len, 0);
            info.add_row(mask);
        }
        rows.push(row);
        if rows.len() == PACKED_ROWS_PER_SHARD || p + 1 == plan.num_packs() {
            let first = (shards.len() * PACKED_ROWS_PER_SHARD) as u64;
            shards.push(write_packed_shard(out, shards.len(), first, &rows)?);
            rows.clear();
        }
    }
    let mut options = BTreeMap::new();
    options.insert("packing".to_string(), packing);
    let manifest = Manifest {
        format: source.format.clone(),
        format_version: format_version(loss_mask.is_some()),
        tokenizer: source.tokenizer.clone(),
        total_rows: plan.num_packs() as u64,
        total_tokens: shards.iter().map(|s| s.tokens).sum(),
        total_text_bytes: source.total_text_bytes,
        shards,
        // Real tokens per row (padding excluded).
        length_histogram: histogram,
        skipped: BTreeMap::new(),
        sources: source.sources.clone(),
        options,
        loss_mask,
    };
    manifest.write(&out.join(MANIFEST))?;
    Ok(manifest)
}

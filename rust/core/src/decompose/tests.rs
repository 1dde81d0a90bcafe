//! The reference's test vectors, the cut's invariants (proptest), the distribution of drawn
//! pieces, and whole decompositions of small datasets read back from disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::shard::{LengthHistogram, Manifest, Row, ShardEntry, TokenizerInfo};

fn options(min_log2: u32, max_log2: u32) -> DecomposeOptions {
    DecomposeOptions {
        min_log2,
        max_log2,
        ..DecomposeOptions::default()
    }
}

/// Piece lengths and the remainder of one document.
fn cut_lengths(o: &DecomposeOptions, length: u64) -> (Vec<u64>, u64) {
    let mut pieces = Vec::new();
    let rest = Cutter::new(o).cut(length, &mut pieces);
    (pieces.iter().map(|p| o.row_tokens(p.log2)).collect(), rest)
}

#[test]
fn reference_vectors_with_shifted_targets() {
    // The reference's layout: 2^k inputs plus one shifted target per row, the largest bucket
    // for long documents, remainders dropped.
    let o = DecomposeOptions {
        shifted_targets: true,
        long_pieces: LongPieces::Max,
        remainder: Remainder::Drop,
        ..DecomposeOptions::default()
    };
    assert_eq!(cut_lengths(&o, 256), (vec![], 256));
    assert_eq!(cut_lengths(&o, 257), (vec![257], 0));
    assert_eq!(cut_lengths(&o, 1000), (vec![513, 257], 230));
    assert_eq!(cut_lengths(&o, 8194), (vec![8193], 1));
    assert_eq!(
        cut_lengths(&o, 20000),
        (vec![8193, 8193, 2049, 1025, 513], 27)
    );
}

#[test]
fn power_of_two_rows_without_shifted_targets() {
    let o = DecomposeOptions {
        long_pieces: LongPieces::Max,
        ..DecomposeOptions::default()
    };
    assert_eq!(cut_lengths(&o, 255), (vec![], 255));
    assert_eq!(cut_lengths(&o, 256), (vec![256], 0));
    assert_eq!(cut_lengths(&o, 1000), (vec![512, 256], 232));
    assert_eq!(
        cut_lengths(&o, 20000),
        (vec![8192, 8192, 2048, 1024, 512], 32)
    );
}

#[test]
fn drawn_long_pieces_spread_tokens_evenly_over_buckets() {
    // P(k) ∝ 2^(max − k) gives every bucket the same expected tokens: here 6 buckets, ~1/6
    // of 2^24 tokens each (over 2,000 draws in every bucket, so within 6 % of that).
    let o = options(8, 13);
    let mut pieces = Vec::new();
    Cutter::new(&o).cut(1 << 24, &mut pieces);
    let mut tokens = [0u64; 6];
    for p in &pieces {
        tokens[(p.log2 - 8) as usize] += 1 << p.log2;
    }
    let total: u64 = tokens.iter().sum();
    for (i, t) in tokens.iter().enumerate() {
        let share = *t as f64 / total as f64;
        assert!(
            (share - 1.0 / 6.0).abs() < 0.05 / 6.0 * 6.0 * 0.2,
            "D{}: share {share}",
            i + 8
        );
    }
}

#[test]
fn bad_options_are_named() {
    let message = |o: DecomposeOptions| o.validate().unwrap_err().to_string();
    assert!(message(options(9, 8)).starts_with("min_log2 "));
    assert!(message(options(8, 24)).starts_with("max_log2 "));
    let zero = DecomposeOptions {
        shard_tokens: 0,
        ..DecomposeOptions::default()
    };
    assert!(message(zero).starts_with("shard_tokens "));
    assert!(
        "keep"
            .parse::<Remainder>()
            .unwrap_err()
            .to_string()
            .contains("pack or drop")
    );
}

fn arb_options() -> impl Strategy<Value = DecomposeOptions> {
    (
        0u32..6,
        0u32..5,
        any::<bool>(),
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(min_log2, span, shifted_targets, seed)| DecomposeOptions {
            min_log2,
            max_log2: min_log2 + span,
            shifted_targets,
            long_pieces: seed.map_or(LongPieces::Max, |seed| LongPieces::Random { seed }),
            ..DecomposeOptions::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn pieces_tile_each_document_with_bucket_lengths(
        o in arb_options(),
        lengths in prop::collection::vec(1u64..5_000, 1..50),
    ) {
        let mut cutter = Cutter::new(&o);
        let smallest = o.row_tokens(o.min_log2);
        for &length in &lengths {
            let mut pieces = Vec::new();
            let rest = cutter.cut(length, &mut pieces);
            // Adjacent from the document's start: contiguous slices of this document only.
            let mut next = 0;
            for p in &pieces {
                prop_assert_eq!(p.start, next);
                prop_assert!((o.min_log2..=o.max_log2).contains(&p.log2));
                next += o.row_tokens(p.log2);
            }
            // Tokens conserved; the remainder is shorter than the smallest row.
            prop_assert_eq!(next + rest, length);
            prop_assert!(rest < smallest);
            // The greedy rule: below the largest bucket, each piece is the largest that fits.
            let mut at = 0;
            for p in &pieces {
                let fits = (length - at - u64::from(o.shifted_targets)).ilog2();
                if fits <= o.max_log2 {
                    prop_assert_eq!(p.log2, fits);
                }
                at += o.row_tokens(p.log2);
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_pieces(
        o in arb_options(),
        lengths in prop::collection::vec(1u64..100_000, 1..20),
    ) {
        let run = |o: &DecomposeOptions| {
            let mut cutter = Cutter::new(o);
            lengths
                .iter()
                .map(|&l| {
                    let mut pieces = Vec::new();
                    let rest = cutter.cut(l, &mut pieces);
                    (pieces, rest)
                })
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(run(&o), run(&o));
    }
}

// Whole decompositions on disk.

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seqpack-decompose-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A one-shard dataset whose document `d` holds tokens `d * 1_000_000 + i`, so any slice
/// names its document and position.
fn write_dataset(dir: &Path, lengths: &[u32]) {
    write_dataset_with_masks(dir, lengths, None);
}

/// Whether token `i` of document `d` is trained on, in the masks of the tests' masked
/// datasets.
fn trained(d: u64, i: u64) -> bool {
    (d + i) % 3 != 0
}

/// [`write_dataset`], with loss masks by `trained` when `mask` is given.
fn write_dataset_with_masks(dir: &Path, lengths: &[u32], mask: Option<fn(u64, u64) -> bool>) {
    let rows: Vec<Row> = lengths
        .iter()
        .enumerate()
        .map(|(d, &len)| Row {
            tokens: (0..len).map(|i| d as u32 * 1_000_000 + i).collect(),
            source: 0,
            line: d as u64 + 1,
            loss_mask: mask.map(|trained| (0..len).map(|i| trained(d as u64, i.into())).collect()),
        })
        .collect();
    let sources = vec!["docs.jsonl".to_string()];
    let entry: ShardEntry = shard::write_shard(dir, 0, 0, &rows, &sources).unwrap();
    let mut histogram = LengthHistogram::default();
    lengths.iter().for_each(|&l| histogram.add(l.into()));
    Manifest {
        format: shard::FORMAT_NAME.into(),
        format_version: shard::format_version(mask.is_some()),
        tokenizer: TokenizerInfo {
            fingerprint: "test".into(),
            vocab_size: 1 << 31,
            implementation: None,
        },
        total_rows: rows.len() as u64,
        total_tokens: entry.tokens,
        total_text_bytes: 0,
        shards: vec![entry],
        length_histogram: histogram,
        skipped: BTreeMap::new(),
        sources,
        options: BTreeMap::new(),
        loss_mask: mask.map(|trained| shard::LossMaskInfo {
            formats: vec!["messages".into()],
            counts: shard::LossMaskCounts {
                trained_tokens: lengths
                    .iter()
                    .enumerate()
                    .map(|(d, &len)| {
                        (0..len).filter(|&i| trained(d as u64, i.into())).count() as u64
                    })
                    .sum(),
                ..shard::LossMaskCounts::default()
            },
            ..shard::LossMaskInfo::default()
        }),
    }
    .write(&dir.join(shard::MANIFEST))
    .unwrap();
}

/// Every row of every bucket: (log2, tokens), each row's segments checked against its
/// tokens.
fn bucket_rows(out: &Path, m: &DecompositionManifest) -> Vec<(u32, Vec<u32>)> {
    let mut all = Vec::new();
    for b in &m.buckets {
        let dir = out.join(&b.dir);
        let verify = crate::shard::Verify {
            contents: true,
            tokenizer_fingerprint: None,
        };
        let dataset = Dataset::open(&dir, &verify).unwrap();
        assert_eq!(dataset.manifest().total_rows, b.sequences);
        let store = dataset.store();
        for row in 0..store.len() {
            let tokens = store.tokens(row).unwrap().to_vec();
            let lengths = store.seq_lengths(row).unwrap().unwrap();
            assert_eq!(lengths.iter().sum::<u32>() as usize, tokens.len());
            all.push((b.log2, tokens));
        }
    }
    all
}

#[test]
fn lossless_decomposition_keeps_every_token_once() {
    let dir = temp_dir("lossless");
    let lengths = [1u32, 7, 16, 17, 40, 100, 333, 1000, 64, 3];
    std::fs::create_dir_all(dir.join("in")).unwrap();
    write_dataset(&dir.join("in"), &lengths);
    let o = DecomposeOptions {
        shard_tokens: 100, // several shards per bucket
        ..options(4, 7)
    };
    let m = decompose(&dir.join("in"), &dir.join("out"), &o).unwrap();
    let total: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
    assert_eq!(m.corpus.tokens, total);
    assert_eq!((m.bucket_tokens, m.dropped_tokens), (total, 0));
    let rows = bucket_rows(&dir.join("out"), &m);
    let mut seen: Vec<u32> = rows.iter().flat_map(|(_, t)| t.iter().copied()).collect();
    seen.sort_unstable();
    let mut expected: Vec<u32> = lengths
        .iter()
        .enumerate()
        .flat_map(|(d, &l)| (0..l).map(move |i| d as u32 * 1_000_000 + i))
        .collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
    for (log2, tokens) in &rows {
        assert!(tokens.len() as u64 <= 1 << log2);
    }
    let shares: f64 = m.buckets.iter().map(|b| b.token_share).sum();
    assert!((shares - 1.0).abs() < 1e-9);
    // Refuses to write over a decomposition.
    let again = decompose(&dir.join("in"), &dir.join("out"), &o).unwrap_err();
    assert!(again.to_string().contains("exists and is not empty"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn buckets_keep_the_loss_mask_of_every_token() {
    let dir = temp_dir("masks");
    let lengths = [1u32, 7, 16, 17, 40, 100, 333, 3];
    std::fs::create_dir_all(dir.join("in")).unwrap();
    write_dataset_with_masks(&dir.join("in"), &lengths, Some(trained));
    let o = DecomposeOptions {
        shard_tokens: 100,
        ..options(4, 7)
    };
    let m = decompose(&dir.join("in"), &dir.join("out"), &o).unwrap();
    let verify = crate::shard::Verify {
        contents: true,
        tokenizer_fingerprint: None,
    };
    let (mut tokens_seen, mut trained_in_buckets) = (0u64, 0u64);
    for b in &m.buckets {
        let bucket = Dataset::open(&dir.join("out").join(&b.dir), &verify).unwrap();
        let info = bucket
            .manifest()
            .loss_mask
            .clone()
            .expect("a bucket keeps the masks");
        assert_eq!(
            bucket.manifest().format_version,
            shard::LOSS_MASK_FORMAT_VERSION
        );
        let store = bucket.store();
        let mut trained_here = 0;
        for row in 0..store.len() {
            let tokens = store.tokens(row).unwrap();
            let mask = store.loss_mask(row).unwrap().unwrap();
            // Each token names its document and position: its mask is the source's there.
            for (&token, &m) in tokens.iter().zip(mask) {
                let (d, i) = (u64::from(token / 1_000_000), u64::from(token % 1_000_000));
                assert_eq!(m != 0, trained(d, i), "document {d}, token {i}");
                trained_here += u64::from(m);
            }
            tokens_seen += tokens.len() as u64;
        }
        assert_eq!(info.counts.trained_tokens, trained_here);
        trained_in_buckets += trained_here;
    }
    let source = Dataset::open(&dir.join("in"), &verify).unwrap();
    let source_trained = source
        .manifest()
        .loss_mask
        .as_ref()
        .unwrap()
        .counts
        .trained_tokens;
    assert_eq!(tokens_seen, m.corpus.tokens);
    assert_eq!(trained_in_buckets, source_trained);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_remainders_counts_them() {
    let dir = temp_dir("drop");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let lengths = [1u32, 7, 16, 17, 40, 100];
    write_dataset(&dir.join("in"), &lengths);
    let o = DecomposeOptions {
        remainder: Remainder::Drop,
        ..options(4, 7)
    };
    let m = decompose(&dir.join("in"), &dir.join("out"), &o).unwrap();
    // 1 and 7 dropped whole; 17 → 16 + 1; 40 → 32 + 8; 100 → 64 + 32 + 4.
    assert_eq!(m.dropped_tokens, 1 + 7 + 1 + 8 + 4);
    assert_eq!(m.dropped_documents, 2);
    assert_eq!(m.bucket_tokens + m.dropped_tokens, m.corpus.tokens);
    let counts: Vec<u64> = m.buckets.iter().map(|b| b.sequences).collect();
    assert_eq!(counts, vec![2, 2, 1, 0]);
    assert_eq!(
        m.average_sequence_length,
        (16.0 * 2.0 + 32.0 * 2.0 + 64.0) / 5.0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupted_shard_is_named() {
    let dir = temp_dir("corrupt");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    write_dataset(&dir.join("in"), &[10, 20]);
    let shard = dir.join("in").join(shard::shard_file_name(0));
    let mut bytes = std::fs::read(&shard).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&shard, bytes).unwrap();
    let error = decompose(&dir.join("in"), &dir.join("out"), &options(2, 4)).unwrap_err();
    assert!(
        error.to_string().contains("shard-00000.arrow: checksum"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::pack::{Algorithm, LongDocs, PackOptions};
use crate::shard::{Row, TokenStore, shard_file_name, write_shard};

/// A store of documents with the given lengths whose tokens are all distinct: token `t` of
/// document `d` is `d · 10^6 + t`, so any misplaced token is visible.
struct Fixture {
    dir: PathBuf,
    store: Arc<TokenStore>,
}

impl Fixture {
    fn new(lengths: &[usize], per_shard: usize) -> Self {
        Self::with_masks(lengths, per_shard, false)
    }

    /// With `masked`, token `t` of document `d` is trained on unless `trained(d, t)` is false.
    fn with_masks(lengths: &[usize], per_shard: usize, masked: bool) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "seqpack-batch-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let rows: Vec<Row> = lengths
            .iter()
            .enumerate()
            .map(|(d, &n)| Row {
                tokens: (0..n as u32).map(|t| token(d as u64, t as u64)).collect(),
                source: 0,
                line: d as u64 + 1,
                loss_mask: masked.then(|| (0..n as u64).map(|t| trained(d as u64, t)).collect()),
            })
            .collect();
        let sources = vec!["x".to_string()];
        let mut paths = Vec::new();
        for (i, chunk) in rows.chunks(per_shard.max(1)).enumerate() {
            write_shard(&dir, i, (i * per_shard) as u64, chunk, &sources).unwrap();
            paths.push(dir.join(shard_file_name(i)));
        }
        let store = Arc::new(TokenStore::open(&paths).unwrap());
        Fixture { dir, store }
    }
}

/// A store of documents of `lengths` (`per_shard` to a shard) and the plan of an epoch of
/// them: packed with `options`, segments aligned to `align`, rows shuffled with `seed`.
fn planned(
    lengths: &[usize],
    per_shard: usize,
    options: &PackOptions,
    align: u32,
    seed: u64,
) -> (Fixture, Plan) {
    let fixture = Fixture::new(lengths, per_shard);
    let lengths: Vec<i64> = lengths.iter().map(|&n| n as i64).collect();
    let plan = Plan::pack_epoch(&lengths, options, align, Some(seed)).unwrap();
    (fixture, plan)
}

/// Batches of `batches` over `plan` in `fixture`, rows of `seq_len` padded with -7,
/// assembled two ahead.
fn prefetch(
    fixture: &Fixture,
    plan: &Plan,
    batches: impl Into<Batches>,
    seq_len: usize,
) -> Prefetcher {
    let plan = Arc::new(plan.clone());
    Prefetcher::start(fixture.store.clone(), plan, batches, seq_len, -7, 2)
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn token(doc: u64, t: u64) -> u32 {
    (doc * 1_000_000 + t) as u32
}

/// The loss mask of a masked fixture: runs of trained and untrained tokens.
fn trained(doc: u64, t: u64) -> bool {
    (t + doc) % 5 >= 2
}

#[test]
fn labels_follow_the_loss_mask_and_the_document_boundaries() {
    let lengths = [7, 12, 3, 9, 1, 15];
    let fixture = Fixture::with_masks(&lengths, 2, true);
    let lengths: Vec<i64> = lengths.iter().map(|&n| n as i64).collect();
    let seq_len = 8;
    let plan = Plan::pack_epoch(&lengths, &options(8, Algorithm::Obfd, 3), 1, None).unwrap();
    let rows: Vec<Option<usize>> = (0..plan.num_packs()).map(Some).collect();
    let batch = assemble(&fixture.store, &plan, &rows, seq_len, -7).unwrap();
    let mut checked = 0;
    for (r, &p) in rows.iter().enumerate() {
        let mut at = r * seq_len;
        for segment in plan.row(p.unwrap()) {
            for i in 0..segment.len as u64 {
                let t = segment.start + i;
                let expected = if i > 0 && trained(segment.doc, t) {
                    i64::from(token(segment.doc, t))
                } else {
                    IGNORE_INDEX
                };
                assert_eq!(
                    batch.tokens.labels[at], expected,
                    "doc {} token {t}",
                    segment.doc
                );
                at += 1;
                checked += 1;
            }
        }
    }
    assert_eq!(checked as u64, batch.real_tokens);
    // Masked tokens are still real tokens: context-parallel shards count them all.
    let cp_real: u64 = (0..2)
        .map(|rank| {
            let cp = ContextParallel::new(2, rank, CpLayout::Row).unwrap();
            cp.shard(&batch).unwrap().real_tokens
        })
        .sum();
    assert_eq!(cp_real, batch.real_tokens);
}

fn options(capacity: u32, algorithm: Algorithm, seed: u64) -> PackOptions {
    PackOptions {
        capacity,
        algorithm,
        max_docs_per_pack: None,
        long_docs: LongDocs::Split,
        seed: Some(seed),
    }
}

/// Checks every invariant of the batch contract for `batch`, built from `rows` of `plan`.
fn check_batch(batch: &Batch, plan: &Plan, rows: &[Option<usize>], seq_len: usize) {
    assert_eq!(batch.tokens.input_ids.len(), rows.len() * seq_len);
    let mut cu = vec![0i32];
    let mut real = 0;
    for (r, row) in rows.iter().enumerate() {
        let at = |i: usize| r * seq_len + i;
        let mut i = 0;
        for (index, segment) in row.map(|p| plan.row(p)).unwrap_or(&[]).iter().enumerate() {
            let aligned = (segment.len as usize).next_multiple_of(plan.align as usize);
            for t in 0..aligned {
                let real = t < segment.len as usize;
                let expected = if real {
                    i64::from(token(segment.doc, segment.start + t as u64))
                } else {
                    -7
                };
                assert_eq!(batch.tokens.input_ids[at(i)], expected);
                assert_eq!(batch.tokens.position_ids[at(i)], t as i64);
                assert_eq!(batch.tokens.document_ids[at(i)], index as i32);
                let label = if t == 0 || !real {
                    IGNORE_INDEX
                } else {
                    expected
                };
                assert_eq!(batch.tokens.labels[at(i)], label);
                i += 1;
            }
            real += segment.len as u64;
            cu.push((r * seq_len + i) as i32);
        }
        let padding_start = i;
        while i < seq_len {
            assert_eq!(batch.tokens.input_ids[at(i)], -7);
            assert_eq!(batch.tokens.labels[at(i)], IGNORE_INDEX);
            assert_eq!(batch.tokens.document_ids[at(i)], -1);
            assert_eq!(batch.tokens.position_ids[at(i)], (i - padding_start) as i64);
            i += 1;
        }
        if padding_start < seq_len {
            cu.push(((r + 1) * seq_len) as i32);
        }
    }
    assert_eq!(batch.cu_seqlens, cu);
    assert_eq!(batch.real_tokens, real);
    let longest = cu
        .windows(2)
        .map(|w| (w[1] - w[0]) as u32)
        .max()
        .unwrap_or(0);
    assert_eq!(batch.max_seqlen, longest);
}

#[test]
fn a_hand_made_batch() {
    let fixture = Fixture::new(&[3, 2, 6], 2);
    let plan = Plan {
        capacity: 5,
        pack_offsets: vec![0, 2, 3],
        segments: vec![
            Segment {
                doc: 0,
                start: 0,
                len: 3,
            },
            Segment {
                doc: 1,
                start: 0,
                len: 2,
            },
            Segment {
                doc: 2,
                start: 2,
                len: 4,
            },
        ],
        placed_tokens: 9,
        truncated_tokens: 0,
        align: 1,
        alignment_padding: 0,
    };
    let batch = assemble(&fixture.store, &plan, &[Some(1), Some(0), None], 5, -7).unwrap();
    let m = IGNORE_INDEX;
    assert_eq!(
        batch.tokens.input_ids,
        [
            2_000_002, 2_000_003, 2_000_004, 2_000_005, -7, 0, 1, 2, 1_000_000, 1_000_001, -7, -7,
            -7, -7, -7
        ]
    );
    assert_eq!(
        batch.tokens.labels,
        [
            m, 2_000_003, 2_000_004, 2_000_005, m, m, 1, 2, m, 1_000_001, m, m, m, m, m
        ]
    );
    assert_eq!(
        batch.tokens.position_ids,
        [0, 1, 2, 3, 0, 0, 1, 2, 0, 1, 0, 1, 2, 3, 4]
    );
    assert_eq!(
        batch.tokens.document_ids,
        [0, 0, 0, 0, -1, 0, 0, 0, 1, 1, -1, -1, -1, -1, -1]
    );
    assert_eq!(batch.cu_seqlens, [0, 4, 5, 8, 10, 15]);
    assert_eq!(batch.max_seqlen, 5);
    assert_eq!(batch.real_tokens, 9);
}

#[test]
fn a_plan_that_does_not_fit_the_dataset_is_an_error() {
    let fixture = Fixture::new(&[3], 1);
    let plan = Plan {
        capacity: 8,
        pack_offsets: vec![0, 1],
        segments: vec![Segment {
            doc: 0,
            start: 1,
            len: 3,
        }],
        placed_tokens: 3,
        truncated_tokens: 0,
        align: 1,
        alignment_padding: 0,
    };
    let error = assemble(&fixture.store, &plan, &[Some(0)], 8, 0).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("wants tokens 1..4 of document 0, which has 3"),
        "{error}"
    );
    let error = assemble(&fixture.store, &plan, &[Some(0)], 2, 0).unwrap_err();
    assert!(error.to_string().contains("tokens 1..4"), "{error}");
}

#[test]
fn epochs_differ_and_repeat() {
    let lengths: Vec<i64> = (0..400).map(|i| 1 + (i * 37 % 90)).collect();
    let plan = |seed| {
        Plan::pack_epoch(
            &lengths,
            &options(128, Algorithm::Obfd, seed),
            1,
            Some(seed ^ 1),
        )
        .unwrap()
    };
    assert_eq!(plan(1), plan(1));
    assert_ne!(plan(1).segments, plan(2).segments);
    // Not only the order: the rows themselves differ between epochs.
    let rows = |p: &Plan| {
        let mut rows: Vec<Vec<u64>> = (0..p.num_packs())
            .map(|r| {
                let mut docs: Vec<u64> = p.row(r).iter().map(|s| s.doc).collect();
                docs.sort();
                docs
            })
            .collect();
        rows.sort();
        rows
    };
    assert_ne!(rows(&plan(1)), rows(&plan(2)));
}

#[test]
fn errors_name_the_document_in_dataset_order() {
    let mut lengths = vec![5i64; 50];
    lengths[17] = 0;
    let error =
        Plan::pack_epoch(&lengths, &options(8, Algorithm::Obfd, 3), 1, Some(3)).unwrap_err();
    assert!(error.to_string().starts_with("lengths[17] = 0"), "{error}");
}

#[test]
fn the_prefetcher_yields_the_schedule_in_order_also_after_a_fork_like_restart() {
    let lengths: Vec<usize> = (0..60).map(|i| 1 + i * 7 % 23).collect();
    let (fixture, plan) = planned(&lengths, 16, &options(32, Algorithm::Ffd, 5), 1, 5);
    let schedule = Schedule {
        first: 1,
        stride: 6,
        batch_size: 3,
        num_batches: 5,
        dealer: None,
    };
    let mut prefetcher = prefetch(&fixture, &plan, schedule.clone(), 32);
    assert_eq!(prefetcher.remaining(), 5);
    for i in 0..5 {
        if i == 2 {
            // What a forked child sees: the producer is gone. It must resume, not hang.
            prefetcher.ahead.owner = 0;
        }
        let rows = schedule.rows(i, &plan);
        let batch = prefetcher.next_batch().unwrap().unwrap();
        check_batch(&batch, &plan, &rows, 32);
        assert_eq!(
            batch,
            assemble(&fixture.store, &plan, &rows, 32, -7).unwrap()
        );
    }
    assert!(prefetcher.next_batch().is_none());
}

#[test]
fn flattened_batches_put_rows_one_after_the_other_with_documents_isolated() {
    let lengths: Vec<usize> = (0..50).map(|i| 1 + i * 11 % 29).collect();
    let (fixture, plan) = planned(&lengths, 16, &options(40, Algorithm::Obfd, 3), 1, 3);
    let schedule = FlatSchedule {
        batches: vec![vec![0, 2, 5], vec![1], vec![]],
        positions: vec![6, 9, 12],
    };
    let mut prefetcher = prefetch(&fixture, &plan, schedule.clone(), 0);
    assert_eq!(prefetcher.position(), None);
    for (i, rows) in schedule.batches.iter().enumerate() {
        let batch = prefetcher.next_batch().unwrap().unwrap();
        assert_eq!(prefetcher.position(), Some(schedule.positions[i]));
        let segments: Vec<Segment> = rows.iter().flat_map(|&p| plan.row(p).to_vec()).collect();
        let total: usize = segments.iter().map(|s| s.len as usize).sum();
        assert_eq!((batch.batch_size, batch.seq_len), (1, total));
        assert_eq!(batch.real_tokens, total as u64);
        let mut cu = vec![0i32];
        let (mut ids, mut labels, mut positions, mut documents) = (vec![], vec![], vec![], vec![]);
        for (d, s) in segments.iter().enumerate() {
            let tokens: Vec<i64> = (0..u64::from(s.len))
                .map(|t| i64::from(token(s.doc, s.start + t)))
                .collect();
            labels.push(IGNORE_INDEX);
            labels.extend_from_slice(&tokens[1..]);
            ids.extend(tokens);
            positions.extend(0..i64::from(s.len));
            documents.extend(std::iter::repeat_n(d as i32, s.len as usize));
            cu.push(cu.last().unwrap() + s.len as i32);
        }
        assert_eq!(batch.tokens.input_ids, ids);
        assert_eq!(batch.tokens.labels, labels);
        assert_eq!(batch.tokens.position_ids, positions);
        assert_eq!(batch.tokens.document_ids, documents);
        assert_eq!(batch.cu_seqlens, cu);
        let longest = segments.iter().map(|s| s.len).max().unwrap_or(0);
        assert_eq!(batch.max_seqlen, longest);
    }
    assert!(prefetcher.next_batch().is_none());
    // A row that is not in the plan is an error naming it.
    let error = assemble_flat(&fixture.store, &plan, &[plan.num_packs()], 0).unwrap_err();
    assert!(error.to_string().contains("out of range"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Over all ranks and steps of an epoch, every token of every document is in exactly
    /// one batch, in a slice of its document, and every batch keeps the contract, also when
    /// documents are aligned to patches.
    #[test]
    fn every_token_once_across_ranks(
        lengths in prop::collection::vec(1usize..70, 1..120),
        capacity_in_patches in 2u32..16,
        align in prop::sample::select(vec![1u32, 2, 4]),
        algorithm in prop::sample::select(vec![Algorithm::Obfd, Algorithm::Ffd, Algorithm::Nf, Algorithm::Spfhp, Algorithm::Wrapped]),
        world in 1u64..4,
        batch_size in 1usize..4,
        seed in any::<u64>(),
    ) {
        let capacity = capacity_in_patches * align;
        let (fixture, plan) = planned(&lengths, 37, &options(capacity, algorithm, seed), align, seed ^ 1);
        let padding: u64 = plan.segments.iter().map(|s| u64::from(s.len.next_multiple_of(align) - s.len)).sum();
        prop_assert_eq!(plan.alignment_padding, padding);
        prop_assert_eq!(plan.placed_tokens, lengths.iter().sum::<usize>() as u64);
        let per_step = world * batch_size as u64;
        let steps = (plan.num_packs() as u64).div_ceil(per_step);
        let mut seen: Vec<Vec<bool>> = lengths.iter().map(|&n| vec![false; n]).collect();
        for rank in 0..world {
            let schedule = Schedule { first: rank * batch_size as u64, stride: per_step, batch_size, num_batches: steps, dealer: None };
            for i in 0..steps {
                let rows = schedule.rows(i, &plan);
                let batch = assemble(&fixture.store, &plan, &rows, capacity as usize, -7).unwrap();
                check_batch(&batch, &plan, &rows, capacity as usize);
                for p in rows.into_iter().flatten() {
                    for s in plan.row(p) {
                        for t in s.start..s.start + u64::from(s.len) {
                            prop_assert!(!seen[s.doc as usize][t as usize], "token placed twice");
                            seen[s.doc as usize][t as usize] = true;
                        }
                    }
                }
            }
        }
        prop_assert!(seen.iter().all(|doc| doc.iter().all(|&s| s)), "a token was never placed");
    }
}

#[test]
fn context_parallel_chunks_follow_torch_s_head_tail_layouts() {
    let per_document = ContextParallel::new(2, 0, CpLayout::PerDocument).unwrap();
    // Torch's `_PerDocumentHeadTailLoadBalancer` example: documents of 4, 8 and 4 tokens.
    assert_eq!(
        per_document.gather_indices(&[4, 8, 4]).unwrap(),
        [0, 3, 4, 5, 10, 11, 12, 15]
    );
    let row = ContextParallel::new(2, 1, CpLayout::Row).unwrap();
    assert_eq!(
        row.gather_indices(&[4, 8, 4]).unwrap(),
        [4, 5, 6, 7, 8, 9, 10, 11]
    );
    assert_eq!(per_document.document_align(), 4);
    let error = per_document
        .gather_indices(&[6, 2])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("a segment of 6 tokens does not cut into 2·cp_size = 4"),
        "{error}"
    );
    let error = ContextParallel::new(2, 2, CpLayout::Row)
        .unwrap_err()
        .to_string();
    assert_eq!(error, "cp_rank must be in 0..1, got 2");
    let error = row.check_seq_len(30).unwrap_err().to_string();
    assert!(
        error.starts_with("seq_len must be a multiple of 2·cp_size = 4"),
        "{error}"
    );
    assert!("ring".parse::<CpLayout>().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The shards of all ranks hold every position of every row once, with the token,
    /// position and document of that position in the full batch, the label of the next
    /// position of the same document, and every real token once.
    #[test]
    fn context_parallel_shards_cover_each_row_once(
        lengths in prop::collection::vec(1usize..40, 1..40),
        cp_size in 1u32..4,
        per_document in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let layout = if per_document { CpLayout::PerDocument } else { CpLayout::Row };
        let align = if per_document { 2 * cp_size } else { 1 };
        let capacity = 48 * cp_size;
        let (fixture, plan) = planned(&lengths, 16, &options(capacity, Algorithm::Obfd, seed), align, seed);
        let rows: Vec<Option<usize>> = (0..plan.num_packs().min(3)).map(Some).chain([None]).collect();
        let seq_len = capacity as usize;
        let batch = assemble(&fixture.store, &plan, &rows, seq_len, -7).unwrap();
        prop_assert_eq!(batch.real_lengths.len() + 1, batch.cu_seqlens.len());
        prop_assert_eq!(batch.real_lengths.iter().map(|&n| u64::from(n)).sum::<u64>(), batch.real_tokens);
        let mut seen = vec![0u32; batch.tokens.input_ids.len()];
        let mut real = 0;
        for rank in 0..cp_size {
            let shard = ContextParallel::new(cp_size, rank, layout).unwrap().shard(&batch).unwrap();
            prop_assert_eq!(shard.local_len * cp_size as usize, seq_len);
            prop_assert_eq!(shard.cu_seqlens.last().copied(), Some(batch.real_tokens as i32));
            real += shard.real_tokens;
            for (k, &g) in shard.gather_indices.iter().enumerate() {
                let i = (k / shard.local_len) * seq_len + g as usize;
                seen[i] += 1;
                prop_assert_eq!(shard.tokens.input_ids[k], batch.tokens.input_ids[i]);
                prop_assert_eq!(shard.tokens.position_ids[k], batch.tokens.position_ids[i]);
                prop_assert_eq!(shard.tokens.document_ids[k], batch.tokens.document_ids[i]);
                let next_in_row = (g as usize + 1) % seq_len != 0;
                let label = if next_in_row { batch.tokens.labels[i + 1] } else { IGNORE_INDEX };
                prop_assert_eq!(shard.tokens.labels[k], label);
                if label != IGNORE_INDEX {
                    prop_assert_eq!(batch.tokens.document_ids[i + 1], batch.tokens.document_ids[i]);
                }
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1));
        prop_assert_eq!(real, batch.real_tokens);
    }
}

"""Dataset decomposition: the reference's test vectors, token conservation, pieces that are
contiguous power-of-two slices of one document, packed remainders, determinism, bad input."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import seqpack
from hypothesis import given, settings
from hypothesis import strategies as st
from seqpack import CorruptDatasetError, InvalidInputError, SeqpackIOError
from seqpack.cli import main

from .synthetic import STRIDE, write_dataset

Segment = tuple[int, int, int]  # (document, first token, tokens)


def segments(d: seqpack.Decomposition) -> dict[int, list[list[Segment]]]:
    """Every row of every bucket as its segments, each checked to be a contiguous slice of
    one document, where the row's ``documents`` and ``starts`` say it comes from."""
    out: dict[int, list[list[Segment]]] = {}
    for k in d.log2s:
        bucket = d.bucket(k)
        offsets, values = d.seq_lengths(k)
        rows = []
        table = bucket.to_arrow() if len(bucket) else None
        for r in range(len(bucket)):
            assert table is not None
            origin = list(
                zip(
                    table.column("documents")[r].as_py(),
                    table.column("starts")[r].as_py(),
                    strict=True,
                )
            )
            tokens = bucket[r].astype(np.int64)
            lengths = values[offsets[r] : offsets[r + 1]]
            assert int(lengths.sum()) == tokens.size <= d.sequence_length(k)
            row, at = [], 0
            for n in lengths.tolist():
                piece = tokens[at : at + n]
                doc, start = divmod(int(piece[0]), STRIDE)
                assert np.array_equal(piece, np.arange(n) + doc * STRIDE + start), "not a slice"
                row.append((doc, start, n))
                at += n
            # The provenance columns say the same as the tokens.
            assert origin == [(doc, start) for doc, start, _ in row]
            rows.append(row)
        out[k] = rows
    return out


def test_reference_vectors(tmp_path: Path) -> None:
    # The reference's layout and choices: 2^k + 1 tokens per row (the shifted target), long
    # documents cut at the largest bucket, remainders dropped.
    data = write_dataset(tmp_path / "in", [256, 257, 1000, 8194, 20000])
    d = seqpack.decompose(
        data, tmp_path / "out", remainder="drop", deterministic=True, shifted_targets=True
    )
    by_doc: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for rows in segments(d).values():
        for ((doc, start, n),) in rows:
            by_doc[doc].append((start, n))
    pieces = {doc: [n for _, n in sorted(v)] for doc, v in by_doc.items()}
    assert pieces == {1: [257], 2: [513, 257], 3: [8193], 4: [8193, 8193, 2049, 1025, 513]}
    m = d.manifest
    assert m["dropped_tokens"] == 256 + 230 + 1 + 27
    assert m["dropped_documents"] == 1
    assert [b["sequences"] for b in m["buckets"]] == [2, 2, 1, 1, 0, 3]
    assert m["bucket_tokens"] + m["dropped_tokens"] == m["corpus"]["tokens"] == 29707


def test_lossless_default_packs_remainders_with_isolation(tmp_path: Path) -> None:
    lengths = [3, 100, 255, 256, 300, 1000, 5000, 20000]
    d = seqpack.decompose(write_dataset(tmp_path / "in", lengths), tmp_path / "out")
    m = d.manifest
    assert m["dropped_tokens"] == 0 and m["bucket_tokens"] == sum(lengths)
    rows = segments(d)
    covered = sorted((doc, start, n) for r in rows.values() for row in r for doc, start, n in row)
    # Each document is tiled exactly once, in order.
    for doc, n in enumerate(lengths):
        mine = [s for s in covered if s[0] == doc]
        assert [s[1] for s in mine] == list(np.cumsum([0] + [s[2] for s in mine[:-1]]))
        assert sum(s[2] for s in mine) == n
    # Plain pieces are full power-of-two rows; packed rows hold several short segments.
    packed = [row for row in rows[8] if len(row) > 1 or row[0][2] < 256]
    assert packed and all(sum(n for *_, n in row) <= 256 for row in packed)
    for k, bucket_rows in rows.items():
        for row in bucket_rows:
            if len(row) == 1 and row[0][2] == 1 << k:
                continue
            assert k == 8, "only the smallest bucket has packed rows"
    b8 = m["buckets"][0]
    assert b8["packed_rows"] == len(packed)
    assert b8["sequences"] * 256 == b8["tokens"] + b8["padding_tokens"]
    assert sum(b["token_share"] for b in m["buckets"]) == pytest.approx(1.0)
    # The paper's statistics, from the rows and segments.
    all_rows = [(k, row) for k, r in rows.items() for row in r]
    assert m["average_sequence_length"] == pytest.approx(np.mean([1 << k for k, _ in all_rows]))
    seg = np.array([n for _, row in all_rows for *_, n in row], dtype=np.float64)
    assert m["average_context_length"] == pytest.approx((seg * (seg - 1) / 2).sum() / seg.sum())
    whole = np.array(lengths, dtype=np.float64)
    assert m["corpus"]["average_context_length"] == pytest.approx(
        (whole * (whole - 1) / 2).sum() / whole.sum()
    )


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 3000), min_size=1, max_size=40),
    min_log2=st.integers(2, 6),
    span=st.integers(0, 4),
    remainder=st.sampled_from(["pack", "drop"]),
    seed=st.integers(0, 2**64 - 1),
)
def test_every_token_is_kept_once_or_counted_dropped(
    lengths: list[int], min_log2: int, span: int, remainder: str, seed: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = seqpack.decompose(
            write_dataset(Path(tmp) / "in", lengths),
            Path(tmp) / "out",
            min_log2=min_log2,
            max_log2=min_log2 + span,
            remainder=remainder,  # type: ignore[arg-type]
            seed=seed,
            shard_size=500,
        )
        covered = np.zeros(len(lengths), dtype=np.int64)
        for k, rows in segments(d).items():
            for row in rows:
                for doc, start, n in row:
                    if len(row) == 1 and n == 1 << k:
                        continue
                    # Anything but a full piece is a remainder: the document's tail.
                    assert remainder == "pack" and k == min_log2
                    assert start + n == lengths[doc] and n < 1 << min_log2
                for doc, _, n in row:
                    covered[doc] += n
        dropped = np.array(lengths) - covered
        assert (dropped >= 0).all() and (dropped < 1 << min_log2).all()
        m = d.manifest
        assert m["dropped_tokens"] == int(dropped.sum())
        assert m["bucket_tokens"] + m["dropped_tokens"] == sum(lengths)
        if remainder == "pack":
            assert m["dropped_tokens"] == 0


def test_same_seed_same_buckets_other_seed_other_draws(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "in", [50_000, 30_000, 700])

    def checksums(name: str, **options: int | bool) -> list[str]:
        d = seqpack.decompose(data, tmp_path / name, **options)  # type: ignore[arg-type]
        return [
            d.bucket(k).manifest["shards"][0]["checksum"]
            for k in d.log2s
            if d.summary(k)["sequences"]
        ]

    assert checksums("a", seed=7) == checksums("b", seed=7)
    assert checksums("a2", seed=7) != checksums("c", seed=8)
    assert checksums("d", deterministic=True) == checksums("e", deterministic=True)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_dataset(tmp_path / "in", [10, 300, 5000])
    args = ["decompose", str(data), "--out", str(tmp_path / "out"), "--min-log2", "4"]
    assert main([*args, "--max-log2", "9", "--deterministic"]) == 0
    out = capsys.readouterr().out
    assert "3 documents, 5,310 tokens" in out and "D09" in out and "dropped: 0 tokens" in out
    assert main([*args, "--max-log2", "9"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    bad = ["decompose", str(data), "--out", str(tmp_path / "o2"), "--min-log2", "9"]
    assert main([*bad, "--max-log2", "8"]) == 2
    assert "min_log2 must not exceed max_log2" in capsys.readouterr().err


def test_bad_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeqpackIOError, match=r"manifest\.json"):
        seqpack.decompose(tmp_path / "missing", tmp_path / "out")
    data = write_dataset(tmp_path / "in", [10, 20])
    with pytest.raises(InvalidInputError, match="max_log2 must be at most 23"):
        seqpack.decompose(data, tmp_path / "o1", max_log2=30)
    with pytest.raises(InvalidInputError, match="remainder"):
        seqpack.decompose(data, tmp_path / "o2", remainder="keep")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="seed"):
        seqpack.decompose(data, tmp_path / "o3", seed=-1)
    shard = data / "shard-00000.arrow"
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(CorruptDatasetError, match=r"shard-00000\.arrow: checksum"):
        seqpack.decompose(data, tmp_path / "o4")
    with pytest.raises(CorruptDatasetError, match="not a decomposition manifest"):
        seqpack.Decomposition(data)


def test_real_dataset_round_trip(loader_dataset: Path, tmp_path: Path) -> None:
    # A real tokenized dataset in several shards: every bucket row's segments are the source
    # document's tokens at the recorded place, and together they cover each document once.
    source = seqpack.Dataset(loader_dataset)
    assert len(source.manifest["shards"]) > 1
    args = ["decompose", str(loader_dataset), "--out", str(tmp_path / "dd"), "--min-log2", "6"]
    assert main([*args, "--max-log2", "10", "--seed", "5"]) == 0
    d = seqpack.Decomposition(tmp_path / "dd")
    covered = np.zeros(len(source), dtype=np.int64)
    for k in d.log2s:
        bucket = d.bucket(k)
        if not len(bucket):
            continue
        table = bucket.to_arrow()
        offsets, values = d.seq_lengths(k)
        for r in range(len(bucket)):
            tokens, at = bucket[r], 0
            lengths = values[offsets[r] : offsets[r + 1]].tolist()
            docs, starts = table.column("documents")[r].as_py(), table.column("starts")[r].as_py()
            for doc, start, n in zip(docs, starts, lengths, strict=True):
                assert np.array_equal(tokens[at : at + n], source[doc][start : start + n])
                covered[doc] += n
                at += n
    assert np.array_equal(covered, source.lengths)
    assert d.manifest["bucket_tokens"] == source.num_tokens

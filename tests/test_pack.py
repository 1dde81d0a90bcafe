"""Packing through the Python API: invariants (hypothesis), exact cases, inputs, errors."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np
import pytest
import seqpack
from hypothesis import given, settings
from hypothesis import strategies as st
from seqpack import InvalidInputError, SeqpackError

from .conftest import read_histogram


def entries(p: seqpack.Packing) -> list[list[tuple[int, int, int]]]:
    off = p.pack_offsets
    return [
        [(int(p.doc[e]), int(p.start[e]), int(p.length[e])) for e in range(off[k], off[k + 1])]
        for k in range(p.num_packs)
    ]


def check_invariants(
    lengths: list[int], capacity: int, p: seqpack.Packing, depth: int | None, long_docs: str
) -> None:
    assert p.pack_offsets[0] == 0 and p.pack_offsets[-1] == len(p.doc) == len(p.length)
    sizes = np.add.reduceat(p.length, p.pack_offsets[:-1]) if p.num_packs else np.zeros(0)
    assert (sizes <= capacity).all()
    counts = np.diff(p.pack_offsets)
    assert (counts >= 1).all()
    if depth is not None:
        assert counts.max(initial=0) <= depth
    pieces: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d, s, n in zip(p.doc.tolist(), p.start.tolist(), p.length.tolist(), strict=True):
        assert n >= 1
        pieces[d].append((s, n))
    truncated = 0
    for d, length in enumerate(lengths):
        kept = min(length, capacity) if long_docs == "truncate" else length
        at = 0
        for s, n in sorted(pieces.get(d, [])):
            assert s == at, f"document {d}: gap or overlap at {s}"
            at += n
        assert at == kept, f"document {d}: {at} of {kept} tokens placed"
        truncated += length - kept
    assert p.truncated_tokens == truncated
    assert p.placed_tokens == int(p.length.sum())
    if p.num_packs:
        assert p.efficiency == pytest.approx(p.placed_tokens / (p.num_packs * capacity))


cases = st.integers(1, 64).flatmap(
    lambda capacity: st.tuples(
        st.lists(st.integers(1, 3 * capacity), max_size=200),
        st.just(capacity),
        st.sampled_from(seqpack.ALGORITHMS),
        st.none() | st.integers(1, 6),
        st.sampled_from(["split", "truncate"]),
        st.none() | st.integers(0, 2**64 - 1),
    )
)


@settings(max_examples=400, deadline=None)
@given(cases)
def test_every_token_is_placed_once_or_counted(case: tuple) -> None:  # type: ignore[type-arg]
    lengths, capacity, algorithm, depth, long_docs, seed = case

    def pack() -> seqpack.Packing:
        return seqpack.pack(
            lengths,
            capacity,
            algorithm=algorithm,
            max_docs_per_pack=depth,
            long_docs=long_docs,
            seed=seed,
        )

    p = pack()
    check_invariants(lengths, capacity, p, depth, long_docs)
    assert entries(p) == entries(pack())  # the same call packs the same way
    l1, l2 = seqpack.lower_bound(lengths, capacity, long_docs=long_docs)
    stats = p.stats()
    assert (stats["lower_bound_l1"], stats["lower_bound_l2"]) == (l1, l2)
    if algorithm != "wrapped":  # wrapping cuts documents anywhere; the bounds keep them whole
        assert p.num_packs >= l2 >= l1


@settings(max_examples=200, deadline=None)
@given(cases)
def test_optimized_best_fit_equals_textbook_best_fit(case: tuple) -> None:  # type: ignore[type-arg]
    lengths, capacity, _, depth, long_docs, seed = case
    kwargs = {"max_docs_per_pack": depth, "long_docs": long_docs, "seed": seed}
    assert entries(seqpack.pack(lengths, capacity, algorithm="obfd", **kwargs)) == entries(
        seqpack.pack(lengths, capacity, algorithm="bfd", **kwargs)
    )


def test_seed_changes_order_but_not_content() -> None:
    lengths = np.random.default_rng(0).integers(1, 100, size=2000)
    plain = seqpack.pack(lengths, 256)
    a = seqpack.pack(lengths, 256, seed=1)
    b = seqpack.pack(lengths, 256, seed=2)
    assert entries(a) != entries(b) != entries(plain)

    def canonical(p: seqpack.Packing) -> list[list[tuple[int, int, int]]]:
        return sorted(sorted(pack) for pack in entries(p))

    assert canonical(a) == canonical(b) == canonical(plain)


def test_exact_packings() -> None:
    def by_length(algorithm: str, lengths: list[int], capacity: int) -> list[list[int]]:
        p = seqpack.pack(lengths, capacity, algorithm=algorithm)  # type: ignore[arg-type]
        return [[n for _, _, n in pack] for pack in entries(p)]

    assert by_length("obfd", [5, 4, 6, 3, 2], 10) == [[6, 4], [5, 3, 2]]
    assert by_length("ffd", [5, 5, 3], 9) == [[5, 3], [5]]
    assert by_length("obfd", [5, 5, 3], 9) == [[5], [5, 3]]
    assert by_length("nf", [3, 4, 5, 2, 9, 1], 10) == [[3, 4], [5, 2], [9, 1]]
    assert by_length("lpfhp", [4, 4, 4], 10) == [[4, 4], [4]]
    assert by_length("spfhp", [4, 4, 4], 10) == [[4], [4], [4]]
    wrapped = seqpack.pack([3, 4, 5, 2], 5, algorithm="wrapped")
    assert entries(wrapped) == [
        [(0, 0, 3), (1, 0, 2)],
        [(1, 2, 2), (2, 0, 3)],
        [(2, 3, 2), (3, 0, 2)],
    ]


def test_long_documents() -> None:
    split = seqpack.pack([25, 3], 10)
    assert entries(split) == [[(0, 0, 10)], [(0, 10, 10)], [(0, 20, 5), (1, 0, 3)]]
    truncated = seqpack.pack([25, 3], 10, long_docs="truncate")
    assert truncated.truncated_tokens == 15
    assert truncated.placed_tokens == 13
    with pytest.raises(InvalidInputError, match=r"lengths\[1\] = 25 exceeds capacity 10"):
        seqpack.pack([3, 25], 10, long_docs="error")


def test_arrays_are_zero_copy_and_read_only() -> None:
    p = seqpack.pack(np.arange(1, 1000), 1024)
    for name in ("pack_offsets", "doc", "start", "length"):
        array = getattr(p, name)
        assert array.dtype == np.int64
        assert not array.flags.owndata  # memory owned by the Rust vector, not copied
        assert not array.flags.writeable
        assert getattr(p, name) is array  # every access returns the same array, no copy
        with pytest.raises(ValueError):
            array[0] = 7


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint64])
def test_integer_dtypes_are_accepted(dtype: type) -> None:
    lengths = np.array([5, 4, 6, 3, 2], dtype=dtype)
    assert seqpack.pack(lengths, 10).num_packs == 2


@pytest.mark.parametrize(
    ("lengths", "capacity", "message"),
    [
        ([3, 0, 2], 10, r"lengths\[1\] = 0"),
        ([3, 2, -4], 10, r"lengths\[2\] = -4"),
        (np.array([1.0, np.nan]), 10, r"lengths\[1\] is NaN"),
        (np.array([1.0, 2.0]), 10, "integer dtype, got float64"),
        (np.array([True, False]), 10, "integer dtype, got bool"),
        (np.array(["a"]), 10, "integer dtype"),
        (np.ones((2, 2), dtype=np.int64), 10, "1-D"),
        (np.array([2**63], dtype=np.uint64), 10, r"lengths\[0\] = .* does not fit"),
        ([1, 2], 0, "capacity"),
        ([1, 2], -3, "capacity"),
        ([1, 2], 2.5, "capacity"),
        ([1, 2], 1 << 30, "capacity"),
    ],
)
def test_bad_input_is_refused_with_its_index(
    lengths: object, capacity: object, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        seqpack.pack(lengths, capacity)  # type: ignore[arg-type]
    assert isinstance(caught.value, SeqpackError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "best"}, "algorithm"),
        ({"long_docs": "drop"}, "long_docs"),
        ({"max_docs_per_pack": 0}, "max_docs_per_pack"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        seqpack.pack([1, 2, 3], 10, **kwargs)  # type: ignore[arg-type]


def test_empty_input() -> None:
    p = seqpack.pack([], 16)
    assert p.num_packs == 0 and len(p) == 0 and p.efficiency == 1.0


def test_lower_bound_counts_items_that_cannot_share() -> None:
    assert seqpack.lower_bound([6] * 6, 10) == (4, 6)


def test_stats_report() -> None:
    p = seqpack.pack([6, 4, 5, 5, 3], 10)
    s = p.stats()
    assert s["num_packs"] == 3 and s["num_entries"] == 5
    assert s["lower_bound_l1"] == 3 and s["packs_over_lower_bound"] == 0
    assert s["max_docs_per_pack"] == 2 and s["mean_docs_per_pack"] == pytest.approx(5 / 3)
    assert s["seconds"] >= 0 and s["truncated_tokens"] == 0
    assert "obfd" in repr(p)


def test_the_gil_is_released_while_packing() -> None:
    lengths = np.random.default_rng(1).integers(1, 512, size=3_000_000)
    done = threading.Event()
    spins = 0

    def work() -> None:
        seqpack.pack(lengths, 512)
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    # If packing held the GIL this loop could not run until it returned.
    while not done.is_set():
        spins += 1
    thread.join()
    assert spins > 10_000


def test_squad_published_figures(shared_dir) -> None:  # type: ignore[no-untyped-def]
    lengths = read_histogram(shared_dir / "data/packing/squad-1.1-384.csv")
    spfhp = seqpack.pack(lengths, 384, algorithm="spfhp")
    assert abs(100 * spfhp.efficiency - 97.55) < 0.01
    obfd = seqpack.pack(lengths, 384)
    assert obfd.num_packs == 40_631


def test_exact_reports_its_lp_bound_and_beats_greedy() -> None:
    # Best fit pairs the 4s, then three 3s, leaving a 3 alone; 4+3+3 twice is optimal.
    lengths = [4, 4, 3, 3, 3, 3]
    greedy = seqpack.pack(lengths, 10)
    exact = seqpack.pack(lengths, 10, algorithm="exact")
    assert (greedy.num_packs, exact.num_packs) == (3, 2)
    s = exact.stats()
    assert s["algorithm"] == "exact" and s["lower_bound_lp"] == 2
    assert s["packs_over_lower_bound"] == 0
    assert greedy.stats()["lower_bound_lp"] is None
    capped = seqpack.pack(lengths, 10, algorithm="exact", max_docs_per_pack=2)
    assert capped.stats()["lower_bound_lp"] == 3 and capped.num_packs == 3


def test_squad_exact_reaches_its_lp_bound(shared_dir) -> None:  # type: ignore[no-untyped-def]
    lengths = read_histogram(shared_dir / "data/packing/squad-1.1-384.csv")
    exact = seqpack.pack(lengths, 384, algorithm="exact")
    assert 100 * exact.efficiency >= 98.75
    assert exact.stats()["lower_bound_lp"] == 40_195 <= exact.num_packs


def test_nnlshp_fills_exact_strategies_and_refuses_huge_capacities() -> None:
    # 3 + 3 + 4 fills a row of 10: the least-squares fit is exact, every row full.
    p = seqpack.pack([3, 4, 3] * 50, 10, algorithm="nnlshp")
    assert p.num_packs == 50 and p.efficiency == 1.0
    ones = seqpack.pack([1] * 12, 3, algorithm="nnlshp")
    assert int(np.diff(ones.pack_offsets).max()) == 3 and ones.num_packs == 4
    assert ones.stats()["lower_bound_lp"] is None
    with pytest.raises(seqpack.InvalidInputError, match="nnlshp"):
        seqpack.pack([3], 4096, algorithm="nnlshp")

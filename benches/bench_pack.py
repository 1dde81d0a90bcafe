#!/usr/bin/env python3
"""Side-by-side packing benchmark: seqpack's algorithms against the peers on PyPI.

    python benches/bench_pack.py [--quick] [--out benches/results]

Every (tool, algorithm, dataset) measurement runs in a fresh interpreter (this file with
``--worker SPEC``) so that allocator state, imports and caches of one measurement cannot leak
into the next. The worker regenerates its dataset from the seed, prepares the tool's natural
input type untimed, times only the packing call, then validates the packing it returned.
Results go to ``OUT/pack.json`` (raw numbers and the machine) and ``OUT/pack.md`` (tables).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import util
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from harness.formatting import fmt_duration, fmt_mib
from harness.machine import REPO
from harness.machine import machine_description as common_machine
from harness.memory import trim_heap
from harness.results import RunClock, run_lines, run_payload, write_results
from harness.timing import time_calls
from harness.workers import emit, failure, measure_in_worker

Lengths = npt.NDArray[np.int64]

DATA_DIR = (REPO / ".." / "shared" / "data" / "packing").resolve()
BASE_SEED = 20240601
SYNTH_CAPACITY = 2048

# "exact" solves the cutting-stock LP over the histogram (a fixed work budget, a few seconds
# at most): its row shows what greedy leaves on the table, with the LP bound as the reference.
# "nnlshp" is Graphcore's least-squares packing, the published reference for capped packing.
SEQPACK_ALGORITHMS = ("obfd", "bfd", "ffd", "nf", "spfhp", "lpfhp", "wrapped", "exact", "nnlshp")
# NNLSHP fits capacity^2 / 12 strategies with at most 3 documents each: it is run on the real
# histograms, the setting it was published for.
NNLSHP_DATASETS = "histogram"
PEER_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "seqpacker": ("obfd", "obfdp", "bfd", "ffd", "nf"),
    "lightbinpack": ("obfd", "obfdp", "bfd", "ffd", "nf"),
    # to_constant_volume sorts decreasingly and puts each item in the least-loaded bin that
    # fits it: worst-fit decreasing, scanning every open bin for every item.
    "binpacking": ("wfd",),
    # "bfd" is TRL's default (BFD inside Dataset.map windows of 1,000 rows); "bfd-global"
    # passes batch_size=None so one window holds the whole dataset: what global BFD gives.
    "trl": ("bfd", "bfd-global"),
}
# Each peer's headline algorithm: the one still run at N >= 1e7 (see skip_reason).
PEER_HEADLINE = {"seqpacker": "obfd", "lightbinpack": "obfd", "binpacking": "wfd", "trl": "bfd"}
# Peers timed once: a single call already takes seconds, and the median of one is honest
# about it being one call.
SLOW_PEERS = frozenset({"binpacking", "trl"})

# binpacking scans all open bins for each item: ~N * packs / 2 Python-level comparisons.
# Measured on this project's 2-core machine: 2.9e6-3.8e6 per second on 10k items.
BINPACKING_SCANS_PER_S = 3.0e6
TRL_MAX_DOCS = 100_000  # TRL needs real token lists; above this its input alone is GBs.
HUGE_N = 10_000_000  # at this size only each peer's headline algorithm fits the time budget


# ---------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """What a worker needs to regenerate a dataset bit for bit."""

    name: str
    kind: str  # "histogram" or "synthetic"
    source: str  # CSV file name, or distribution name
    capacity: int
    n: int | None  # documents drawn; for a histogram, a prefix of the shuffle (None: all)
    seed: int
    description: str
    max_docs_per_pack: int | None = None  # a cap on documents per row, for every tool


def _seed(name: str) -> int:
    # A per-dataset seed that does not depend on the order datasets are listed in.
    return BASE_SEED + zlib.crc32(name.encode())


def histogram_dataset(
    file: str, capacity: int, n: int | None = None, max_docs_per_pack: int | None = None
) -> DatasetSpec:
    stem = file.removesuffix(".csv")
    name = stem if n is None else f"{stem} ({_fmt_n(n)} sample)"
    what = "all documents" if n is None else f"first {n:,} documents of the shuffle"
    if max_docs_per_pack is not None:
        name += f", max {max_docs_per_pack} per row"
        what += f"; at most {max_docs_per_pack} documents per row"
    return DatasetSpec(
        max_docs_per_pack=max_docs_per_pack,
        name=name,
        kind="histogram",
        source=file,
        capacity=capacity,
        n=n,
        seed=_seed(stem),
        description=f"real length histogram `{file}`, expanded and shuffled ({what})",
    )


SYNTHETIC_DESCRIPTIONS = {
    "lognormal": "log-normal, median L/5, sigma 0.9, clipped to [1, L]",
    "uniform": "uniform integers in [1, L]",
    "bimodal": "70 % N(L/10, L/40) + 30 % N(0.7 L, L/10), clipped to [1, L]",
    "pareto": "Pareto, x_min L/16, alpha 1.2, capped at 16 L: ~3.6 % of documents exceed L",
    "half": "adversarial L/2+eps: 2/3 of items in (L/2, L/2 + L/64], 1/3 in [1, L/2 - L/64]",
    "third": "adversarial L/3 +- delta: uniform in [L/3 - L/64, L/3 + L/64]",
}


def synthetic_dataset(dist: str, n: int) -> DatasetSpec:
    name = f"{dist}-{_fmt_n(n)}"
    return DatasetSpec(
        name=name,
        kind="synthetic",
        source=dist,
        capacity=SYNTH_CAPACITY,
        n=n,
        seed=_seed(name),
        description=f"synthetic {SYNTHETIC_DESCRIPTIONS[dist]}, L = {SYNTH_CAPACITY}",
    )


def _fmt_n(n: int) -> str:
    exponent = round(math.log10(n))
    return f"1e{exponent}" if 10**exponent == n else f"{n:,}"


def _draw_synthetic(dist: str, rng: np.random.Generator, n: int, cap: int) -> npt.NDArray[Any]:
    if dist == "lognormal":
        return np.clip(np.rint(rng.lognormal(np.log(cap / 5), 0.9, n)), 1, cap)
    if dist == "uniform":
        return rng.integers(1, cap, n, endpoint=True)
    if dist == "bimodal":
        short = rng.normal(cap / 10, cap / 40, n)
        long = rng.normal(0.7 * cap, cap / 10, n)
        return np.clip(np.rint(np.where(rng.random(n) < 0.7, short, long)), 1, cap)
    if dist == "pareto":
        return np.minimum(np.ceil(cap / 16 * (1.0 + rng.pareto(1.2, n))), 16 * cap)
    if dist == "half":
        eps = cap // 64
        big = cap // 2 + rng.integers(1, eps, n, endpoint=True)
        small = rng.integers(1, cap // 2 - eps, n, endpoint=True)
        return np.where(rng.random(n) < 2 / 3, big, small)
    if dist == "third":
        delta = cap // 64
        return rng.integers(cap // 3 - delta, cap // 3 + delta, n, endpoint=True)
    raise ValueError(f"unknown distribution {dist!r}")


def _expand_histogram(file: str, rng: np.random.Generator, n: int | None) -> Lengths:
    table = np.loadtxt(DATA_DIR / file, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    lengths = np.repeat(table[:, 0], table[:, 1])
    rng.shuffle(lengths)
    return lengths if n is None else lengths[:n]


def presplit(lengths: Lengths, capacity: int) -> Lengths:
    """Cut documents longer than ``capacity`` into capacity-sized chunks plus a remainder, in
    place of the document, so that every tool packs exactly the same items (the peers refuse
    or truncate long documents; seqpack's long_docs="split" would cut them the same way)."""
    if lengths.size == 0 or int(lengths.max()) <= capacity:
        return lengths
    chunks = -(-lengths // capacity)
    items = np.full(int(chunks.sum()), capacity, dtype=np.int64)
    items[np.cumsum(chunks) - 1] = lengths - (chunks - 1) * capacity
    return items


def make_items(spec: DatasetSpec) -> Lengths:
    """The dataset's items: drawn or expanded from the seed, then pre-split."""
    rng = np.random.default_rng(spec.seed)
    if spec.kind == "histogram":
        raw = _expand_histogram(spec.source, rng, spec.n)
    else:
        assert spec.n is not None
        raw = _draw_synthetic(spec.source, rng, spec.n, spec.capacity)
    return presplit(np.ascontiguousarray(raw, dtype=np.int64), spec.capacity)


def plan_datasets(quick: bool) -> list[DatasetSpec]:
    """The 1e4 tier exists for the pure-Python peer, the only size it finishes at."""
    squad = histogram_dataset("squad-1.1-384.csv", 384)
    if quick:
        # A few minutes: every tool on real data (Wikipedia cut to 1e6), every distribution
        # at 1e5, and one 1e4 set so binpacking runs at least once.
        wiki = histogram_dataset("wikipedia-512.csv", 512, 1_000_000)
        wiki3 = histogram_dataset("wikipedia-512.csv", 512, 1_000_000, max_docs_per_pack=3)
        synthetic = [synthetic_dataset("lognormal", 10_000)]
        synthetic += [synthetic_dataset(dist, 100_000) for dist in SYNTHETIC_DESCRIPTIONS]
        return [squad, wiki, wiki3, *synthetic]
    datasets = [
        squad,
        histogram_dataset("wikipedia-512.csv", 512),
        histogram_dataset("wikipedia-512.csv", 512, max_docs_per_pack=3),
    ]
    for n in (10_000, 100_000, 1_000_000, 10_000_000):
        datasets += [synthetic_dataset(dist, n) for dist in SYNTHETIC_DESCRIPTIONS]
    return datasets


# ---------------------------------------------------------------------------------------------
# Packings in one shape, and their validation
# ---------------------------------------------------------------------------------------------


@dataclass
class Csr:
    """Pack ``p`` holds entries ``pack_offsets[p]:pack_offsets[p+1]``; entry ``e`` is tokens
    ``start[e]:start[e]+length[e]`` of item ``doc[e]`` (seqpack's own output shape)."""

    pack_offsets: Lengths
    doc: Lengths
    start: Lengths
    length: Lengths

    @classmethod
    def whole_items(cls, bin_sizes: Lengths, ids: Lengths, lengths: Lengths) -> Csr:
        """For tools that place whole items: bins given as sizes and concatenated item ids."""
        offsets = np.concatenate(([0], np.cumsum(bin_sizes))).astype(np.int64)
        ids = ids.astype(np.int64, copy=False)
        if ids.size and (ids.min() < 0 or ids.max() >= lengths.size):
            raise InvalidPacking("item id out of range")
        return cls(offsets, ids, np.zeros_like(ids), lengths[ids])


class InvalidPacking(Exception):
    """The tool's output is not a packing of the input items."""


def validate(csr: Csr, lengths: Lengths, capacity: int) -> None:
    """Raise InvalidPacking unless every token of every item is placed exactly once and no
    pack holds more than ``capacity`` tokens."""
    offsets, doc, start, length = csr.pack_offsets, csr.doc, csr.start, csr.length
    if offsets.size == 0 or offsets[0] != 0 or offsets[-1] != doc.size:
        raise InvalidPacking("pack offsets do not span the entries")
    if np.any(np.diff(offsets) <= 0):
        raise InvalidPacking("empty pack or decreasing offsets")
    if doc.size and (doc.min() < 0 or doc.max() >= lengths.size):
        raise InvalidPacking("item id out of range")
    if np.any(length <= 0) or np.any(start < 0) or np.any(start + length > lengths[doc]):
        raise InvalidPacking("entry outside its item")
    pack_tokens = _group_sums(length, np.diff(offsets))
    if pack_tokens.max(initial=0) > capacity:
        raise InvalidPacking(f"a pack holds {int(pack_tokens.max())} > {capacity} tokens")
    _check_cover(doc, start, length, lengths)


def _group_sums(values: Lengths, group_sizes: Lengths) -> Lengths:
    """Sums of consecutive groups of ``values`` of the given sizes (empty groups sum to 0)."""
    ends = np.concatenate(([0], np.cumsum(values)))
    return np.diff(ends[np.concatenate(([0], np.cumsum(group_sizes)))])


def _check_cover(doc: Lengths, start: Lengths, length: Lengths, lengths: Lengths) -> None:
    whole = np.all(start == 0) and np.all(length == lengths[doc])
    if whole:
        # Fast path for tools that never cut items: each id must appear exactly once.
        if not np.all(np.bincount(doc, minlength=lengths.size) == 1):
            raise InvalidPacking("an item is missing or placed twice")
        return
    # Fragments: sorted by (item, start) they must tile each item from 0 to its length.
    order = np.lexsort((start, doc))
    d, s, n = doc[order], start[order], length[order]
    first = np.concatenate(([True], d[1:] != d[:-1]))
    if np.any(s[first] != 0) or np.any(s[1:][~first[1:]] != (s + n)[:-1][~first[1:]]):
        raise InvalidPacking("fragments overlap or leave a gap")
    if not np.array_equal(np.bincount(d, weights=n, minlength=lengths.size), lengths):
        raise InvalidPacking("an item's tokens are not all placed")


# ---------------------------------------------------------------------------------------------
# Tools: natural input, the timed call, and the output read back as a Csr
# ---------------------------------------------------------------------------------------------


class Runner(Protocol):
    input_kind: str

    def prepare(self, items: Lengths) -> Any: ...
    def call(self, prepared: Any) -> Any: ...
    def to_csr(self, result: Any, items: Lengths) -> Csr: ...


class SeqpackRunner:
    input_kind = "numpy int64"

    def __init__(self, algorithm: str, capacity: int, max_docs_per_pack: int | None = None) -> None:
        import seqpack

        self.pack = seqpack.pack
        self.algorithm, self.capacity = algorithm, capacity
        self.max_docs_per_pack = max_docs_per_pack

    def prepare(self, items: Lengths) -> Lengths:
        return items

    def call(self, prepared: Lengths) -> Any:
        return self.pack(
            prepared,
            self.capacity,
            algorithm=self.algorithm,  # type: ignore[arg-type]
            max_docs_per_pack=self.max_docs_per_pack,
        )

    def to_csr(self, result: Any, items: Lengths) -> Csr:
        return Csr(result.pack_offsets, result.doc, result.start, result.length)


class SeqpackerRunner:
    # Packer.pack_flat is seqpacker's fastest documented path: numpy in, flat arrays out.
    input_kind = "numpy int64"

    def __init__(self, algorithm: str, capacity: int) -> None:
        import seqpacker

        self.packer = seqpacker.Packer(capacity, algorithm)

    def prepare(self, items: Lengths) -> Lengths:
        return items

    def call(self, prepared: Lengths) -> Any:
        return self.packer.pack_flat(prepared)

    def to_csr(self, result: Any, items: Lengths) -> Csr:
        # pack_flat returns (item ids, split points): np.split(ids, split_points) gives the
        # bins, so the split points are the inner bin boundaries, without 0 and N.
        ids, inner = (np.asarray(a, dtype=np.int64) for a in result)
        bounds = np.concatenate(([0], inner, [ids.size])) if ids.size else np.zeros(1, np.int64)
        return Csr.whole_items(np.diff(bounds), ids, items)


class ListOfBinsRunner:
    """Tools that take a Python list and return a list of bins (lists)."""

    input_kind = "Python list"

    def to_csr(self, result: Any, items: Lengths) -> Csr:
        sizes = np.fromiter(map(len, result), dtype=np.int64, count=len(result))
        ids = np.fromiter(self.ids(result), dtype=np.int64, count=int(sizes.sum()))
        return Csr.whole_items(sizes, ids, items)

    def ids(self, bins: Any) -> Iterable[int]:
        return itertools.chain.from_iterable(bins)


class LightbinpackRunner(ListOfBinsRunner):
    # Its pybind11 signature takes a Sequence: numpy works but is read element by element
    # (slower than a list), so the list is its natural input and is built before timing.

    def __init__(self, algorithm: str, capacity: int) -> None:
        import lightbinpack

        self.fn = getattr(lightbinpack, algorithm)
        self.capacity = capacity

    def prepare(self, items: Lengths) -> list[int]:
        return items.tolist()  # type: ignore[no-any-return]

    def call(self, prepared: list[int]) -> Any:
        return self.fn(prepared, self.capacity)


class BinpackingRunner(ListOfBinsRunner):
    # Given bare weights, binpacking returns bins of weights, which cannot tell equal items
    # apart; (id, length) tuples with weight_pos=1 make it return the items themselves.
    input_kind = "list of (id, length) tuples"

    def __init__(self, algorithm: str, capacity: int) -> None:
        from binpacking.to_constant_volume import to_constant_volume

        self.fn = to_constant_volume
        self.capacity = capacity

    def prepare(self, items: Lengths) -> list[tuple[int, int]]:
        return list(enumerate(items.tolist()))

    def call(self, prepared: list[tuple[int, int]]) -> Any:
        return self.fn(prepared, self.capacity, weight_pos=1)

    def ids(self, bins: Any) -> Iterable[int]:
        return (item[0] for b in bins for item in b)


class TrlRunner:
    # TRL packs a datasets.Dataset of token lists. Item i is given the tokens [i] * length_i,
    # so the packed rows say which item each segment came from and the content can be checked.
    input_kind = "datasets.Dataset of token lists"

    def __init__(self, algorithm: str, capacity: int) -> None:
        import datasets
        from trl.data_utils import pack_dataset

        datasets.disable_progress_bars()
        self.datasets, self.pack_dataset = datasets, pack_dataset
        self.capacity = capacity
        self.map_kwargs = {"batch_size": None} if algorithm == "bfd-global" else None

    def prepare(self, items: Lengths) -> Any:
        import pyarrow as pa

        offsets = pa.array(np.concatenate(([0], np.cumsum(items))))
        tokens = pa.array(np.repeat(np.arange(items.size, dtype=np.int32), items))
        table = pa.table({"input_ids": pa.LargeListArray.from_arrays(offsets, tokens)})
        # A fixed fingerprint: otherwise datasets hashes every token to make one (seconds).
        table = self.datasets.table.InMemoryTable(table)
        return self.datasets.Dataset(table, fingerprint=f"bench-{items.size}")

    def call(self, prepared: Any) -> Any:
        return self.pack_dataset(prepared, self.capacity, "bfd", self.map_kwargs)

    def to_csr(self, result: Any, items: Lengths) -> Csr:
        import pyarrow.compute as pc

        table = result.with_format("arrow")[:]
        rows = table.column("input_ids").combine_chunks()
        segs = table.column("seq_lengths").combine_chunks()
        tokens = rows.flatten().to_numpy()  # int32 item ids, as prepared
        seg_lens = segs.flatten().to_numpy().astype(np.int64)
        segs_per_row = pc.list_value_length(segs).to_numpy().astype(np.int64)
        if np.any(seg_lens <= 0) or not np.array_equal(
            pc.list_value_length(rows).to_numpy(), _group_sums(seg_lens, segs_per_row)
        ):
            raise InvalidPacking("a row's seq_lengths disagree with its tokens")
        ids = tokens[np.cumsum(seg_lens) - seg_lens]  # first token of each segment
        if not np.array_equal(tokens, np.repeat(ids, seg_lens)):
            raise InvalidPacking("a segment mixes tokens of different items")
        ids = ids.astype(np.int64)
        offsets = np.concatenate(([0], np.cumsum(segs_per_row)))
        # Segment lengths are kept as reported, so validate() checks them against the items.
        return Csr(offsets, ids, np.zeros_like(ids), seg_lens)


RUNNERS: dict[str, Callable[[str, int], Runner]] = {
    "seqpack": SeqpackRunner,
    "seqpacker": SeqpackerRunner,
    "lightbinpack": LightbinpackRunner,
    "binpacking": BinpackingRunner,
    "trl": TrlRunner,
}


# ---------------------------------------------------------------------------------------------
# Worker: one measurement in a fresh interpreter
# ---------------------------------------------------------------------------------------------


# Fresh memory per item that every call is given warm pages for before its first run (seqpack
# obfd's output and scratch need ~30 bytes per item), and the floor of that.
WARM_BYTES_PER_ITEM = 48
WARM_BYTES_MIN = 64 << 20


def _warm_pages(nbytes: int) -> float:
    """Touches ``nbytes`` of fresh memory and frees it again; returns the seconds it took.

    On this benchmark's VM the host reclaims guest memory a few seconds after it is freed
    (virtio-balloon free page reporting), and a call whose output lands on reclaimed pages
    waits on the host for each: 1.3-1.6 s instead of 0.3 s for seqpack obfd on the full
    Wikipedia-512 set. Touching as much memory as the call will need right before it gives
    every tool the same recently backed pages, as a long-running process would have."""
    t0 = time.perf_counter()
    scratch = np.ones(nbytes // 8, dtype=np.int64)
    del scratch
    trim_heap()
    return time.perf_counter() - t0


def _time_calls(
    runner: Runner, prepared: Any, items: Lengths, repeats: int, budget_s: float
) -> dict[str, Any]:
    """Time up to ``repeats`` calls (fewer once they add up to ``budget_s``); keep the first
    result's packing for validation and the largest peak-RSS increase of any call. Before
    each call, warm pages for 1.25 x the largest peak so far (at least an estimate from the
    item count) are touched and freed, untimed (see ``_warm_pages``)."""

    def warm(peak: int) -> None:
        _warm_pages(max(WARM_BYTES_MIN, WARM_BYTES_PER_ITEM * items.size, peak * 5 // 4))

    timing = time_calls(
        lambda: runner.call(prepared),
        repeats,
        budget_s,
        before=warm,
        keep=lambda result: runner.to_csr(result, items),
    )
    return {
        "times_s": timing.times_s,
        "warm_pages_s": timing.before_s,
        "peak_rss_increase_bytes": timing.peak_rss_increase_bytes,
        "peak_reset": timing.peak_reset,
        "csr": timing.first_result,
    }


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import seqpack

    dataset = DatasetSpec(**spec["dataset"])
    items = make_items(dataset)
    l1, l2 = seqpack.lower_bound(items, dataset.capacity)
    out: dict[str, Any] = {
        "n_items": int(items.size),
        "tokens": int(items.sum()),
        "lower_bound_l1": int(l1),
        "lower_bound_l2": int(l2),
    }
    if spec["tool"] == "seqpack":
        runner: Runner = SeqpackRunner(
            spec["algorithm"], dataset.capacity, dataset.max_docs_per_pack
        )
    else:
        runner = RUNNERS[spec["tool"]](spec["algorithm"], dataset.capacity)
    t0 = time.perf_counter()
    prepared = runner.prepare(items)
    out["prepare_s"] = time.perf_counter() - t0
    out["input_kind"] = runner.input_kind
    timing = _time_calls(runner, prepared, items, spec["repeats"], spec["repeat_budget_s"])
    csr: Csr = timing.pop("csr")
    out.update(timing)
    out["median_s"] = statistics.median(timing["times_s"])
    out["packs"] = int(csr.pack_offsets.size - 1)
    out["max_items_per_pack"] = int(np.diff(csr.pack_offsets).max(initial=0))
    out["efficiency"] = out["tokens"] / (out["packs"] * dataset.capacity) if out["packs"] else 0
    try:
        validate(csr, items, dataset.capacity)
        cap = dataset.max_docs_per_pack
        if cap is not None and out["max_items_per_pack"] > cap:
            raise InvalidPacking(f"a pack holds {out['max_items_per_pack']} > {cap} items")
        out["status"] = "ok"
    except InvalidPacking as exc:
        out["status"], out["reason"] = "invalid", str(exc)
    return out


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    try:
        result = run_worker(spec)
    except InvalidPacking as exc:  # raised while reading the output back
        result = {"status": "invalid", "reason": str(exc)}
    except Exception as exc:
        result = failure(exc)
    emit(result)


# ---------------------------------------------------------------------------------------------
# Driver: plan, skip what cannot finish, run the workers, write JSON and markdown
# ---------------------------------------------------------------------------------------------


@dataclass
class Settings:
    quick: bool
    repeats: int
    slow_repeats: int
    repeat_budget_s: float  # stop repeating once the timed calls add up to this
    worker_timeout_s: float
    binpacking_max_s: float  # skip binpacking when its estimated time exceeds this

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        if quick:
            return cls(True, 2, 1, 2.0, 180.0, 20.0)
        return cls(False, 3, 1, 5.0, 600.0, 60.0)


@dataclass
class Measurement:
    dataset: str
    tool: str
    algorithm: str
    status: str  # ok | invalid | failed | timeout | skipped
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0  # the whole worker process, for planning the run's length


def skip_reason(
    dataset: DatasetSpec, tool: str, algorithm: str, docs: int, settings: Settings
) -> str | None:
    """Why (tool, algorithm) is not run on ``dataset``, or None to run it."""
    if tool != "seqpack" and util.find_spec(tool) is None:
        return "not installed"
    if tool != "seqpack" and dataset.max_docs_per_pack is not None:
        return "no cap on documents per row"
    if (tool, algorithm) == ("seqpack", "nnlshp") and dataset.kind != NNLSHP_DATASETS:
        return "run on the real histograms only (capacity^2 / 12 strategies at L = 2048)"
    if tool == "binpacking":
        # ~N * packs / 2 Python-level bin checks; packs >= tokens / L (estimated from docs).
        est = _binpacking_estimate_s(dataset, docs)
        if est > settings.binpacking_max_s:
            return f"too slow: O(N x packs) bin scan, est. ~{fmt_duration(est)}"
    if tool == "trl":
        reason = _trl_skip_reason(dataset, algorithm, docs, settings.quick)
        if reason:
            return reason
    if tool != "seqpack" and docs >= HUGE_N and algorithm != PEER_HEADLINE[tool]:
        return f"too slow for the time budget at N >= 1e7 (the peer's {PEER_HEADLINE[tool]} is run)"
    return None


def _trl_skip_reason(dataset: DatasetSpec, algorithm: str, docs: int, quick: bool) -> str | None:
    # Importing trl (torch, transformers) costs 10-20 s of every TRL process on 2 cores, so
    # TRL runs where it says most: the real data and the 1e5 tier (log-normal in --quick);
    # the one-window control only needs one synthetic set to make its point.
    if docs > TRL_MAX_DOCS:
        return f"too slow: token lists for N > {TRL_MAX_DOCS:,} documents"
    if dataset.kind == "histogram":
        return None
    if docs < TRL_MAX_DOCS:
        return "too slow: ~15 s import per process; TRL is run at N = 1e5"
    if dataset.source != "lognormal" and (quick or algorithm == "bfd-global"):
        where = "--quick" if quick else "the time budget (it runs on SQuAD and log-normal)"
        return f"too slow for {where}: ~15 s import per process"
    return None


def _binpacking_estimate_s(dataset: DatasetSpec, docs: int) -> float:
    if docs > 1_000_000:
        return math.inf  # no need to draw the data to know
    items = make_items(dataset)
    packs = math.ceil(int(items.sum()) / dataset.capacity)
    return items.size * packs / 2 / BINPACKING_SCANS_PER_S


def dataset_docs(dataset: DatasetSpec) -> int:
    if dataset.n is not None:
        return dataset.n
    table = np.loadtxt(DATA_DIR / dataset.source, delimiter=",", skiprows=1, dtype=np.int64)
    return int(table[:, 1].sum())


def run_measurement(
    dataset: DatasetSpec, tool: str, algorithm: str, settings: Settings
) -> Measurement:
    slow = tool in SLOW_PEERS
    spec = {
        "dataset": asdict(dataset),
        "tool": tool,
        "algorithm": algorithm,
        "repeats": settings.slow_repeats if slow else settings.repeats,
        "repeat_budget_s": settings.repeat_budget_s,
    }
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    outcome = measure_in_worker(cmd, settings.worker_timeout_s, cwd=REPO)
    return Measurement(dataset.name, tool, algorithm, outcome.status, outcome.reason, outcome.data)


def machine_description() -> dict[str, Any]:
    return {
        **common_machine(
            ["seqpack", "seqpacker", "lightbinpack", "binpacking", "trl", "datasets", "pyarrow"]
        ),
        "numpy": np.__version__,
    }


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

TOOL_NOTES = {
    ("seqpack", "wrapped"): "cuts documents across packs (contaminating; L2 does not bound it)",
    ("seqpack", "spfhp"): "histogram-based (Graphcore)",
    ("seqpack", "lpfhp"): "histogram-based (Graphcore)",
    ("seqpack", "exact"): "cutting-stock LP, column generation; fixed work budget",
    ("seqpack", "nnlshp"): "Graphcore's least-squares histogram packing, at most 3 per row",
    ("seqpacker", "obfdp"): "parallel",
    ("lightbinpack", "obfdp"): "parallel",
    ("binpacking", "wfd"): "to_constant_volume: worst-fit decreasing, pure Python",
    ("trl", "bfd"): "pack_dataset default: BFD within Dataset.map windows of 1,000 rows",
    ("trl", "bfd-global"): "pack_dataset, map batch_size=None: one window, global BFD",
}
INPUT_NOTES = {
    "numpy int64": "numpy",
    "Python list": "list",
    "list of (id, length) tuples": "list of (id, len)",
    "datasets.Dataset of token lists": "Dataset of token lists",
}


def _fmt_rate(m_per_s: float) -> str:
    return f"{m_per_s:.2f}" if m_per_s >= 0.1 else f"{m_per_s:.2g}"


def _fmt_ratio(ratio: float) -> str:
    # Two decimals hide how far behind the slow peers are; keep two significant digits.
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def _input_cell(d: dict[str, Any]) -> str:
    # Conversions are never timed; say what one costs, so a reader can add it back.
    kind = str(INPUT_NOTES.get(d["input_kind"], d["input_kind"]))
    if d["input_kind"] == "numpy int64":
        return kind
    return f"{kind} (built in {fmt_duration(d['prepare_s'])}, untimed)"


def _row(m: Measurement, baseline_s: float | None) -> list[str]:
    label = f"{m.tool} {m.algorithm}"
    note = TOOL_NOTES.get((m.tool, m.algorithm), "")
    if m.status != "ok":
        word = {"skipped": "skipped", "timeout": "timed out"}.get(m.status, m.status)
        text = f"**{word}** ({m.reason})" if m.reason else f"**{word}**"
        return [label, "", text, *[""] * 7, note]
    d = m.data
    over = d["packs"] - d["lower_bound_l2"]
    over_pct = 100 * over / d["lower_bound_l2"] if d["lower_bound_l2"] else 0.0
    ratio = _fmt_ratio(baseline_s / d["median_s"]) if baseline_s else "n/a"
    runs = len(d["times_s"])
    return [
        label,
        _input_cell(d),
        f"{d['packs']:,}",
        f"{over:+,} ({over_pct:+.2f} %)",
        f"{100 * d['efficiency']:.3f}",
        f"{fmt_duration(d['median_s'])} (×{runs})",
        _fmt_rate(d["n_items"] / d["median_s"] / 1e6),
        fmt_mib(d["peak_rss_increase_bytes"]),
        ratio,
        str(d["max_items_per_pack"]),
        note,
    ]


HEADER = [
    "tool / algorithm",
    "input",
    "packs",
    "packs over L2",
    "efficiency %",
    "median time (runs)",
    "M lengths/s",
    "peak mem MB",
    "speed vs seqpack obfd",
    "max items/pack",
    "notes",
]


def _dataset_table(dataset: DatasetSpec, rows: Sequence[Measurement]) -> list[str]:
    ok = [m for m in rows if m.status == "ok"]
    base = next((m for m in ok if (m.tool, m.algorithm) == ("seqpack", "obfd")), None)
    baseline_s = base.data["median_s"] if base else None
    lines = [f"### {dataset.name}", "", f"{dataset.description}; capacity {dataset.capacity}."]
    if ok:
        d = ok[0].data
        lines[-1] += (
            f" {d['n_items']:,} items, {d['tokens']:,} tokens; lower bounds"
            f" L1 = {d['lower_bound_l1']:,}, L2 = {d['lower_bound_l2']:,} packs."
        )
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_row(m, baseline_s)) + " |" for m in rows]
    return [*lines, ""]


SUMMARY_PEERS = (
    ("seqpacker", "obfd"),
    ("lightbinpack", "obfd"),
    ("trl", "bfd"),
    ("binpacking", "wfd"),
)


def _summary(datasets: Sequence[DatasetSpec], results: Sequence[Measurement]) -> list[str]:
    """One line per dataset: seqpack obfd, then each peer's headline relative to it."""
    by_key = {(r.dataset, r.tool, r.algorithm): r for r in results}
    peers = [f"{tool} {alg}" for tool, alg in SUMMARY_PEERS]
    lines = [
        "| dataset | items | seqpack obfd: time, packs over L2 | " + " | ".join(peers) + " |",
        "|" + "---|" * (3 + len(peers)),
    ]
    for dataset in datasets:
        base = by_key.get((dataset.name, "seqpack", "obfd"))
        if base is None or base.status != "ok":
            continue
        b = base.data
        cells = [
            dataset.name,
            f"{b['n_items']:,}",
            f"{fmt_duration(b['median_s'])}, {b['packs'] - b['lower_bound_l2']:+,}",
        ]
        for tool, alg in SUMMARY_PEERS:
            m = by_key.get((dataset.name, tool, alg))
            if m is None or m.status != "ok":
                cells.append(m.status if m else "")
                continue
            speed = _fmt_ratio(b["median_s"] / m.data["median_s"])
            cells.append(f"{speed}, {m.data['packs'] - b['packs']:+,} packs")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(
    machine: dict[str, Any],
    run: dict[str, Any],
    settings: Settings,
    datasets: Sequence[DatasetSpec],
    results: Sequence[Measurement],
) -> str:
    lines = [
        "# Packing benchmark: seqpack against its peers",
        "",
        *run_lines(run, machine, settings.quick),
        f"- Time: median of up to {settings.repeats} calls ({settings.slow_repeats} for"
        f" binpacking and TRL), fewer once the calls add up to {settings.repeat_budget_s:g} s;"
        " only the packing call is timed, each measurement in a fresh process. Before each"
        " call, fresh memory of 1.25 × the largest peak so far (at least"
        f" {WARM_BYTES_PER_ITEM} bytes per item) is touched and freed, untimed: this VM's host"
        " reclaims freed guest memory within seconds, and a call landing on reclaimed pages"
        " runs several times slower (seqpack obfd on Wikipedia-512: 1.3–1.6 s instead of"
        " 0.3 s); every tool gets the same warm pages, as in a long-running process.",
        "- Peak mem: the largest increase of the RSS high-water mark (VmHWM) during one"
        " packing call over the RSS just before it (freed heap trimmed and mark reset first):"
        " peak over baseline, output included.",
        "- Speed vs seqpack obfd: seqpack obfd's median time / this row's (above 1 = faster).",
        "- Packs over L2: packs minus the Martello–Toth lower bound; no packing that keeps"
        " documents whole can go below it. Items longer than the capacity are pre-split into"
        " capacity-sized chunks for every tool, so all tools pack the same items.",
        "",
        "## Summary",
        "",
        "Each peer's headline algorithm against seqpack obfd: speed ratio (above 1 = faster"
        " than seqpack obfd) and packs more (+) or fewer (−) than seqpack obfd.",
        "",
        *_summary(datasets, results),
        "",
        "## Per dataset",
        "",
    ]
    for dataset in datasets:
        lines += _dataset_table(dataset, [r for r in results if r.dataset == dataset.name])
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def run_all(settings: Settings, datasets: Sequence[DatasetSpec]) -> list[Measurement]:
    tools = [("seqpack", algorithm) for algorithm in SEQPACK_ALGORITHMS]
    tools += [(tool, alg) for tool, algs in PEER_ALGORITHMS.items() for alg in algs]
    plan = [(d, tool, alg) for d in datasets for tool, alg in tools]
    results: list[Measurement] = []
    docs_of = {d.name: dataset_docs(d) for d in datasets}
    for i, (dataset, tool, alg) in enumerate(plan, 1):
        reason = skip_reason(dataset, tool, alg, docs_of[dataset.name], settings)
        if reason is not None:
            m = Measurement(dataset.name, tool, alg, "skipped", reason)
        else:
            t0 = time.perf_counter()
            m = run_measurement(dataset, tool, alg, settings)
            m.wall_s = round(time.perf_counter() - t0, 2)
        results.append(m)
        print(f"[{i}/{len(plan)}] {dataset.name:28} {tool:12} {alg:10} {_progress(m)}", flush=True)
    return results


def _progress(m: Measurement) -> str:
    if m.status != "ok":
        return f"{m.status}: {m.reason}"
    d = m.data
    return f"{fmt_duration(d['median_s']):>9}  packs {d['packs']:,}  eff {d['efficiency']:.4%}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N <= 1e6, fewer repeats")
    parser.add_argument("--out", type=Path, default=REPO / "benches" / "results")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        action="append",
        help="run only the datasets whose name contains TEXT (repeatable: any of them)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return
    settings = Settings.for_mode(args.quick)
    datasets = [
        d
        for d in plan_datasets(args.quick)
        if not args.only or any(text in d.name for text in args.only)
    ]
    # The load average tells a reader whether other work shared the CPUs during the run.
    clock = RunClock()
    results = run_all(settings, datasets)
    write_outputs(args.out, settings, datasets, results, clock.record(__file__))


def write_outputs(
    out: Path,
    settings: Settings,
    datasets: Sequence[DatasetSpec],
    results: Sequence[Measurement],
    run: dict[str, Any],
) -> None:
    machine = machine_description()
    payload = run_payload(run, machine, settings, results, datasets=[asdict(d) for d in datasets])
    markdown = render_markdown(machine, run, settings, datasets, results)
    write_results(out, "pack", payload, markdown)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Long-context balance: how evenly a step's attention work falls on data-parallel ranks
(round-robin against seqpack's balancer, with and without the cost-spread row order, and a
peer's), how evenly a row's causal attention falls on context-parallel ranks (both
head-tail layouts against a contiguous split), and the loader's tokens/s with and without
balancing, and with token budgets.

    python benches/bench_long_context.py [--quick] [--linux-c DIR] [--work DIR] [--out DIR]

Length distributions: the Wikipedia-512 and SQuAD-384 histograms of the packing paper
(scaled so that their capacity is the row length), and a C corpus from the Linux kernel
tree (a fixed sample of its .c/.h files, tokenized with a byte-level BPE trained on it;
real lengths, not scaled). Rows are packed (obfd, long documents split) and shuffled as the
loader packs an epoch; a step is ``W × B`` consecutive rows.

Data-parallel cost is attention work, ``Σ l²`` over a row's documents, and every balancer is
given those costs. Per (distribution, seq_len, W) and method: ``time`` = Σ over steps of the
most loaded rank's cost / Σ of the mean rank's (what the slowest rank makes everyone wait),
``worst`` = the largest max/mean of any step. Results go to ``OUT/long_context.json`` and
``OUT/long_context.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import seqpack
from harness.datasets import preprocess_once
from harness.machine import REPO, machine_description
from harness.results import RunClock, machine_section, write_results
from seqpack import _core

HISTOGRAMS = REPO / ".." / "shared" / "data" / "packing"
SEQ_LENS = (8192, 32768, 131072)
WORLDS = (8, 64)
ROWS_PER_RANK = 4  # B: rows per rank and step
SEED = 20261203
SPREAD = "seqpack kk + spread"
EPOCH_READS = 32  # reads of epoch 0 per loader timing: ~10 ms each, too short alone

Costs = npt.NDArray[np.float64]
Balancer = Callable[[Costs, int], list[int]]  # the group of each cost, W groups


def histogram_lengths(name: str, capacity: int, seq_len: int, docs: int) -> npt.NDArray[np.int64]:
    """``docs`` lengths drawn from a published histogram, scaled to rows of ``seq_len``."""
    table = np.loadtxt(HISTOGRAMS / name, delimiter=",", skiprows=1, dtype=np.int64)
    p = table[:, 1] / table[:, 1].sum()
    drawn = np.random.default_rng(SEED).choice(table[:, 0], size=docs, p=p)
    return np.maximum(1, drawn * seq_len // capacity)


def linux_c_lengths(src: Path, work: Path) -> tuple[npt.NDArray[np.int64], Path]:
    """Token lengths of every 16th .c/.h file of the kernel tree (sorted paths), tokenized by
    ``seqpack preprocess`` with an 8k BPE trained on the first 500 of them."""
    dataset = work / "linux-c"
    corpus = work / "linux-c.jsonl"
    tokenizer = work / "linux-c-tokenizer.json"
    if not corpus.exists():
        files = sorted(p for p in src.rglob("*") if p.suffix in (".c", ".h") and p.is_file())
        with corpus.open("w", encoding="utf-8") as f:
            for p in files[::16]:
                text = p.read_text(encoding="utf-8", errors="replace")
                f.write(json.dumps({"text": text, "source": str(p.relative_to(src))}) + "\n")
    if not tokenizer.exists():
        with corpus.open(encoding="utf-8") as f:
            sample = [json.loads(line)["text"] for _, line in zip(range(500), f, strict=False)]
        seqpack.train_bpe(sample, 8192, special_tokens=["<|endoftext|>"], out=tokenizer)
    preprocess_once([corpus], tokenizer, dataset)
    return seqpack.Dataset(dataset).lengths.astype(np.int64), dataset


def epoch_rows(
    lengths: npt.NDArray[np.int64], seq_len: int, rows: int, spread: bool = False
) -> list[list[int]]:
    """At least ``rows`` rows (document lengths per row), epoch after epoch, each packed
    and shuffled with its own seed as the loader does; with ``spread``, each epoch's rows
    then put in the core's cost-spread order (``PackedLoader(spread_cost=True)``)."""
    out: list[list[int]] = []
    epoch = 0
    while len(out) < rows:
        order = np.random.default_rng(SEED + epoch).permutation(len(lengths))
        packing = seqpack.pack(lengths[order], seq_len, seed=SEED + epoch)
        offsets, length = packing.pack_offsets, packing.length
        packed = [length[a:b].tolist() for a, b in itertools.pairwise(offsets)]
        if spread:
            work = [sum(n * n for n in r) for r in packed]
            packed = [packed[i] for i in _core.spread_order(work, SEED + epoch)]
        out.extend(packed)
        epoch += 1
    return out[:rows]


def round_robin(costs: Costs, world: int) -> list[int]:
    per_rank = len(costs) // world
    return [i // per_rank for i in range(len(costs))]


def lower_bound(costs: Costs, world: int) -> list[int]:
    """Not a deal: marks the step for :func:`step_balance` to report the bound on any deal's
    most loaded rank, max(mean rank, costliest row)."""
    raise NotImplementedError


def seqpack_balancer(method: str) -> Balancer:
    return lambda costs, world: _core.balance_partition(costs.tolist(), world, method)


def peer_balancers() -> tuple[dict[str, Balancer], list[str]]:
    """The peers that deal a step's given rows to ranks by cost with every rank the same
    number of rows, and why any is missing. verl's ``get_seqlen_balanced_partitions``
    (Karmarkar–Karp, ``equal_size=True``; verl feeds it workloads per sequence, here it gets
    each row's cost). lightbinpack has no such deal: its DP-aware ``pack(...,
    variant="square", dp_size=W)`` (OGBFD) packs documents into W bins of its own and
    balances their tokens, and its ``load_balance`` orders a row's documents for
    context-parallel ranks (see :func:`lightbinpack_cp_order`)."""
    try:
        from verl.utils.seqlen_balancing import (  # type: ignore[import-not-found]
            get_seqlen_balanced_partitions,
        )
    except ImportError as error:
        return {}, [
            f"verl ({error}; `pip install verl`, or for this bench alone `pip install "
            "--no-deps verl tensordict pyvers omegaconf`)"
        ]

    def verl_kk(costs: Costs, world: int) -> list[int]:
        parts = get_seqlen_balanced_partitions([int(c) for c in costs], world, True)
        group = [0] * len(costs)
        for g, members in enumerate(parts):
            for i in members:
                group[i] = g
        return group

    return {"verl kk": verl_kk}, []


def lightbinpack_cp_order() -> tuple[Callable[[list[int], int], list[int]] | None, str | None]:
    """lightbinpack's ``load_balance(lengths, nodes)``: the row's documents reordered (one
    moved to the end) so that head–tail chunks of the whole row give ``nodes`` ranks even
    attention work; the peer of the ``row`` layout. ``None`` and why when not installed."""
    try:
        from lightbinpack import load_balance  # type: ignore[import-not-found]
    except ImportError as error:
        return None, f"lightbinpack ({error}; `pip install lightbinpack`, builds from source)"
    return (lambda lengths, nodes: list(load_balance(lengths, nodes))), None


def step_balance(rows: list[list[int]], world: int, balancer: Balancer) -> dict[str, float]:
    """``time``, ``worst`` and the balancer's median µs per step over the steps of ``rows``."""
    per_step = world * ROWS_PER_RANK
    slowest = mean = worst = 0.0
    took: list[float] = []
    for s in range(len(rows) // per_step):
        costs = np.array(
            [float(sum(n * n for n in r)) for r in rows[s * per_step : (s + 1) * per_step]]
        )
        if balancer is lower_bound:
            slowest += max(costs.sum() / world, costs.max())
            mean += costs.sum() / world
            worst = max(worst, max(costs.sum() / world, costs.max()) / (costs.sum() / world))
            took.append(0.0)
            continue
        t0 = time.perf_counter()
        group = balancer(costs, world)
        took.append(time.perf_counter() - t0)
        sizes = np.bincount(group, minlength=world)
        assert (sizes == ROWS_PER_RANK).all(), "a rank got another number of rows"
        loads = np.bincount(group, weights=costs, minlength=world)
        slowest += loads.max()
        mean += loads.mean()
        worst = max(worst, loads.max() / loads.mean())
    return {"time": slowest / mean, "worst": worst, "us_per_step": statistics.median(took) * 1e6}


def causal_work(queries: list[int], segment_starts: list[int]) -> int:
    """Keys the ``queries`` (positions of a row) attend to under the document-causal mask."""
    starts = np.array(segment_starts)
    q = np.array(queries)
    first = starts[np.searchsorted(starts, q, side="right") - 1]
    return int((q - first + 1).sum())


def cp_balance(
    lengths: npt.NDArray[np.int64],
    seq_len: int,
    cp_size: int,
    peer_order: Callable[[list[int], int], list[int]] | None,
) -> dict[str, float]:
    """Max/mean causal-attention work over CP ranks, averaged over 400 rows, per layout
    (per-document rows packed from lengths aligned to 2C, as the loader packs them; with
    ``peer_order``, the row layout over the documents in lightbinpack's order too), and the
    tokens that alignment adds."""
    chunks = 2 * cp_size
    aligned = -(-lengths // chunks) * chunks
    layouts = ["per-document", "row", "contiguous"] + (["row lightbinpack"] if peer_order else [])
    out: dict[str, list[float]] = {layout: [] for layout in layouts}
    for layout in out:
        source = aligned if layout == "per-document" else lengths
        for row in epoch_rows(source, seq_len, 400):
            if layout == "row lightbinpack" and peer_order is not None:
                row = peer_order(row, cp_size)
            end = seq_len - sum(row)
            segments = [*row, end] if end else row
            starts = np.cumsum([0, *segments[:-1]]).tolist()
            if layout == "contiguous":
                part = seq_len // cp_size
                ranks = [list(range(r * part, (r + 1) * part)) for r in range(cp_size)]
            else:
                cut = "per-document" if layout == "per-document" else "row"
                cp = [_core.ContextParallel(cp_size, r, cut) for r in range(cp_size)]
                ranks = [c.gather_indices(segments) for c in cp]
            work = [causal_work(r, starts) for r in ranks]
            out[layout].append(max(work) / statistics.mean(work))
    return {
        **{k: statistics.mean(v) for k, v in out.items()},
        "alignment_padding": float(aligned.sum() - lengths.sum()) / float(lengths.sum()),
    }


LOADERS: dict[str, dict[str, Any]] = {
    "none": {"batch_size": ROWS_PER_RANK},
    "attention": {"batch_size": ROWS_PER_RANK, "balance": "attention"},
    "attention + spread": {
        "batch_size": ROWS_PER_RANK,
        "balance": "attention",
        "spread_cost": True,
    },
    "budget": {"batch_tokens": ROWS_PER_RANK * 8192},
    "budget attention": {"batch_tokens": ROWS_PER_RANK * 8192, "balance": "attention"},
}


def loader_throughput(dataset: Path, rounds: int) -> dict[str, float]:
    """Real tokens/s of rank 0 of 8 over epoch 0 read ``EPOCH_READS`` times at seq_len 8192:
    B = 4 rows, round-robin, balanced, balanced over the cost-spread order, and token budgets
    of 4 rows' tokens (next-fit, balanced); in interleaved rounds (median of each); the
    epoch's plan is made untimed."""
    from seqpack.torch import PackedLoader

    times: dict[str, list[float]] = {name: [] for name in LOADERS}
    tokens: dict[str, int] = {}
    for _ in range(rounds):
        for name, options in LOADERS.items():
            loader = PackedLoader(dataset, 8192, rank=0, world_size=8, verify=False, **options)
            len(loader)  # plans epoch 0
            real = 0
            t0 = time.perf_counter()
            for _ in range(EPOCH_READS):
                loader.set_epoch(0)
                real += sum(int((b["document_ids"] >= 0).sum()) for b in loader)
            times[name].append(time.perf_counter() - t0)
            tokens[name] = real
    return {k: tokens[k] / statistics.median(v) for k, v in times.items()}


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rows")
    parser.add_argument("--linux-c", type=Path, default=Path("/tmp/long-linux/src"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/seqpack-bench-long"))
    parser.add_argument("--out", type=Path, default=REPO / "benches" / "results")
    args = parser.parse_args()
    clock = RunClock()
    args.work.mkdir(parents=True, exist_ok=True)
    steps = 5 if args.quick else 20
    code, dataset = linux_c_lengths(args.linux_c, args.work)
    peers, missing = peer_balancers()
    peer_order, missing_order = lightbinpack_cp_order()
    missing += [missing_order] if missing_order else []
    for reason in missing:
        print(f"peer skipped: {reason}", file=sys.stderr)
    balancers: dict[str, Balancer] = {
        "round-robin": round_robin,
        "bound": lower_bound,
        "seqpack kk": seqpack_balancer("kk"),
        "seqpack lpt": seqpack_balancer("lpt"),
        **peers,
    }
    dp: list[dict[str, Any]] = []
    cp: list[dict[str, Any]] = []
    for seq_len in SEQ_LENS:
        needed = max(WORLDS) * ROWS_PER_RANK * steps
        sources = {
            "wikipedia-512": histogram_lengths("wikipedia-512.csv", 512, seq_len, 8 * needed),
            "squad-384": histogram_lengths("squad-1.1-384.csv", 384, seq_len, 8 * needed),
            "linux-c": code,
        }
        for name, lengths in sources.items():
            rows = epoch_rows(lengths, seq_len, needed)
            spread = epoch_rows(lengths, seq_len, needed, spread=True)
            for world in WORLDS:
                runs = [(m, b, rows) for m, b in balancers.items()]
                runs.append((SPREAD, seqpack_balancer("kk"), spread))
                for method, balancer, order in runs:
                    result = step_balance(order, world, balancer)
                    dp.append(
                        {
                            "data": name,
                            "seq_len": seq_len,
                            "world": world,
                            "method": method,
                            **result,
                        }
                    )
                    print(json.dumps(dp[-1]), file=sys.stderr)
            for cp_size in (2, 8):
                cp.append(
                    {
                        "data": name,
                        "seq_len": seq_len,
                        "cp_size": cp_size,
                        **cp_balance(lengths, seq_len, cp_size, peer_order),
                    }
                )
                print(json.dumps(cp[-1]), file=sys.stderr)
    throughput = loader_throughput(dataset, rounds=2 if args.quick else 5)
    machine = machine_description(["torch", "lightbinpack", "verl"], shared_machine=True)
    payload = {
        **clock.record(__file__),
        "rows_per_rank": ROWS_PER_RANK,
        "steps": steps,
        "data_parallel": dp,
        "context_parallel": cp,
        "loader_tokens_per_s": throughput,
        "machine": machine,
    }
    methods = [*balancers, SPREAD]
    md = [
        "# Long-context balance",
        "",
        f"Attention work per step (Σ l² per row) over W ranks of B = {ROWS_PER_RANK} rows, "
        f"{steps} steps per case. `time` = Σ max / Σ mean over the steps (1.00 = no rank "
        "waits), `worst` = the worst step's max/mean. The machine section gives its load at the "
        "start (ratios from one run are what count). `bound`: no deal of equal-sized groups does "
        "better than max(mean rank, costliest row) per step. The scaled histograms give the "
        "same rows at every seq_len (attention work scales as seq_len², so ratios do not "
        "move); linux-c lengths are real tokens. `seqpack kk + spread`: the same balancer over "
        "each epoch's rows in the cost-spread order (`PackedLoader(spread_cost=True)`): the "
        "same rows, so no extra padding and no extra rows; only their order changes. "
        + "Peer: `verl kk`, verl's `get_seqlen_balanced_partitions` (Karmarkar–Karp with "
        "equal-sized groups), given the same row costs. lightbinpack has no deal of given rows "
        'by cost: its data-parallel `pack(..., variant="square", dp_size=W)` packs documents '
        "into W bins of its own and evens out their tokens, and its `load_balance` orders a "
        "row's documents for context-parallel ranks (the `row lightbinpack` column below). "
        + ("Skipped: " + "; ".join(missing) + "." if missing else ""),
        "",
    ]
    header = ["data", "seq_len", "W", *[f"{m} time / worst" for m in methods]]
    lines = []
    for key in sorted({(r["data"], r["seq_len"], r["world"]) for r in dp}, key=str):
        cells = {r["method"]: r for r in dp if (r["data"], r["seq_len"], r["world"]) == key}
        lines.append(
            [
                key[0],
                str(key[1]),
                str(key[2]),
                *[f"{cells[m]['time']:.3f} / {cells[m]['worst']:.2f}" for m in methods],
            ]
        )
    md += table(header, lines)
    us = {
        m: statistics.median(r["us_per_step"] for r in dp if r["method"] == m)
        for m in methods
        if m != "bound"
    }
    md += [
        "Median time to balance one step: " + ", ".join(f"{m} {v:.0f} µs" for m, v in us.items()),
        "",
    ]
    md += [
        "## Context parallelism",
        "",
        "Causal attention work per CP rank (max/mean, mean over 400 rows): seqpack's "
        "gather indices equal torch's `_PerDocumentHeadTailLoadBalancer` and "
        "`_HeadTailLoadBalancer` index for index (tests/test_long_context.py); "
        "`contiguous` cuts the row into C equal parts; `row lightbinpack`: the row layout over "
        "the row's documents in the order lightbinpack's `load_balance(lengths, C)` gives them.",
        "",
    ]
    cp_layouts = [
        k for k in ("per-document", "row", "row lightbinpack", "contiguous") if k in cp[0]
    ]
    md += table(
        ["data", "seq_len", "C", *cp_layouts, "alignment padding"],
        [
            [
                r["data"],
                str(r["seq_len"]),
                str(r["cp_size"]),
                *[f"{r[k]:.3f}" for k in cp_layouts],
                f"{r['alignment_padding']:.2%}",
            ]
            for r in cp
        ],
    )
    md += [
        "## Loader",
        "",
        "PackedLoader real tokens/s, rank 0 of 8, seq_len 8192, linux-c, epoch 0 read "
        f"{EPOCH_READS} times, median of {2 if args.quick else 5} interleaved rounds; "
        "B = 4 rows, or "
        "`budget`: batch_tokens = 4 × 8192 (one flattened batch per step): "
        + ", ".join(f"{k} {v:,.0f}" for k, v in throughput.items())
        + " (ratios to none: "
        + ", ".join(f"{k} {v / throughput['none']:.3f}" for k, v in throughput.items())
        + ").",
        "",
    ]
    md += machine_section(machine)
    write_results(args.out, "long_context", payload, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()

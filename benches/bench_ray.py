#!/usr/bin/env python3
"""Preprocessing on a Ray cluster against one machine, and against a Ray Data pipeline.

    python benches/bench_ray.py [--corpora DIR] [--work DIR] [--out benches/results]
                                [--rounds 3] [--split-size 16777216] [--copies 5]

Inputs: ``--copies`` copies of ``pystdlib.jsonl`` in one file, then ``text2sql.jsonl``
(long and short documents, from ``make-corpora``), tokenized with a 4k byte-level BPE
trained by ``seqpack train-bpe`` on the text2sql pairs (made once, under ``--work``). A
local cluster of two Ray nodes of one CPU each runs on this machine
(``ray.cluster_utils.Cluster``). Peers, each timed end to end (wall clock, input MB/s),
rounds interleaved, medians:

- ``seqpack``: ``seqpack.preprocess`` in this process, 2 threads, the same ``split_size``;
- ``seqpack, 1 thread``: the same on one core: the reference per core;
- ``seqpack.ray``: ``seqpack.ray.preprocess`` on the cluster, one task per split (1 CPU
  each), the same dataset byte for byte (checked: equal fingerprints);
- ``ray-data+seqpack``: ``ray.data.read_json`` → ``map_batches(seqpack.ray.Tokenize)`` →
  ``write_datasink(SeqpackDatasink)``, order preserved, the dataset written (its tokens
  checked against seqpack's);
- ``ray-data+hf``: ``ray.data.read_json`` → ``map_batches`` encoding with HF
  ``tokenizers`` (the same tokenizer.json, loaded once per worker process) → the token count
  summed, nothing written (so it does less than the others; its token count is checked
  against seqpack's).

**Throughput apart from fixed cost, measured, not fitted**: every ``seqpack.ray`` task
times its own body (fetching nothing, running the split, writing its shards) and the driver
collects the seconds (``on_split``). Their MB/s — a split's bytes over its task's seconds,
and all bytes over all task-seconds — is Ray's throughput per core past the fixed cost,
set against local seqpack on one thread. The fixed cost is what is left of the wall clock:
wall − task-seconds / 2 CPUs (planning, the counting round trip, scheduling, the commit).
The target is ≥ 80 % of local seqpack per core. **Per split**: each task's MB/s, from the
last round.

Results go to ``OUT/ray.md`` and ``OUT/ray.json`` with the machine description. The
machine may be shared: the load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.datasets import seqpack_cli
from harness.machine import REPO, machine_description
from harness.results import RunClock, add_dataset_options, machine_section, write_results

VOCAB = 4096
EOS = "<|endoftext|>"


def prepare(corpora: Path, work: Path, copies: int) -> tuple[list[Path], list[Path], Path]:
    """The inputs (``copies`` of pystdlib, then text2sql), a quarter of them (to warm up
    with) and the tokenizer (made once)."""
    work.mkdir(parents=True, exist_ok=True)
    if not (corpora / "pystdlib.jsonl").exists():
        make = REPO.parent / "shared" / "corpora" / "make-corpora"
        env = {**os.environ, "SKIP_LINUX": "1", "PYTHON": sys.executable}
        subprocess.run(["bash", str(make), str(corpora)], check=True, env=env)
    copied = work / f"pystdlib-x{copies}.jsonl"
    if not copied.exists():
        text = (corpora / "pystdlib.jsonl").read_bytes()
        copied.write_bytes(text * copies)
    inputs = [copied, corpora / "text2sql.jsonl"]
    quarter = work / f"pystdlib-x{copies}-quarter.jsonl"
    if not quarter.exists():
        data = copied.read_bytes()
        cut = data.index(b"\n", len(data) // 4) + 1
        quarter.write_bytes(data[:cut])
    tokenizer = work / "tokenizer.json"
    if not tokenizer.exists():
        seqpack_cli(
            "train-bpe",
            corpora / "text2sql-pairs.jsonl",
            *("--vocab-size", str(VOCAB), "--special-token", EOS, "--out", tokenizer),
        )
    return inputs, [quarter], tokenizer


def run_local(
    inputs: list[Path], tokenizer: Path, out: Path, split_size: int, workers: int = 2
) -> None:
    import seqpack

    seqpack.preprocess(
        inputs,
        tokenizer,
        out,
        append_eos=EOS,
        workers=workers,
        split_size=split_size,
        progress=False,
    )


def run_ray(
    inputs: list[Path],
    tokenizer: Path,
    out: Path,
    split_size: int,
    on_split: Callable[[int, float], object] | None = None,
) -> None:
    import seqpack.ray

    seqpack.ray.preprocess(
        inputs,
        tokenizer,
        out,
        append_eos=EOS,
        split_size=split_size,
        progress=False,
        on_split=on_split,
    )


def run_ray_data_seqpack(inputs: list[Path], tokenizer: Path, out: Path) -> None:
    """Ray Data's reading, seqpack's tokenizer (one actor, which encodes on every core of
    its node) and seqpack's datasink, in the dataset's order. The actor and the write tasks
    ask for part of a CPU, so that reading tasks find one on a cluster of two (with a whole
    CPU each, Ray Data's budget left the pipeline stalled)."""
    import ray.data
    import seqpack.ray

    options = ray.data.DataContext.get_current().execution_options
    options.preserve_order = True
    try:
        sink = seqpack.ray.SeqpackDatasink(out, tokenizer, source="bench", append_eos=EOS)
        texts = ray.data.read_json([str(p) for p in inputs]).select_columns(["text"])
        texts.map_batches(
            seqpack.ray.Tokenize,
            fn_constructor_kwargs=sink.tokenize_kwargs,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=0.5,
        ).write_datasink(sink, ray_remote_args={"num_cpus": 0.25})
    finally:
        options.preserve_order = False


# Each Ray worker process loads the tokenizer once, for all the batches it encodes.
_TOKENIZERS: dict[str, Any] = {}


def encode_batch(batch: dict[str, Any], path: str) -> dict[str, Any]:
    """The token counts of a batch's texts, with HF ``tokenizers``."""
    import numpy as np
    from tokenizers import Tokenizer

    if path not in _TOKENIZERS:
        _TOKENIZERS[path] = Tokenizer.from_file(path)
    texts = [str(t) for t in batch["text"]]
    encoded = _TOKENIZERS[path].encode_batch(texts, add_special_tokens=False)
    return {"tokens": np.array([len(e.ids) for e in encoded], dtype=np.int64)}


def run_ray_data(inputs: list[Path], tokenizer: Path) -> int:
    """A function, not actors: reading and encoding fuse into one task per block (actors
    holding both CPUs left the reading tasks none)."""
    import ray.data

    texts = ray.data.read_json([str(p) for p in inputs]).select_columns(["text"])
    counted = texts.map_batches(
        encode_batch, fn_kwargs={"path": str(tokenizer)}, batch_format="numpy"
    )
    return int(counted.sum("tokens") or 0)


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataset_options(parser, Path(tempfile.gettempdir()) / "seqpack-bench-ray")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--split-size", type=int, default=16 << 20)
    parser.add_argument("--copies", type=int, default=5, help="copies of pystdlib in the input")
    args = parser.parse_args()
    clock = RunClock()
    inputs, small, tokenizer = prepare(args.corpora, args.work, args.copies)
    megabytes = sum(p.stat().st_size for p in inputs) / 1e6

    import ray
    import seqpack
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    began = time.perf_counter()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    startup_s = time.perf_counter() - began

    scratch = Path(tempfile.mkdtemp(prefix="bench-ray-", dir=args.work))
    counter = iter(range(10**6))

    def fresh(name: str) -> Path:
        return scratch / f"{name}-{next(counter)}"

    # The seconds of each seqpack.ray task's body, per round (split → seconds).
    task_seconds: list[dict[int, float]] = []

    def ray_round(ins: list[Path]) -> None:
        task_seconds.append({})
        seconds = task_seconds[-1]
        run_ray(ins, tokenizer, fresh("ray"), args.split_size, on_split=seconds.__setitem__)

    peers: dict[str, Callable[[list[Path]], object]] = {
        "seqpack": lambda ins: run_local(ins, tokenizer, fresh("local"), args.split_size),
        "seqpack, 1 thread": lambda ins: run_local(
            ins, tokenizer, fresh("local1"), args.split_size, workers=1
        ),
        "seqpack.ray": ray_round,
        "ray-data+seqpack": lambda ins: run_ray_data_seqpack(ins, tokenizer, fresh("sink")),
        "ray-data+hf": lambda ins: run_ray_data(ins, tokenizer),
    }
    # Warm-up: imports, worker processes, the tokenizer in the page cache.
    for peer in peers.values():
        peer(small)
    task_seconds.clear()
    times: dict[str, list[float]] = {name: [] for name in peers}
    names = list(peers)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            times[name].append(timed(lambda: peers[name](inputs)))  # noqa: B023

    # The checks that the peers did the same work.
    local_out, ray_out, sink_out = fresh("check-local"), fresh("check-ray"), fresh("check-sink")
    run_local(inputs, tokenizer, local_out, args.split_size)
    run_ray(inputs, tokenizer, ray_out, args.split_size)
    run_ray_data_seqpack(inputs, tokenizer, sink_out)
    local_ds, ray_ds = seqpack.Dataset(local_out), seqpack.Dataset(ray_out)
    same_dataset = local_ds.fingerprint == ray_ds.fingerprint
    tokens = {
        name: int(ds.manifest["total_tokens"]) - int(ds.manifest["total_rows"])
        for name, ds in (("seqpack", local_ds), ("ray-data+seqpack", seqpack.Dataset(sink_out)))
    }
    tokens["ray-data+hf"] = run_ray_data(inputs, tokenizer)
    plan = seqpack._core.plan_preprocess(
        [str(p) for p in inputs],
        seqpack.Tokenizer.from_file(tokenizer)._core,
        {"split_size": args.split_size},
    )
    ray.shutdown()
    cluster.shutdown()

    def split_mb(k: int) -> float:
        entry = plan["splits"][k]
        return (int(entry["end"]) - int(entry["start"])) / 1e6

    rows = []
    for name in names:
        total = statistics.median(times[name])
        rows.append({"peer": name, "seconds": total, "mb_per_s": megabytes / total})
    by = {r["peer"]: r for r in rows}
    # Ray past its fixed cost: all bytes over all task-seconds, per round; the fixed cost,
    # what the tasks' share of two CPUs leaves of the wall clock.
    task_rates = [megabytes / sum(r.values()) for r in task_seconds]
    walls = times["seqpack.ray"]
    fixed = [wall - sum(r.values()) / 2 for wall, r in zip(walls, task_seconds, strict=True)]
    per_core = by["seqpack, 1 thread"]["mb_per_s"]
    ray_body = statistics.median(task_rates)
    ratio = ray_body / per_core
    last = task_seconds[-1]
    per_split = [
        {"split": k, "mb": split_mb(k), "seconds": s, "mb_per_s": split_mb(k) / s}
        for k, s in sorted(last.items())
    ]
    machine = machine_description(["ray", "tokenizers", "pyarrow"], ray_startup_s=startup_s)
    payload = {
        **clock.record(__file__),
        "input_mb": megabytes,
        "split_size": args.split_size,
        "splits": len(plan["splits"]),
        "peers": {name: {**by[name], "rounds": times[name]} for name in names},
        "ray_task_mb_per_s": task_rates,
        "ray_fixed_s": fixed,
        "ray_task_vs_local_per_core": ratio,
        "same_dataset": same_dataset,
        "tokens": tokens,
        "per_split": per_split,
        "machine": machine,
    }
    lines = [
        "# Preprocessing on a Ray cluster",
        "",
        f"`{payload['command']}` — {megabytes:.1f} MB of JSONL ({args.copies} copies of "
        "pystdlib, then text2sql), "
        f"{len(plan['splits'])} splits of {args.split_size / 2**20:.0f} MiB, a local cluster "
        f"of two Ray nodes of 1 CPU (started in {startup_s:.1f} s), {args.rounds} rounds "
        "interleaved, medians. The machine's 2 cores: 1-minute load average "
        f"{payload['load_avg_1min'][0]:.1f} → {payload['load_avg_1min'][1]:.1f} (start → end).",
        "",
        f"| peer | seconds ({megabytes:.0f} MB) | MB/s end to end |",
        "|---|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['peer']} | {r['seconds']:.2f} | {r['mb_per_s']:.2f} |")
    lines += [
        "",
        "**Past the fixed cost** (measured inside the tasks): `seqpack.ray`'s tasks ran at "
        f"**{ray_body:.1f} MB/s per CPU** (all bytes over all task-seconds; rounds "
        f"{', '.join(f'{r:.1f}' for r in task_rates)}), **{100 * ratio:.0f} %** of local "
        f"seqpack on one thread ({per_core:.1f} MB/s; target ≥ 80 %). Fixed cost (wall − "
        f"task-seconds / 2 CPUs): {statistics.median(fixed):.2f} s (rounds "
        f"{', '.join(f'{f:.2f}' for f in fixed)}).",
        "",
        f"Same dataset (fingerprint) locally and on Ray: **{same_dataset}**. Tokens without "
        f"end-of-text: {', '.join(f'{k} {v:,}' for k, v in tokens.items())} (Ray Data + HF "
        "writes nothing).",
        "",
        "## Per split (`seqpack.ray`, the last round, timed inside each task)",
        "",
        "| split | MB | seconds | MB/s |",
        "|---:|---:|---:|---:|",
    ]
    for s in per_split:
        lines.append(f"| {s['split']} | {s['mb']:.2f} | {s['seconds']:.2f} | {s['mb_per_s']:.2f} |")
    lines += ["", *machine_section(machine), ""]
    write_results(args.out, "ray", payload, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

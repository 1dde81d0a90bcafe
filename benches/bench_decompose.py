"""Dataset decomposition on the Linux kernel corpora: per-bucket statistics, the attention-cost
model per step (decomposition vs packing vs concat-and-chunk) and decomposition time against a
pure-Python implementation of the reference algorithm.

    python benches/bench_decompose.py                       # corpora made on demand
    python benches/bench_decompose.py --corpora /tmp/seqpack-corpora --work /tmp/dd-bench

The corpora come from ``../shared/corpora/make-corpora`` (Linux kernel Documentation/ prose and
C sources); a byte-level BPE is trained on the prose plus the first C files with
``seqpack train-bpe`` and every corpus is tokenized with ``seqpack preprocess`` (end-of-text
appended). Results go to ``results/decompose.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import seqpack
from harness.datasets import preprocess_once, seqpack_cli
from harness.machine import REPO, machine_description
from harness.results import RunClock, add_dataset_options, write_results

MAKE_CORPORA = REPO.parent / "shared" / "corpora" / "make-corpora"
EOT = "<|endoftext|>"
#: The C corpus's head: the pure-Python reference runs on it (the whole C corpus as Python
#: lists of ints would need about 36 bytes per token).
C_HEAD_FILES = 5000


def run(cmd: Sequence[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def prepare(corpora: Path, work: Path, vocab_size: int) -> dict[str, Path]:
    """Tokenized datasets of the corpora, made once under ``work``."""
    docs, c = corpora / "linux-docs.jsonl", corpora / "linux-c.jsonl"
    if not (docs.is_file() and c.is_file()):
        run(["bash", str(MAKE_CORPORA), str(corpora)])
    work.mkdir(parents=True, exist_ok=True)
    head = work / "linux-c-head.jsonl"
    if not head.is_file():
        with c.open(encoding="utf-8") as src, head.open("w", encoding="utf-8") as dst:
            for _, line in zip(range(C_HEAD_FILES), src, strict=False):
                dst.write(line)
    tokenizer = work / "tokenizer.json"
    if not tokenizer.is_file():
        training = ["--vocab-size", str(vocab_size), "--special-token", EOT]
        seqpack_cli("train-bpe", docs, head, *training, "--out", tokenizer)
    datasets = {}
    for name, path in (("linux-docs", docs), ("linux-c-head", head), ("linux-c", c)):
        out = work / f"data-{name}"
        if not (out / "manifest.json").is_file():
            shutil.rmtree(out, ignore_errors=True)  # an interrupted run's leftovers
        datasets[name] = preprocess_once([path], tokenizer, out)
    return datasets


def reference_decompose(
    documents: list[list[int]], min_log2: int, max_log2: int, rng: random.Random | None
) -> tuple[dict[int, list[list[int]]], int]:
    """The reference algorithm in plain Python, written from its description: per document
    (end-of-text included), while more than one token is left, k = floor(log2(len − 1));
    stop below ``min_log2``; above ``max_log2`` draw k with P(k) ∝ 2^(max − k) (or take
    ``max_log2`` without ``rng``); the next 2^k + 1 tokens go to bucket k. Returns the buckets
    and the dropped tokens."""
    ks = list(range(min_log2, max_log2 + 1))
    weights = [2 ** (max_log2 - k) for k in ks]
    buckets: dict[int, list[list[int]]] = {k: [] for k in ks}
    dropped = 0
    for seq in documents:
        start, n = 0, len(seq)
        while n - start > 1:
            k = (n - start - 1).bit_length() - 1
            if k < min_log2:
                break
            if k > max_log2:
                k = rng.choices(ks, weights)[0] if rng else max_log2
            end = start + (1 << k) + 1
            buckets[k].append(seq[start:end])
            start = end
        dropped += n - start
    return buckets, dropped


def write_buckets(buckets: dict[int, list[list[int]]], out: Path) -> None:
    """The pure-Python side's output: one Arrow IPC file per bucket, as seqpack writes."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for k, rows in buckets.items():
        table = pa.table({"input_ids": pa.array(rows, pa.large_list(pa.uint32()))})
        with pa.OSFile(str(out / f"D{k:02}.arrow"), "wb") as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)


#: Each timed call runs this often; the median is reported.
REPEATS = 3


def decompose_timed(data: Path, out: Path, **options: Any) -> tuple[seqpack.Decomposition, float]:
    times = []
    for _ in range(REPEATS):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        d = seqpack.decompose(data, out, **options)
        times.append(time.perf_counter() - started)
    return d, float(np.median(times))


def decomposition_cost(d: seqpack.Decomposition) -> tuple[int, int]:
    """Σ l² over the attention segments of every row (padding its own segment) and the
    token slots of all rows."""
    cost = slots = 0
    for k in d.log2s:
        length = d.sequence_length(k)
        bucket = d.bucket(k, verify=False)
        if len(bucket) == 0:
            continue
        offsets, values = d.seq_lengths(k)
        seg = values.astype(np.int64)
        padding = length - np.add.reduceat(seg, offsets[:-1])
        cost += int((seg**2).sum() + (padding**2).sum())
        slots += len(bucket) * length
    return cost, slots


def cost_model(
    lengths: np.ndarray, d: seqpack.Decomposition, max_log2: int, tokens_per_step: int
) -> dict[str, dict[str, float]]:
    """Attention cost per step, Σ over the step's attention segments of l², and each token's
    average context, for three ways of making 2^max rows and for the decomposition."""
    row = 1 << max_log2
    total = int(lengths.sum())
    chunk_cost_per_step = tokens_per_step * row  # T / L rows of L tokens, one segment each
    # Packing (best-fit decreasing, documents isolated; longer ones split into L-token parts).
    p = seqpack.pack(lengths, row)
    frag = p.length.astype(np.int64)
    used = np.add.reduceat(frag, p.pack_offsets[:-1]) if frag.size else frag
    pack_cost = int((frag**2).sum() + ((row - used) ** 2).sum())
    pack_steps = p.num_packs * row / tokens_per_step
    # Concat-and-chunk with documents isolated inside each row (a document mask).
    parts = seqpack.pack(lengths, row, algorithm="wrapped").length.astype(np.int64)
    dd_cost, dd_slots = decomposition_cost(d)

    def context(seg: np.ndarray) -> float:
        seg = seg.astype(np.float64)
        return float((seg * (seg - 1) / 2).sum() / seg.sum())

    chunk_steps = -(-total // row) * row / tokens_per_step
    return {
        "concat-and-chunk": {
            "cost_per_step": chunk_cost_per_step / chunk_cost_per_step,
            "steps": chunk_steps,
            "average_context_length": (row - 1) / 2,
        },
        "concat-and-chunk, document mask": {
            "cost_per_step": int((parts**2).sum()) / chunk_steps / chunk_cost_per_step,
            "steps": chunk_steps,
            "average_context_length": context(parts),
        },
        "packing (obfd), document mask": {
            "cost_per_step": pack_cost / pack_steps / chunk_cost_per_step,
            "steps": pack_steps,
            "average_context_length": context(frag),
        },
        "decomposition": {
            "cost_per_step": dd_cost / (dd_slots / tokens_per_step) / chunk_cost_per_step,
            "steps": dd_slots / tokens_per_step,
            "average_context_length": d.manifest["average_context_length"],
        },
    }


def bench_dataset(
    name: str, data: Path, work: Path, args: argparse.Namespace, python_reference: bool
) -> dict[str, Any]:
    print(f"== {name}", flush=True)
    ds = seqpack.Dataset(data)
    lengths = ds.lengths.astype(np.int64)
    out = work / f"dd-{name}"
    span = {"min_log2": args.min_log2, "max_log2": args.max_log2}
    d, lossless_s = decompose_timed(data, out, **span)
    drawn, drop_s = decompose_timed(
        data, work / f"dd-{name}-ref", remainder="drop", shifted_targets=True, **span
    )
    ref, ref_s = decompose_timed(
        data,
        work / f"dd-{name}-ref-det",
        remainder="drop",
        shifted_targets=True,
        deterministic=True,
        **span,
    )
    result: dict[str, Any] = {
        "dataset": name,
        "documents": len(ds),
        "tokens": ds.num_tokens,
        "manifest": d.manifest,
        "reference_layout_manifest": drawn.manifest,
        "seconds": {
            "seqpack lossless (pack remainders)": lossless_s,
            "seqpack reference layout (drop, drawn)": drop_s,
            "seqpack reference layout (drop, deterministic)": ref_s,
        },
        "cost_model": cost_model(lengths, d, args.max_log2, args.tokens_per_step),
    }
    if python_reference:
        started = time.perf_counter()
        documents = [ds[i].tolist() for i in range(len(ds))]
        to_lists = time.perf_counter() - started
        for label, seed in (("deterministic", None), ("drawn", 0)):
            times = []
            for _ in range(REPEATS):
                rng = None if seed is None else random.Random(seed)
                started = time.perf_counter()
                buckets, dropped = reference_decompose(documents, args.min_log2, args.max_log2, rng)
                times.append(time.perf_counter() - started)
            result["seconds"][f"pure Python reference ({label})"] = float(np.median(times))
            if rng is None:
                # The same deterministic algorithm: the counts must agree exactly.
                counts = {k: len(v) for k, v in buckets.items()}
                mine = {b["log2"]: b["sequences"] for b in ref.manifest["buckets"]}
                assert counts == mine, (counts, mine)
                assert dropped == ref.manifest["dropped_tokens"]
                result["python_matches_seqpack"] = True
            else:
                times = []
                for _ in range(REPEATS):
                    started = time.perf_counter()
                    write_buckets(buckets, work / f"dd-{name}-python")
                    times.append(time.perf_counter() - started)
                result["seconds"]["pure Python: write the buckets (pyarrow)"] = float(
                    np.median(times)
                )
            del buckets
        result["seconds"]["pure Python: dataset to lists"] = to_lists
        del documents
    for suffix in ("ref", "ref-det", "python"):
        shutil.rmtree(work / f"dd-{name}-{suffix}", ignore_errors=True)
    return result


def render(report: dict[str, Any]) -> str:
    m, a = report["machine"], report["settings"]
    lines = [
        "# Dataset decomposition on the Linux kernel corpora",
        "",
        f"- Command: `{report['command']}` (finished {report['finished']}, "
        f"{report['duration_s']:.0f} s)",
        f"- Machine: {m['cpu']}, {m['usable_cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, numpy {m['numpy']}; seqpack {m['seqpack']} "
        f"(commit {m['seqpack_commit']}); 1-min load average {m['load_avg_1min']:.1f} at the end",
        f"- Buckets D{a['min_log2']:02}–D{a['max_log2']:02}; tokens per step "
        f"{a['tokens_per_step']:,}; tokenizer: byte-level BPE, vocabulary {a['vocab_size']:,}, "
        "trained with `seqpack train-bpe` on the Documentation/ prose and the first "
        f"{C_HEAD_FILES:,} C files; documents end with `{EOT}`.",
        "",
    ]
    for r in report["datasets"]:
        man = r["manifest"]
        c = man["corpus"]
        lines += [
            f"## {r['dataset']}: {r['documents']:,} documents, {r['tokens']:,} tokens",
            "",
            "Lossless decomposition (the default: remainders packed into D"
            f"{a['min_log2']:02} rows, documents isolated) and the reference layout (2^k + 1 "
            "tokens per row, remainders dropped); both draw the pieces of long documents.",
            "",
            "| bucket | sequences | tokens | token share | packed rows | padding | "
            "reference layout: sequences | token share |",
            "|---|---|---|---|---|---|---|---|",
        ]
        ref = {b["log2"]: b for b in r["reference_layout_manifest"]["buckets"]}
        for b in man["buckets"]:
            rb = ref[b["log2"]]
            lines.append(
                f"| D{b['log2']:02} ({b['sequence_length']:,}) | {b['sequences']:,} | "
                f"{b['tokens']:,} | {b['token_share']:.1%} | {b['packed_rows']:,} | "
                f"{b['padding_tokens']:,} | {rb['sequences']:,} | {rb['token_share']:.1%} |"
            )
        rm = r["reference_layout_manifest"]
        lines += [
            "",
            f"- Dropped: lossless {man['dropped_tokens']:,} tokens; reference layout "
            f"{rm['dropped_tokens']:,} tokens ({rm['dropped_tokens'] / r['tokens']:.2%}), "
            f"{rm['dropped_documents']:,} whole documents.",
            f"- Average sequence length {man['average_sequence_length']:,.1f} (documents "
            f"{c['average_document_length']:,.1f}); average context length "
            f"{man['average_context_length']:,.1f} (documents whole "
            f"{c['average_context_length']:,.1f}).",
            "",
            "| rows of 2^max tokens, or buckets | attention cost per step (Σ l², relative) | "
            "steps per epoch | average context length |",
            "|---|---|---|---|",
        ]
        for method, v in r["cost_model"].items():
            lines.append(
                f"| {method} | {v['cost_per_step']:.3f} | {v['steps']:,.1f} | "
                f"{v['average_context_length']:,.1f} |"
            )
        lines += ["", "| decomposition run | seconds |", "|---|---|"]
        for label, s in r["seconds"].items():
            lines.append(f"| {label} | {s:.3f} |")
        if r.get("python_matches_seqpack"):
            lines.append(
                "\nThe pure-Python reference (deterministic) gave exactly seqpack's bucket counts "
                "and dropped tokens in the reference layout."
            )
        lines.append("")
    lines += [
        f"Notes: every time is the median of {REPEATS} runs (one run for the conversion to "
        "lists), on a shared machine. seqpack's times include reading and verifying the "
        "shards and writing every bucket dataset (Arrow shards, manifests); the pure-Python "
        "times cover cutting documents already held as Python lists into in-memory buckets, "
        "then writing those with pyarrow (converting the dataset to lists is listed "
        "separately). The cost model counts Σ l² over each step's attention segments (padding "
        "its own segment), relative to concat-and-chunk at 2^max without a document mask "
        "(T/2^max rows of one 2^max segment each); steps per epoch are token slots (padding "
        "included) over tokens per step.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_dataset_options(parser, work=Path("/tmp/seqpack-bench-decompose"))
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--min-log2", type=int, default=8)
    parser.add_argument("--max-log2", type=int, default=13)
    parser.add_argument("--tokens-per-step", type=int, default=1 << 19)
    args = parser.parse_args(argv)
    clock = RunClock()
    datasets = prepare(args.corpora, args.work, args.vocab_size)
    results = [
        bench_dataset(name, path, args.work, args, python_reference=name != "linux-c")
        for name, path in datasets.items()
    ]
    machine = machine_description(
        ["seqpack", "numpy", "pyarrow"],
        numpy=np.__version__,
        seqpack=seqpack.__version__,
        load_avg_1min=os.getloadavg()[0],
    )
    report = {
        **clock.record(__file__),
        "machine": machine,
        "settings": {k: v for k, v in vars(args).items() if k not in ("corpora", "work", "out")},
        "datasets": results,
    }
    write_results(args.out, "decompose", report, render(report))
    print(render(report))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Patch-level training: what aligning documents to patches costs in padding, and the
compute model of the schedule.

    python benches/bench_patch.py [--corpora DIR] [--work DIR] [--out benches/results]

On the dataset of ``bench_loader.py`` (Linux kernel Documentation + Python standard library,
16k byte-level BPE), each epoch plan of ``PackedLoader(..., patch_size=K)`` is made for K in
1, 2, 4, 8 and rows of 2048 and 4096 tokens: document alignment pads every document to a
multiple of K (so no patch mixes two documents) and packs the padded lengths; the paper's
reference (``patch_align="none"``) pads nothing and lets patches straddle documents. Reported:
rows, packing efficiency (real tokens / row slots), alignment padding as a share of the real
tokens, extra rows against the reference, and planning time. Then the compute model
λ/K + (1 − λ) of training the first λ of the tokens at patch level.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench_loader import prepare
from harness.datasets import preprocess_once
from harness.machine import machine_description
from harness.results import add_dataset_options, machine_section

SEQ_LENS = (2048, 4096)
PATCH_SIZES = (1, 2, 4, 8)
LAMBDAS = (0.5, 2 / 3, 0.8)


def prepare_sql(corpora: Path, work: Path) -> Path:
    """The text2sql queries (short documents) with the same tokenizer (made once)."""
    return preprocess_once([corpora / "text2sql.jsonl"], work / "tokenizer.json", work / "data-sql")


def measure(name: str, data: Path) -> list[dict[str, Any]]:
    from seqpack.torch import PackedLoader

    rows = []
    for seq_len in SEQ_LENS:
        reference = None
        for k in PATCH_SIZES:
            loader = PackedLoader(data, seq_len, 8, patch_size=k)
            started = time.perf_counter()
            plan = loader.planner.plan(0)
            seconds = time.perf_counter() - started
            if reference is None:
                reference = plan.num_packs  # K = 1: nothing to align
            rows.append(
                {
                    "dataset": name,
                    "seq_len": seq_len,
                    "patch_size": k,
                    "rows": plan.num_packs,
                    "extra_rows": plan.num_packs - reference,
                    "real_tokens": plan.placed_tokens,
                    "alignment_padding": plan.alignment_padding,
                    "padding_share": plan.alignment_padding / plan.placed_tokens,
                    "efficiency": plan.placed_tokens / (plan.num_packs * seq_len),
                    "plan_seconds": seconds,
                }
            )
    return rows


def markdown(rows: list[dict[str, Any]], datasets: dict[str, Path], machine: dict[str, Any]) -> str:
    lines = [
        "# Patch-level training: the padding of document alignment",
        "",
        "`python benches/bench_patch.py` — epoch plans of `PackedLoader(dir, L, 8, "
        "patch_size=K)` (obfd over the padded lengths). K = 1 is also what the paper's "
        'reference (`patch_align="none"`, patches straddling documents) packs, at any K.',
        "",
        "Datasets (16k byte-level BPE trained on the first):",
        "",
    ]
    for name, data in datasets.items():
        m = json.loads((data / "manifest.json").read_text())
        lines.append(
            f"- {name}: {m['total_rows']:,} documents, {m['total_tokens']:,} tokens "
            f"({m['total_tokens'] / m['total_rows']:,.0f} per document)"
        )
    lines += [
        "",
        "| dataset | L | K | rows | extra rows | efficiency | alignment padding | of real tokens "
        "| plan |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['seq_len']:,} | {r['patch_size']} | {r['rows']:,} | "
            f"{r['extra_rows']:+,} | "
            f"{100 * r['efficiency']:.3f} % | {r['alignment_padding']:,} | "
            f"{100 * r['padding_share']:.3f} % | {1000 * r['plan_seconds']:.1f} ms |"
        )
    lines += [
        "",
        "## Compute model",
        "",
        "Training the first λ of the tokens at patch level (K tokens per patch, the same tokens "
        "per step) and the rest at token level costs λ/K + (1 − λ) of token-level training "
        "(`PatchSchedule.relative_cost`):",
        "",
        "| λ | " + " | ".join(f"K = {k}" for k in PATCH_SIZES[1:]) + " |",
        "|---:|" + "---:|" * len(PATCH_SIZES[1:]),
    ]
    from seqpack.torch import PatchSchedule

    for lam in LAMBDAS:
        costs = [PatchSchedule(1, lam=lam, K=k).relative_cost for k in PATCH_SIZES[1:]]
        lines.append(f"| {lam:.3f} | " + " | ".join(f"{c:.3f}" for c in costs) + " |")
    lines += ["", *machine_section(machine)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataset_options(parser, work=Path("/tmp/seqpack-bench-loader"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    datasets = {
        "Linux docs + Python stdlib": prepare(args.corpora, args.work),
        "text2sql queries": prepare_sql(args.corpora, args.work),
    }
    rows = [r for name, data in datasets.items() for r in measure(name, data)]
    for r in rows:
        print(
            f"{r['dataset'][:12]:<12} L={r['seq_len']:<5} K={r['patch_size']}  "
            f"rows {r['rows']:>7,} ({r['extra_rows']:+,})  "
            f"efficiency {100 * r['efficiency']:7.3f} %  padding {100 * r['padding_share']:.3f} %"
        )
    machine = machine_description(["seqpack", "torch"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "patch.json").write_text(
        json.dumps({"machine": machine, "results": rows}, indent=2) + "\n"
    )
    (args.out / "patch.md").write_text(markdown(rows, datasets, machine))


if __name__ == "__main__":
    main()

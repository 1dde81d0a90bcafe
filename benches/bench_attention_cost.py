#!/usr/bin/env python3
"""Cost model sanity check on CPU attention: the time of one transformer layer over a packed
row (causal ``scaled_dot_product_attention`` per document, the projections and the MLP over
all tokens) against seqpack's ``cost(row) = a·Σ l² + b·L``.

    python benches/bench_attention_cost.py [--quick] [--hidden D] [--out DIR]

The default model (``sampler/balance.rs``) counts forward FLOPs of a layer of hidden size
``d``: ``2·d·l²`` for causal attention over a document of ``l`` tokens, ``24·d²`` per token
for projections and MLP, so ``b / a = 12·d``. Here rows of a few compositions (one document
up to many short ones) are timed, interleaved round by round (median per row), ``a`` and
``b`` fitted by least squares, and the fitted ``b / a`` set against ``12·d``. Results go to
``OUT/attention_cost.json`` and ``OUT/attention_cost.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness.machine import REPO, machine_description
from harness.results import RunClock, machine_section, write_results

F = torch.nn.functional
HEAD_DIM = 64


def compositions(row: int) -> dict[str, list[int]]:
    """Document lengths of rows of ``row`` tokens, from one document to many short ones."""
    return {
        "1 doc": [row],
        "2 docs": [row // 2] * 2,
        "4 docs": [row // 4] * 4,
        "16 docs": [row // 16] * 16,
        "64 docs": [row // 64] * 64,
        "3/4 + 8 short": [3 * row // 4] + [row // 32] * 8,
        "1/2 + 1/4 + 4 short": [row // 2, row // 4] + [row // 16] * 4,
    }


class Layer(torch.nn.Module):
    """One pre-norm-free transformer layer: QKV, causal SDPA per document, output
    projection, a 4·d MLP (``24·d²`` multiply-adds·2 per token in all)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.heads = hidden // HEAD_DIM
        self.qkv = torch.nn.Linear(hidden, 3 * hidden, bias=False)
        self.out = torch.nn.Linear(hidden, hidden, bias=False)
        self.up = torch.nn.Linear(hidden, 4 * hidden, bias=False)
        self.down = torch.nn.Linear(4 * hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        tokens, hidden = x.shape
        q, k, v = self.qkv(x).view(tokens, 3, self.heads, HEAD_DIM).unbind(1)
        parts = []
        start = 0
        for n in lengths:
            s = slice(start, start + n)
            parts.append(
                F.scaled_dot_product_attention(
                    q[s].transpose(0, 1), k[s].transpose(0, 1), v[s].transpose(0, 1), is_causal=True
                )
                .transpose(0, 1)
                .reshape(n, hidden)
            )
            start += n
        x = x + self.out(torch.cat(parts))
        return x + self.down(F.gelu(self.up(x)))


def time_rows(
    layer: Layer, rows: dict[str, list[int]], hidden: int, rounds: int
) -> dict[str, float]:
    """Median seconds of a forward over each row, rounds interleaved over the rows."""
    times: dict[str, list[float]] = {name: [] for name in rows}
    inputs = {name: torch.randn(sum(r), hidden) for name, r in rows.items()}
    with torch.inference_mode():
        for name, lengths in rows.items():  # warm-up
            layer(inputs[name], lengths)
        for _ in range(rounds):
            for name, lengths in rows.items():
                t0 = time.perf_counter()
                layer(inputs[name], lengths)
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter rows, fewer rounds")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size d (default 256)")
    parser.add_argument("--out", type=Path, default=REPO / "benches" / "results")
    args = parser.parse_args()
    clock = RunClock()
    torch.manual_seed(0)
    layer = Layer(args.hidden).eval()
    # Rows long enough that one document's attention outweighs the linear work (at d = 256
    # from about 3k tokens), so both terms show.
    row_lengths = (1024, 4096) if args.quick else (2048, 8192)
    rounds = 3 if args.quick else 7
    rows = {
        f"{row} · {name}": lengths
        for row in row_lengths
        for name, lengths in compositions(row).items()
    }
    seconds = time_rows(layer, rows, args.hidden, rounds)
    squares = np.array([sum(n * n for n in r) for r in rows.values()], dtype=np.float64)
    tokens = np.array([sum(r) for r in rows.values()], dtype=np.float64)
    measured = np.array([seconds[name] for name in rows])
    (a, b), *_ = np.linalg.lstsq(np.stack([squares, tokens], axis=1), measured, rcond=None)
    fitted = a * squares + b * tokens
    default_ratio = 12 * args.hidden
    default_fit = squares + default_ratio * tokens
    # The default model's shape with its best single scale: how well it predicts the times.
    scale = float(measured @ default_fit / (default_fit @ default_fit))
    result_rows: list[dict[str, Any]] = [
        {
            "row": name,
            "tokens": int(t),
            "sum_l2": int(s),
            "seconds": float(m),
            "fitted_error": float(f / m - 1),
            "default_error": float(scale * d / m - 1),
        }
        for name, t, s, m, f, d in zip(
            rows, tokens, squares, measured, fitted, default_fit, strict=True
        )
    ]
    machine = machine_description(
        ["torch"], shared_machine=True, torch_threads=torch.get_num_threads()
    )
    payload = {
        **clock.record(__file__),
        "hidden": args.hidden,
        "head_dim": HEAD_DIM,
        "rounds": rounds,
        "a": float(a),
        "b": float(b),
        "fitted_b_over_a": float(b / a) if a > 0 else None,
        "default_b_over_a": default_ratio,
        "rows": result_rows,
        "machine": machine,
    }
    md = [
        "# Attention cost model on CPU",
        "",
        f"One transformer layer of hidden size d = {args.hidden} ({args.hidden // HEAD_DIM} "
        f"heads of {HEAD_DIM}), float32, forward only, causal `scaled_dot_product_attention` "
        f"per document, median of {rounds} interleaved rounds per row, "
        f"{torch.get_num_threads()} torch threads. The machine was shared with other work "
        "(ratios from one run are what count).",
        "",
        f"Least-squares fit of `time = a·Σ l² + b·L`: a = {a:.3e} s, b = {b:.3e} s, "
        f"**b / a = {b / a:,.0f}** against the default model's 12·d = {default_ratio:,} "
        f"(ratio {b / a / default_ratio:.2f}). `fit err` is the fitted model's error on each "
        "row; `default err` that of the default model `Σ l² + 12·d·L`, with its best single "
        "scale.",
        "",
        "| row | L | Σ l² | ms | fit err | default err |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['row']} | {r['tokens']} | {r['sum_l2']:.3g} | {r['seconds'] * 1e3:.1f} | "
            f"{r['fitted_error']:+.1%} | {r['default_error']:+.1%} |"
            for r in result_rows
        ],
        "",
        *machine_section(machine),
    ]
    write_results(args.out, "attention_cost", payload, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()

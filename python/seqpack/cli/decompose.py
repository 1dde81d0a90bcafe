"""The ``seqpack decompose`` command."""

from __future__ import annotations

import argparse
import json
from typing import Any

from seqpack.cli.common import add_command, options
from seqpack.decompose import decompose


def add_commands(commands: Any) -> None:
    p = add_command(commands, "decompose", _run_decompose)
    p.add_argument("dataset", metavar="DIR", help="a dataset made by `seqpack preprocess`")
    p.add_argument("--out", required=True, metavar="DIR2")
    p.add_argument("--min-log2", type=int, default=8, metavar="K")
    p.add_argument("--max-log2", type=int, default=13, metavar="K")
    p.add_argument("--remainder", choices=["pack", "drop"], default="pack")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--seed", type=int, default=0, help="draws the size of pieces of long documents"
    )
    how.add_argument(
        "--deterministic",
        action="store_true",
        help="cut long documents into pieces of the largest bucket instead",
    )
    p.add_argument(
        "--shifted-targets",
        action="store_true",
        help="store 2^k + 1 tokens per row (inputs plus the shifted target)",
    )
    p.add_argument("--shard-size", type=int, default=1 << 25, metavar="TOKENS")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _run_decompose(args: argparse.Namespace) -> int:
    """Cut a dataset's documents into power-of-two buckets (Dataset Decomposition).

    Cut every document into adjacent pieces of 2^k tokens (min-log2 <= k <= max-log2) and
    write one dataset per bucket plus a manifest with per-bucket counts, token shares,
    average sequence and context lengths. Remainders below the smallest bucket are packed
    into its rows (default, lossless) or dropped.
    """
    result = decompose(
        args.dataset,
        args.out,
        **options(
            args,
            *("min_log2", "max_log2", "remainder", "seed", "deterministic", "shifted_targets"),
            "shard_size",
        ),
    )
    m = result.manifest
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    print(describe(m))
    return 0


def describe(m: dict[str, Any]) -> str:
    corpus = m["corpus"]
    lines = [
        f"{m['source']}: {corpus['documents']:,} documents, {corpus['tokens']:,} tokens "
        f"→ {m['total_sequences']:,} sequences in {len(m['buckets'])} buckets",
        f"{'bucket':>6} {'length':>7} {'sequences':>11} {'tokens':>13} {'share':>7} "
        f"{'packed rows':>11} {'padding':>9}",
    ]
    for b in m["buckets"]:
        lines.append(
            f"{'D' + str(b['log2']).zfill(2):>6} {b['sequence_length']:>7,} "
            f"{b['sequences']:>11,} {b['tokens']:>13,} {b['token_share']:>7.2%} "
            f"{b['packed_rows']:>11,} {b['padding_tokens']:>9,}"
        )
    lines.append(
        f"dropped: {m['dropped_tokens']:,} tokens ({m['dropped_documents']:,} whole documents)"
    )
    lines.append(
        f"average sequence length {m['average_sequence_length']:.1f} "
        f"(documents: {corpus['average_document_length']:.1f}); average context length "
        f"{m['average_context_length']:.1f} (documents whole: "
        f"{corpus['average_context_length']:.1f})"
    )
    lines.append(f"time: {m['seconds']:.2f} s")
    return "\n".join(lines)

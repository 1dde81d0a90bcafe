"""The dataset commands: ``preprocess`` (corpora into a dataset directory) and ``stats``."""

from __future__ import annotations

import argparse
import json
import shutil
from typing import Any

import numpy as np
import numpy.typing as npt

from seqpack.cli.common import add_command, options
from seqpack.dataset import Dataset
from seqpack.errors import InvalidInputError
from seqpack.preprocess import (
    DEFAULT_SPLIT_SIZE,
    INPUT_SUFFIXES,
    RECORD_FORMATS,
    TRAIN_ON,
    preprocess,
)


def add_commands(commands: Any) -> None:
    p = add_command(commands, "preprocess", _run_preprocess)
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=f"files ({', '.join(INPUT_SUFFIXES)}), directories or glob patterns",
    )
    p.add_argument("--tokenizer", required=True, metavar="PATH", help="a tokenizer.json")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--text-field", default="text", help="JSONL/Arrow field with the text")
    p.add_argument("--lines", action="store_true", help=".txt inputs: one document per line")
    p.add_argument("--append-eos", metavar="TOKEN", help="special token added after each document")
    p.add_argument("--prepend-bos", metavar="TOKEN", help="special token added before each")
    p.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--shard-size", type=int, default=1 << 25, metavar="TOKENS")
    p.add_argument("--on-error", choices=["fail", "skip"], default="fail")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run")
    p.add_argument(
        "--format",
        choices=RECORD_FORMATS,
        help="what the records are (default: detected per file from its first record)",
    )
    p.add_argument(
        "--train-on",
        choices=TRAIN_ON,
        help="tokens with a loss (default: assistant for messages, completion for pairs)",
    )
    p.add_argument("--chat-template", metavar="FILE", help="a Jinja chat template")
    p.add_argument(
        "--template-var",
        action="append",
        default=[],
        metavar="K=V",
        help="a template variable (V read as JSON when it is, e.g. enable_thinking=false)",
    )
    p.add_argument(
        "--split-size",
        type=int,
        default=DEFAULT_SPLIT_SIZE,
        metavar="BYTES",
        help="input bytes per split (the same dataset locally and with --ray)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run one Ray task per split on the cluster at ADDRESS (default: the one "
        "RAY_ADDRESS names, or a new local one); needs seqpack[ray]",
    )

    s = add_command(commands, "stats", _run_stats)
    s.add_argument("dataset", metavar="DIR")
    s.add_argument("--plot", metavar="FILE.png", help="also draw the histogram into a PNG")


def _run_preprocess(args: argparse.Namespace) -> int:
    """Tokenize corpora into a dataset directory (Arrow shards + manifest.json).

    Tokenize the inputs (files, directories, globs) into a dataset directory, in parallel,
    with bounded memory, resumably.
    """
    common = options(
        args,
        *("text_field", "lines", "append_eos", "prepend_bos", "shard_size", "split_size"),
        *("on_error", "resume", "format", "train_on", "chat_template"),
    )
    common["template_vars"] = template_vars(args.template_var)
    if args.ray is None:
        manifest = preprocess(args.inputs, args.tokenizer, args.out, workers=args.workers, **common)
    else:
        manifest = _preprocess_on_ray(args, common)
    skipped = manifest["skipped"]
    print(
        f"{args.out}: {manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens "
        f"in {len(manifest['shards'])} shards from {len(manifest['sources'])} files"
    )
    print(
        "skipped: "
        + (", ".join(f"{n:,} {reason}" for reason, n in skipped.items()) if skipped else "none")
    )
    if manifest.get("loss_mask") is not None:
        print(describe_masks(manifest))
    return 0


def template_vars(pairs: list[str]) -> dict[str, Any] | None:
    """``K=V`` pairs as template variables: V as JSON where it parses (``false``, ``3``,
    ``["a"]``), else as a string."""
    if not pairs:
        return None
    variables: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(f"--template-var {pair!r}: expected NAME=VALUE")
        try:
            variables[name] = json.loads(value)
        except json.JSONDecodeError:
            variables[name] = value
    return variables


def describe_masks(manifest: dict[str, Any]) -> str:
    """The loss-mask counts of a manifest, in one line."""
    masks = manifest["loss_mask"]
    share = masks["trained_tokens"] / max(manifest["total_tokens"], 1)
    return (
        f"loss mask: {masks['trained_tokens']:,} tokens trained ({100 * share:.1f} %), "
        f"{masks['records_with_nothing_to_train']:,} records with nothing to train, "
        f"{masks['edges_inside_tokens']:,} mask edges inside tokens"
    )


def _preprocess_on_ray(args: argparse.Namespace, common: dict[str, Any]) -> dict[str, Any]:
    try:
        import ray

        import seqpack.ray
    except ImportError as error:
        raise InvalidInputError(f"--ray needs Ray: pip install 'seqpack[ray]' ({error})") from error
    ray.init(address=args.ray or None)
    remote_args = {"num_cpus": args.workers} if args.workers else None
    return seqpack.ray.preprocess(
        args.inputs, args.tokenizer, args.out, ray_remote_args=remote_args, **common
    )


def _run_stats(args: argparse.Namespace) -> int:
    """Totals, length percentiles and a length histogram of a dataset."""
    dataset = Dataset(args.dataset)
    lengths = dataset.lengths.astype(np.int64)
    print(describe(dataset, lengths))
    if args.plot:
        plot_histogram(lengths, args.plot, title=str(args.dataset))
        print(f"histogram written to {args.plot}")
    return 0


def describe(dataset: Dataset, lengths: npt.NDArray[np.int64]) -> str:
    m = dataset.manifest
    lines = [
        f"{dataset.path}: {m['total_rows']:,} documents, {m['total_tokens']:,} tokens, "
        f"{len(m['shards'])} shards, tokenizer {m['tokenizer']['fingerprint']} "
        f"(vocabulary {m['tokenizer']['vocab_size']:,})",
    ]
    if m["skipped"]:
        lines.append("skipped: " + ", ".join(f"{n:,} {r}" for r, n in m["skipped"].items()))
    if m.get("loss_mask") is not None:
        lines.append(describe_masks(m))
    if lengths.size == 0:
        return "\n".join([*lines, "no documents"])
    qs = [0, 1, 10, 25, 50, 75, 90, 99, 100]
    values = np.percentile(lengths, qs, method="nearest")
    lines.append(
        "length percentiles: "
        + "  ".join(f"p{q}={int(v):,}" for q, v in zip(qs, values, strict=True))
        + f"  mean={lengths.mean():,.1f}"
    )
    lines.append(terminal_histogram(lengths))
    return "\n".join(lines)


def _log2_buckets(lengths: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int]:
    exponents = np.floor(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    low = int(exponents.min())
    counts = np.bincount(exponents - low)
    return counts, low


def terminal_histogram(lengths: npt.NDArray[np.int64]) -> str:
    """Documents per power-of-two length bucket, as bars of block characters."""
    counts, low = _log2_buckets(lengths)
    width = max(10, min(60, shutil.get_terminal_size((100, 20)).columns - 40))
    peak = int(counts.max())
    rows = ["documents by length:"]
    for k, count in enumerate(counts):
        lo, hi = 2 ** (low + k), 2 ** (low + k + 1) - 1
        bar = "█" * max(1 if count else 0, round(width * int(count) / peak))
        rows.append(f"  {lo:>9,}–{hi:<9,} {int(count):>12,} {bar}")
    return "\n".join(rows)


def plot_histogram(lengths: npt.NDArray[np.int64], path: str, *, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidInputError("--plot needs matplotlib: pip install 'seqpack[plot]'") from None
    counts, low = _log2_buckets(lengths)
    edges = [2 ** (low + k) for k in range(len(counts))]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(range(len(counts)), counts, color="#3b6ea8")
    ax.set_xticks(range(len(counts)), [f"{e:,}" for e in edges], rotation=45, ha="right")
    ax.set_xlabel("document length in tokens (power-of-two buckets, lower edge)")
    ax.set_ylabel("documents")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

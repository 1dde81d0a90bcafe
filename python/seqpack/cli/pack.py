"""The ``seqpack pack`` command: pack a length distribution (a file, a dataset, or the
standard library) and report, or write a packed dataset."""

from __future__ import annotations

import argparse
import json
import math
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from seqpack.cli.common import add_command, aligned, options
from seqpack.errors import InvalidInputError
from seqpack.packing import ALGORITHMS, NNLSHP_MAX_CAPACITY, as_lengths, pack

STDLIB = "stdlib"


def add_commands(commands: Any) -> None:
    p = add_command(commands, "pack", _run_pack)
    p.add_argument(
        "dataset",
        nargs="?",
        default=None,
        metavar="DIR",
        help="a dataset directory made by `seqpack preprocess` (the same as --lengths DIR)",
    )
    p.add_argument(
        "--lengths",
        default=STDLIB,
        metavar="FILE",
        help=(
            "a .npy array of lengths, a .csv 'length,count' histogram, a .txt file with "
            "one length per line, or a dataset directory made by `seqpack preprocess` "
            "(default: the Python standard library)"
        ),
    )
    p.add_argument(
        "--capacity", "--seq-len", type=int, default=2048, metavar="L", help="tokens per row"
    )
    p.add_argument(
        "--algorithm",
        default="obfd",
        choices=[*ALGORITHMS, "all"],
        help="packing algorithm, or 'all' to compare them (default: obfd)",
    )
    p.add_argument("--max-docs-per-pack", type=int, default=None, metavar="K")
    p.add_argument("--long-docs", default="split", choices=["split", "truncate", "error"])
    p.add_argument("--seed", type=int, default=None, help="shuffle rows and their documents")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR2",
        help=(
            "write a packed dataset: rows of exactly L tokens (padded with --pad-id) with "
            "their documents' lengths (seq_lengths), readable by HF datasets and PackedLoader"
        ),
    )
    p.add_argument("--pad-id", type=int, default=0, help="padding token id for --out")


def _run_pack(args: argparse.Namespace) -> int:
    """Pack a length distribution and report efficiency, bounds and time.

    Pack documents given by their lengths and print a report: packs, efficiency, gap to the
    lower bounds, documents per pack, truncated tokens, time. Without --lengths, packs the
    files of this Python's standard library, each counted as ceil(UTF-8 bytes / 4) tokens
    (an estimate; no tokenizer is involved). With a dataset directory and --out, writes the
    packed rows as a new dataset.
    """
    if args.dataset is not None:
        if args.lengths != STDLIB:
            raise InvalidInputError("give the dataset as DIR or as --lengths DIR, not both")
        args.lengths = args.dataset
    if args.out is not None:
        return _write_packed(args)
    lengths, source = load_lengths(args.lengths)
    algorithms = [args.algorithm]
    if args.algorithm == "all":
        # Every algorithm that takes this capacity: nnlshp's enumeration stops at 1024.
        algorithms = [
            a for a in ALGORITHMS if a != "nnlshp" or args.capacity <= NNLSHP_MAX_CAPACITY
        ]
    reports = []
    for algorithm in algorithms:
        packing = pack(
            lengths,
            args.capacity,
            algorithm=algorithm,
            **options(args, "max_docs_per_pack", "long_docs", "seed"),
        )
        reports.append(packing.stats())
    header: dict[str, Any] = {
        "source": source,
        "documents": len(lengths),
        "tokens": int(lengths.sum()),
        "capacity": args.capacity,
    }
    if args.json:
        print(json.dumps({**header, "results": reports}, indent=2))
    elif len(reports) == 1:
        print(_report(header, reports[0]))
    else:
        print(_table(header, reports))
    return 0


def _write_packed(args: argparse.Namespace) -> int:
    from seqpack.plan import write_packed_dataset

    if args.algorithm == "all":
        raise InvalidInputError("--out writes one packing: choose one --algorithm")
    if args.lengths == STDLIB or not Path(args.lengths).is_dir():
        raise InvalidInputError("--out needs a dataset directory to pack (seqpack pack DIR)")
    packed = write_packed_dataset(
        args.lengths,
        args.out,
        args.capacity,
        **options(args, "algorithm", "long_docs", "max_docs_per_pack", "seed", "pad_id"),
    )
    info = packed.packing or {}
    real = int(info.get("real_tokens", 0))
    rows = len(packed)
    efficiency = real / max(rows * args.capacity, 1)
    print(
        f"{args.out}: {rows:,} rows of {args.capacity:,} tokens from {args.lengths} "
        f"({real:,} real tokens, efficiency {100 * efficiency:.3f} %, "
        f"{int(info.get('truncated_tokens', 0)):,} truncated, {len(packed.shard_paths)} shards)"
    )
    return 0


def load_lengths(spec: str) -> tuple[npt.NDArray[np.int64], str]:
    """Lengths from a file (``.npy``, ``.csv`` histogram, ``.txt``), or the standard library."""
    if spec == STDLIB:
        return stdlib_lengths(), "Python standard library (ceil(bytes / 4) tokens per file)"
    path = Path(spec)
    if path.is_dir():
        from seqpack.dataset import Dataset

        dataset = Dataset(path)
        return dataset.lengths.astype(np.int64), f"{path} (dataset, tokens per document)"
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise InvalidInputError(f"{path}: not a readable .npy array ({error})") from None
        return as_lengths(array), str(path)
    if path.suffix == ".csv":
        return _read_histogram(path), f"{path} (histogram, expanded)"
    if path.suffix == ".txt":
        return _read_lines(path), str(path)
    raise InvalidInputError(f"{path}: expected a .npy, .csv or .txt file")


def _read_histogram(path: Path) -> npt.NDArray[np.int64]:
    values, counts = [], []
    with path.open(encoding="utf-8") as f:
        header = f.readline().strip().replace(" ", "")
        if header != "length,count":
            raise InvalidInputError(f"{path}:1: expected the header 'length,count', got {header!r}")
        for number, line in enumerate(f, start=2):
            if not line.strip():
                continue
            fields = line.strip().split(",")
            try:
                length, count = (int(x) for x in fields)
            except ValueError:
                raise InvalidInputError(
                    f"{path}:{number}: expected two integers 'length,count', got {line.strip()!r}"
                ) from None
            if length < 1 or count < 0:
                raise InvalidInputError(
                    f"{path}:{number}: length must be ≥ 1 and count ≥ 0, got {line.strip()!r}"
                )
            values.append(length)
            counts.append(count)
    return np.repeat(np.asarray(values, dtype=np.int64), np.asarray(counts, dtype=np.int64))


def _read_lines(path: Path) -> npt.NDArray[np.int64]:
    values = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                values.append(int(line))
            except ValueError:
                raise InvalidInputError(
                    f"{path}:{number}: expected an integer length, got {line.strip()!r}"
                ) from None
    return np.asarray(values, dtype=np.int64)


def stdlib_lengths() -> npt.NDArray[np.int64]:
    """Estimated token counts of the ``.py`` files of this interpreter's standard library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    sizes = [
        p.stat().st_size
        for p in sorted(root.rglob("*.py"))
        if "site-packages" not in p.parts and p.stat().st_size > 0
    ]
    return np.asarray([math.ceil(s / 4) for s in sizes], dtype=np.int64)


def _report(header: dict[str, Any], stats: dict[str, Any]) -> str:
    packs, l1, l2 = (
        int(stats["num_packs"]),
        int(stats["lower_bound_l1"]),
        int(stats["lower_bound_l2"]),
    )
    lp = stats["lower_bound_lp"]
    best, best_name = (l2, "L2") if lp is None or int(lp) <= l2 else (int(lp), "the LP bound")
    over = packs - best
    gap = 100.0 * over / best if best else 0.0
    bounds = f"L1 = {l1:,}, L2 = {l2:,}" + ("" if lp is None else f", LP = {int(lp):,}")
    rows = [
        ("source", str(header["source"])),
        ("documents", f"{header['documents']:,} ({header['tokens']:,} tokens)"),
        ("capacity", f"{header['capacity']:,} tokens per row"),
        ("algorithm", str(stats["algorithm"])),
        ("packs", f"{packs:,}"),
        (
            "efficiency",
            f"{100 * float(stats['efficiency']):.4f} %  (real tokens / (packs × capacity))",
        ),
        ("lower bounds", f"{bounds}; {over:,} packs ({gap:.3f} %) above {best_name}"),
        (
            "docs per pack",
            f"mean {float(stats['mean_docs_per_pack']):.2f}, max {stats['max_docs_per_pack']}",
        ),
        ("truncated tokens", f"{stats['truncated_tokens']:,}"),
        ("time", f"{1000 * float(stats['seconds']):.1f} ms"),
    ]
    return aligned(rows)


def _table(header: dict[str, Any], reports: list[dict[str, Any]]) -> str:
    lines = [
        f"{header['source']}: {header['documents']:,} documents, {header['tokens']:,} tokens, "
        f"capacity {header['capacity']:,}",
        f"{'algorithm':<10} {'packs':>12} {'efficiency':>11} {'over bound':>10} {'max/pack':>9} "
        f"{'time':>10}",
    ]
    for s in reports:
        lines.append(
            f"{s['algorithm']!s:<10} {s['num_packs']:>12,} {100 * float(s['efficiency']):>10.4f}% "
            f"{s['packs_over_lower_bound']:>10,} {s['max_docs_per_pack']:>9} "
            f"{1000 * float(s['seconds']):>8.1f}ms"
        )
    return "\n".join(lines)

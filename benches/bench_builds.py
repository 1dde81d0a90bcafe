#!/usr/bin/env python3
"""Two installs of seqpack side by side: did a change make the main jobs slower?

    python benches/bench_builds.py --build before=/path/to/python --build after=/path/to/python
        [--corpora DIR] [--work DIR] [--rounds 5] [--out benches/results]

Each ``--build NAME=PYTHON`` is an interpreter that imports the seqpack to measure (a
virtualenv with another build installed, say). The rows are the public API's main jobs, the
same calls whatever the version:

- ``pack``: ``seqpack.pack`` of the Wikipedia-512 length histogram (every document of the
  Graphcore histogram, 512-token rows, obfd);
- ``encode``: ``Tokenizer.encode_batch`` of the Linux Documentation corpus with a 32k
  byte-level BPE (all cores);
- ``preprocess``: ``seqpack.preprocess`` of the same corpus into a fresh dataset directory;
- ``loader``: one epoch of ``seqpack.torch.PackedLoader(data, 4096, 8)`` over the dataset
  that build's preprocess wrote, epoch packing included.

Every measurement is a fresh process. Rounds interleave the builds (before, after, before,
…), so that a slow minute of a shared machine hits both; each row reports the median over the
rounds and the ratio of each build's median to the first build's. Results go to
``OUT/builds.json`` and ``OUT/builds.md`` with the machine description.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.machine import machine_description

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
ROWS = ("pack", "encode", "preprocess", "loader")
RESULT_MARKER = "BENCH_RESULT "
VOCAB = 32768


def run_row(row: str, work: Path, corpus: Path, tokenizer: Path, build_dir: Path) -> float:
    """One measurement of ``row`` in this process: the wall-clock seconds of the call."""
    import numpy as np
    import seqpack

    if row == "pack":
        table = np.loadtxt(SHARED / "data/packing/wikipedia-512.csv", delimiter=",", skiprows=1)
        lengths = np.repeat(table[:, 0].astype(np.int64), table[:, 1].astype(np.int64))
        start = time.perf_counter()
        seqpack.pack(lengths, 512)
        return time.perf_counter() - start
    if row == "encode":
        with open(corpus, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f]
        encoder = seqpack.Tokenizer.from_file(str(tokenizer))
        start = time.perf_counter()
        encoder.encode_batch(texts)
        return time.perf_counter() - start
    if row == "preprocess":
        out = build_dir / f"data-{time.monotonic_ns()}"
        start = time.perf_counter()
        seqpack.preprocess([str(corpus)], str(tokenizer), str(out))
        elapsed = time.perf_counter() - start
        latest = build_dir / "data"
        if not latest.exists():
            out.rename(latest)
        else:
            subprocess.run(["rm", "-rf", str(out)], check=True)
        return elapsed
    if row == "loader":
        from seqpack.torch import PackedLoader

        start = time.perf_counter()
        for _batch in PackedLoader(str(build_dir / "data"), 4096, 8, drop_last=False):
            pass
        return time.perf_counter() - start
    raise ValueError(row)


def prepare(corpora: Path, work: Path) -> tuple[Path, Path]:
    """The corpus and the tokenizer every build uses (made once, by this interpreter)."""
    corpus = corpora / "linux-docs.jsonl"
    if not corpus.exists():
        subprocess.run(["bash", str(SHARED / "corpora/make-corpora"), str(corpora)], check=True)
    tokenizer = work / "tokenizer.json"
    if not tokenizer.exists():
        work.mkdir(parents=True, exist_ok=True)
        import seqpack

        seqpack.train_bpe_files([corpus], VOCAB, special_tokens=["<|endoftext|>"], out=tokenizer)
    return corpus, tokenizer


def measure(python: str, row: str, work: Path, corpus: Path, tokenizer: Path, name: str) -> float:
    build_dir = work / name
    build_dir.mkdir(parents=True, exist_ok=True)
    args = [
        python,
        __file__,
        "--worker",
        row,
        "--work",
        str(work),
        "--corpus",
        str(corpus),
        "--tokenizer",
        str(tokenizer),
        "--build-dir",
        str(build_dir),
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return float(line.removeprefix(RESULT_MARKER))
    raise RuntimeError(f"{name} {row} failed:\n{done.stdout}\n{done.stderr}")


def table(results: dict[str, Any]) -> str:
    """Medians per build, and for each later build two ratios to the first: of the medians,
    and the median of the per-round ratios (each round's pair ran back to back, so a slow
    minute of a shared machine cancels out of it)."""
    names = list(results["builds"])
    head = "| row | " + " | ".join(f"{n} median (s)" for n in names)
    head += " | " + " | ".join(f"{n} / {names[0]} (medians, paired)" for n in names[1:]) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(names) - 1)]
    for row in results["rows"]:
        medians = [results["medians"][n][row] for n in names]
        first = results["samples"][names[0]][row]
        cells = [f"{m:.3f}" for m in medians]
        for name, median in zip(names[1:], medians[1:], strict=True):
            pairs = [a / b for a, b in zip(results["samples"][name][row], first, strict=True)]
            cells.append(f"{median / medians[0]:.3f}, {statistics.median(pairs):.3f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", default=[], help="NAME=PYTHON")
    parser.add_argument("--corpora", type=Path, default=Path("/tmp/seqpack-corpora"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/seqpack-bench-builds"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=ROWS)
    parser.add_argument("--out", type=Path, default=REPO / "benches" / "results")
    parser.add_argument("--worker", choices=ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        seconds = run_row(args.worker, args.work, args.corpus, args.tokenizer, args.build_dir)
        print(f"{RESULT_MARKER}{seconds}")
        return
    builds = dict(b.split("=", 1) for b in args.build)
    if not builds:
        parser.error("give at least one --build NAME=PYTHON")
    corpus, tokenizer = prepare(args.corpora, args.work)
    for name in builds:  # each build's loader reads the dataset its own preprocess wrote
        subprocess.run(["rm", "-rf", str(args.work / name)], check=True)
    rows = ["preprocess", *[r for r in args.rows if r != "preprocess"]]
    samples: dict[str, dict[str, list[float]]] = {n: {r: [] for r in rows} for n in builds}
    for round_ in range(args.rounds):
        for row in rows:
            for name, python in builds.items():
                seconds = measure(python, row, args.work, corpus, tokenizer, name)
                samples[name][row].append(seconds)
                print(f"round {round_ + 1} {row:<10} {name:<8} {seconds:.3f} s", flush=True)
    results = {
        "machine": machine_description(["numpy", "torch"]),
        "builds": builds,
        "rows": [r for r in rows if r in args.rows],
        "corpus_bytes": corpus.stat().st_size,
        "samples": samples,
        "medians": {
            n: {r: statistics.median(s) for r, s in rows_.items()} for n, rows_ in samples.items()
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "builds.json").write_text(json.dumps(results, indent=1) + "\n")
    text = f"{table(results)}\n\nMachine: {json.dumps(results['machine'])}\n"
    (args.out / "builds.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

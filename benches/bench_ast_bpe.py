#!/usr/bin/env python3
"""AST-BPE evaluation: SQL BPE and AST-BPE on text2sql-data, byte-level AST-BPE on Python.

    python benches/bench_ast_bpe.py [--out benches/results] [--corpora DIR] [--vocab-size N]

- text2sql-data, every dataset with its query split (datasets that have numbered
  cross-validation folds instead: fold 0 is test, fold 1 dev, the rest train): SQL BPE and
  AST-BPE trained on the train queries with the paper's stopping criterion on the dev queries
  (r = 20 rejections, m = 100), measured on the test queries: mean target length in symbols
  (base SQL tokens, BPE, AST-BPE), merges at the stopping point, and the fraction of symbols
  that are not a run of sibling subtrees of the query's parse.
- Python standard library (``make-corpora``'s ``pystdlib.jsonl``; every 10th file held out, the
  others for training): seqpack's plain byte-level BPE (GPT-2 pre-tokenizer) against byte-level
  AST-BPE at the same vocabulary size: UTF-8 bytes per token and the fraction of tokens that cut
  across tree-sitter's parse on the held-out files, training time and encoding speed.

Results go to ``OUT/ast_bpe.json`` (raw numbers and the machine) and ``OUT/ast_bpe.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import seqpack
from harness.machine import REPO, machine_description
from harness.results import RunClock, write_results
from seqpack.ast_bpe import syntax_crossing
from seqpack.preprocess import read_documents
from seqpack.sql import SqlBpe, query_splits, sql_tokens, train_sql_bpe

SHARED = (REPO / ".." / "shared").resolve()
DEFAULT_CORPORA = Path(os.environ.get("SEQPACK_CORPORA", "/tmp/seqpack-corpora"))
REJECTIONS, RARE_BELOW = 20, 100


def sql_rows() -> list[dict[str, Any]]:
    rows = []
    for path in sorted((SHARED / "data" / "text2sql").glob("*.json")):
        splits = query_splits(path)
        test = splits["test"]
        # A test token never seen in train or dev is spelled by its bytes, one symbol each;
        # count it once, as the paper's unknown symbol would be.
        known = {t for q in splits["train"] + splits["dev"] for t in sql_tokens(q)}
        spelled = [sum(len(t.encode()) - 1 for t in sql_tokens(q) if t not in known) for q in test]
        row: dict[str, Any] = {
            "dataset": path.stem,
            "queries": {k: len(v) for k, v in splits.items()},
            "base_length": float(np.mean([len(sql_tokens(q)) for q in test])),
            "unseen_test_tokens": sum(t not in known for q in test for t in sql_tokens(q)),
        }
        for name, syntax in (("bpe", False), ("ast_bpe", True)):
            started = time.perf_counter()
            model: SqlBpe = train_sql_bpe(
                splits["train"],
                splits["dev"],
                syntax=syntax,
                max_rejections=REJECTIONS,
                rare_below=RARE_BELOW,
            )
            seconds = time.perf_counter() - started
            crossing = [model.crossing(q) for q in test]
            lengths = [len(model.encode(q)) - extra for q, extra in zip(test, spelled, strict=True)]
            row[name] = {
                "merges": model.num_merges,
                "rejections": model.rejections,
                "candidates": len(model.steps),
                "rare_types": model.rare_types_before,
                "unparsed_train_queries": model.unparsed,
                "mean_length": float(np.mean(lengths)),
                "crossing_fraction": sum(c for c, _ in crossing) / sum(lengths),
                "train_seconds": seconds,
            }
        rows.append(row)
    return rows


def python_rows(corpora: Path, vocab_size: int) -> dict[str, Any]:
    texts = read_documents(corpora / "pystdlib.jsonl")
    held_out = texts[::10]
    train = [t for i, t in enumerate(texts) if i % 10]
    train_mb = sum(len(t.encode()) for t in train) / 1e6
    held_mb = sum(len(t.encode()) for t in held_out) / 1e6
    out: dict[str, Any] = {
        "files": {"train": len(train), "held_out": len(held_out)},
        "megabytes": {"train": train_mb, "held_out": held_mb},
        "vocab_size": vocab_size,
    }
    started = time.perf_counter()
    plain = seqpack.train_bpe(train, vocab_size)
    plain_seconds = time.perf_counter() - started
    started = time.perf_counter()
    training = seqpack.train_ast_bpe(train, vocab_size, "python")
    ast_seconds = time.perf_counter() - started
    out["unparsed_train_files"] = training.unparsed
    for name, tok, seconds in (
        ("bpe", plain, plain_seconds),
        ("ast_bpe", training.tokenizer, ast_seconds),
    ):
        before = tok.fallbacks
        started = time.perf_counter()
        encoded = tok.encode_batch(held_out)
        encode_seconds = time.perf_counter() - started
        lengths = np.array([len(tok.decode_bytes([i])) for i in range(tok.vocab_size)])
        tokens = sum(len(ids) for ids in encoded)
        crossing = parsed_tokens = unparsed = 0
        for text, ids in zip(held_out, encoded, strict=True):
            n = syntax_crossing("python", text, lengths[ids].astype(np.uint32))
            if n is None:
                unparsed += 1
                continue
            crossing += n
            parsed_tokens += len(ids)
        out[name] = {
            "vocab_size": tok.vocab_size,
            "train_seconds": seconds,
            "train_mb_per_s": train_mb / seconds,
            "encode_seconds": encode_seconds,
            "encode_mb_per_s": held_mb / encode_seconds,
            "tokens": tokens,
            "bytes_per_token": held_mb * 1e6 / tokens,
            "crossing_fraction": crossing / parsed_tokens,
            "held_out_files_unparsed": unparsed,
            "fallbacks": None if before is None else (tok.fallbacks or 0) - before,
        }
    return out


def machine() -> dict[str, Any]:
    return machine_description(["seqpack", "numpy"], seqpack=seqpack.__version__)


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [
        "# AST-BPE: SQL BPE and AST-BPE on text2sql-data, byte-level AST-BPE on Python",
        "",
        f"- Command: `{result['command']}` ({result['duration_s']:.0f} s, "
        f"finished {result['finished']})",
        f"- Machine: {m['cpu']}, {m['logical_cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}; seqpack {m['seqpack']} (commit {m['seqpack_commit']}); 1-min load "
        f"average {result['load_avg_1min'][0]:.1f} → {result['load_avg_1min'][1]:.1f}",
        "",
        "## text2sql-data (test queries)",
        "",
        "Trained on the train queries; the stopping criterion "
        f"(r = {REJECTIONS}, m = {RARE_BELOW}) watches the dev queries. Lengths are mean "
        "symbols per test query (a token unseen in train and dev counts as one symbol, as an "
        "unknown symbol would); *crossing* is the fraction of test symbols that are not a "
        "run of sibling subtrees of the query's parse.",
        "",
        "| dataset | train / dev / test | unseen test tokens | base tokens | BPE | AST-BPE "
        "| BPE merges | AST-BPE merges | BPE crossing | AST-BPE crossing |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["text2sql"]:
        q, b, a, base = r["queries"], r["bpe"], r["ast_bpe"], r["base_length"]
        out.append(
            f"| {r['dataset']} | {q['train']} / {q['dev']} / {q['test']} "
            f"| {r['unseen_test_tokens']} | {base:.1f} "
            f"| {b['mean_length']:.1f} ({1 - b['mean_length'] / base:.0%} shorter) "
            f"| {a['mean_length']:.1f} ({1 - a['mean_length'] / base:.0%} shorter) "
            f"| {b['merges']} | {a['merges']} | {b['crossing_fraction']:.1%} "
            f"| {a['crossing_fraction']:.1%} |"
        )
    p = result["python"]
    out += [
        "",
        "## Python standard library (held-out files)",
        "",
        f"{p['files']['train']:,} files ({p['megabytes']['train']:.1f} MB) for training, "
        f"{p['files']['held_out']:,} held out ({p['megabytes']['held_out']:.1f} MB); "
        f"{p['unparsed_train_files']} training files do not parse (tree-sitter) and were merged "
        "as plain byte-level BPE. *Crossing* is the fraction of tokens (of held-out files that "
        "parse) that are not a run of sibling nodes of tree-sitter's parse.",
        "",
        "| tokenizer | vocab | bytes / token | crossing | train s (MB/s) "
        "| encode MB/s (all cores) |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("bpe", "byte-level BPE, GPT-2 pre-tokenizer"),
        ("ast_bpe", "byte-level AST-BPE"),
    ):
        r = p[name]
        out.append(
            f"| {label} | {r['vocab_size']:,} | {r['bytes_per_token']:.2f} "
            f"| {r['crossing_fraction']:.1%} | {r['train_seconds']:.1f} "
            f"({r['train_mb_per_s']:.1f}) | {r['encode_mb_per_s']:.1f} |"
        )
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benches" / "results")
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--vocab-size", type=int, default=4096)
    args = parser.parse_args()
    if not (args.corpora / "pystdlib.jsonl").is_file():
        subprocess.run(
            ["bash", str(SHARED / "corpora" / "make-corpora"), str(args.corpora)],
            check=True,
            env={**os.environ, "SKIP_LINUX": "1", "PYTHON": sys.executable},
        )
    clock = RunClock()
    rows = {
        "machine": machine(),
        "text2sql": sql_rows(),
        "python": python_rows(args.corpora, args.vocab_size),
    }
    result = {**clock.record(__file__), **rows}
    write_results(args.out, "ast_bpe", result, markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

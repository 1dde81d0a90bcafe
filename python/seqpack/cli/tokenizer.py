"""The tokenizer command: ``train-bpe`` (byte-level BPE, or AST-BPE with ``--ast``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from seqpack.ast_bpe import LANGUAGES, train_ast_bpe_files
from seqpack.cli.common import add_command, aligned, options
from seqpack.errors import InvalidInputError
from seqpack.tokenizer import PATTERNS, Tokenizer, train_bpe_files


def add_commands(commands: Any) -> None:
    t = add_command(commands, "train-bpe", _run_train_bpe)
    t.add_argument("inputs", nargs="+", metavar="INPUT")
    t.add_argument("--vocab-size", type=int, required=True, metavar="N", help="ids in the result")
    t.add_argument("--out", required=True, metavar="FILE", help="the tokenizer.json to write")
    t.add_argument(
        "--special-token",
        action="append",
        default=[],
        dest="special_tokens",
        metavar="TOK",
        help="a special token (repeatable); they take the last ids, in order",
    )
    t.add_argument(
        "--pattern",
        default=None,
        metavar="PATTERN",
        help=f"pre-tokenizer: {' or '.join(PATTERNS)} (default: gpt2), or a regex",
    )
    t.add_argument(
        "--ast",
        choices=LANGUAGES,
        default=None,
        help=(
            "AST-BPE for this language instead of a pre-tokenizer: merges never cut across "
            "the parse; files that do not parse are merged as plain byte-level BPE and counted"
        ),
    )
    t.add_argument(
        "--min-frequency",
        type=int,
        default=2,
        metavar="N",
        help="do not merge pairs seen fewer times (default: 2)",
    )


def _run_train_bpe(args: argparse.Namespace) -> int:
    """Train a byte-level BPE tokenizer and write it as a HF tokenizer.json.

    Train a byte-level BPE tokenizer on text files and write a HuggingFace tokenizer.json
    (it loads in `tokenizers` and encodes identically there). Inputs: .jsonl/.ndjson files
    (one document per line, in its "text" field) or UTF-8 text files (any other name; the
    whole file is one document).
    """
    if args.ast is not None and args.pattern is not None:
        raise InvalidInputError("train-bpe: --pattern does not apply with --ast")
    pattern = args.pattern or "gpt2"
    started = time.perf_counter()
    unparsed: tuple[int, int] | None = None
    if args.ast is not None:
        training = train_ast_bpe_files(
            args.inputs,
            args.vocab_size,
            args.ast,
            **options(args, "special_tokens", "min_frequency", "out"),
        )
        tokenizer: Tokenizer = training.tokenizer
        unparsed = (training.unparsed, training.documents)
    else:
        meter = _Meter(sys.stderr, started) if sys.stderr.isatty() else None
        tokenizer = train_bpe_files(
            args.inputs,
            args.vocab_size,
            pattern=pattern,
            progress=meter,
            **options(args, "special_tokens", "min_frequency", "out"),
        )
        if meter is not None:
            meter.clear()
    seconds = time.perf_counter() - started
    megabytes = sum(Path(p).stat().st_size for p in args.inputs) / 1e6
    specials = len(args.special_tokens)
    merges = tokenizer.vocab_size - 256 - specials
    rows = [
        ("tokenizer", f"{args.out} (fingerprint {tokenizer.fingerprint})"),
        (
            "vocab size",
            f"{tokenizer.vocab_size:,} ids: 256 bytes, {merges:,} merges, {specials} special",
        ),
    ]
    if unparsed is None:
        rows.append(("pattern", pattern))
    else:
        rows.append(("ast", args.ast))
        rows.append(
            ("unparsed", f"{unparsed[0]:,} of {unparsed[1]:,} documents (plain byte-level BPE)")
        )
    rows += [
        ("corpus", f"{len(args.inputs)} file(s), {megabytes:,.1f} MB"),
        ("time", f"{seconds:.1f} s ({megabytes / seconds:.1f} MB/s)"),
    ]
    print(aligned(rows))
    return 0


class _Meter:
    """One self-rewriting line on a terminal: MB read, rate, then the merging phase."""

    def __init__(self, stream: TextIO, started: float) -> None:
        self.stream, self.started = stream, started

    def __call__(self, read: int, total: int) -> None:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        rate = read / 1e6 / seconds
        line = f"counting  {read / 1e6:,.1f} / {total / 1e6:,.1f} MB  ({rate:.1f} MB/s)"
        if read >= total:
            line += "; merging…"
        self.stream.write(f"\r\033[K{line}")
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()

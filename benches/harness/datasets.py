"""Datasets the benchmarks read, made with the ``seqpack`` command line as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def seqpack_cli(*args: str | Path) -> None:
    """Runs ``seqpack ARGS`` with this interpreter; a failure stops the benchmark."""
    subprocess.run([sys.executable, "-m", "seqpack", *map(str, args)], check=True)


def preprocess_once(inputs: list[Path], tokenizer: Path, out: Path) -> Path:
    """``inputs`` tokenized into ``out``, each document ended by ``<|endoftext|>``, unless
    ``out`` already holds a finished dataset."""
    if not (out / "manifest.json").exists():
        seqpack_cli(
            "preprocess",
            *inputs,
            "--tokenizer",
            tokenizer,
            "--out",
            out,
            "--append-eos",
            "<|endoftext|>",
        )
    return out

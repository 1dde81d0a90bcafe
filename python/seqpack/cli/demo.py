"""The ``seqpack demo`` command: the main job on an embedded default, the Python standard
library of the running interpreter, from text to packed training batches."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from seqpack.cli.common import add_command
from seqpack.dataset import Dataset
from seqpack.packing import pack
from seqpack.preprocess import preprocess
from seqpack.tokenizer import train_bpe_files

EOS = "<|endoftext|>"


def add_commands(commands: Any) -> None:
    d = add_command(commands, "demo", _run_demo)
    d.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    d.add_argument("--vocab-size", type=int, default=8192)
    d.add_argument("--seq-len", type=int, default=2048)
    d.add_argument("--keep", action="store_true", help="keep the temporary files")


def _run_demo(args: argparse.Namespace) -> int:
    """The whole pipeline on this Python's standard library: train, preprocess, pack.

    Train a byte-level BPE on the Python standard library of this interpreter, tokenize it
    into a dataset, pack it into rows, and report each step.
    """
    return run_demo(args.workdir, args.vocab_size, args.seq_len, args.keep)


def write_stdlib_corpus(path: Path) -> tuple[int, int]:
    """The ``.py`` files of this interpreter's standard library as JSONL ``{"text", "source"}``;
    returns (documents, UTF-8 bytes). Files that are not UTF-8 are left out."""
    root = Path(sysconfig.get_paths()["stdlib"])
    documents = size = 0
    with path.open("w", encoding="utf-8") as out:
        for file in sorted(root.rglob("*.py")):
            if "site-packages" in file.parts:
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            out.write(json.dumps({"text": text, "source": str(file.relative_to(root))}) + "\n")
            documents += 1
            size += len(text.encode())
    return documents, size


def run_demo(workdir: Path | None, vocab_size: int, seq_len: int, keep: bool) -> int:
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="seqpack-demo-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        step = _Steps()
        corpus = work / "pystdlib.jsonl"
        documents, size = write_stdlib_corpus(corpus)
        seconds = step.lap()
        step.report(
            "corpus", f"{documents:,} files of the Python standard library, {size / 1e6:.1f} MB"
        )

        tokenizer = train_bpe_files(
            [corpus], vocab_size, special_tokens=[EOS], out=work / "tokenizer.json"
        )
        seconds = step.lap()
        step.report(
            "train-bpe",
            f"byte-level BPE, vocabulary {tokenizer.vocab_size:,}, {size / 1e6 / seconds:.1f} MB/s",
        )

        dataset_dir = work / "dataset"
        if dataset_dir.exists():
            shutil.rmtree(dataset_dir)
        manifest = preprocess(corpus, tokenizer, dataset_dir, append_eos=EOS, progress=False)
        seconds = step.lap()
        step.report(
            "preprocess",
            f"{manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens "
            f"({size / manifest['total_tokens']:.2f} bytes/token), "
            f"{len(manifest['shards'])} shards, {size / 1e6 / seconds:.1f} MB/s; skipped: "
            + (", ".join(f"{n} {why}" for why, n in manifest["skipped"].items()) or "none"),
        )

        lengths = Dataset(dataset_dir).lengths
        packing = pack(lengths, seq_len)
        stats = packing.stats()
        step.lap()
        step.report(
            "pack",
            f"{packing.num_packs:,} rows of {seq_len:,} tokens, efficiency "
            f"{100 * packing.efficiency:.3f} % (padding {100 * (1 - packing.efficiency):.3f} %), "
            f"{stats['packs_over_lower_bound']:,} rows above the L2 bound, "
            f"≤ {stats['max_docs_per_pack']} documents per row",
        )
        kept = int(np.minimum(lengths, seq_len).sum())
        print(
            f"\nversus one document per row, padded or truncated to {seq_len:,}: "
            f"{len(lengths):,} rows, {100 * kept / (len(lengths) * seq_len):.1f} % real tokens, "
            f"{int(lengths.sum()) - kept:,} tokens cut off"
        )
        _load_batches(dataset_dir, seq_len, step)
        if keep or not own:
            print(f"files kept in {work}")
        return 0
    finally:
        if own and not keep:
            shutil.rmtree(work, ignore_errors=True)


def _load_batches(dataset_dir: Path, seq_len: int, step: _Steps) -> None:
    """One epoch of the torch loader, when torch is installed (``seqpack[torch]``)."""
    try:
        from seqpack.torch import PackedLoader
    except ImportError:
        print("\nbatches: torch is not installed; `pip install seqpack[torch]` for PackedLoader")
        return
    loader = PackedLoader(dataset_dir, seq_len, batch_size=8)
    step.lap()
    step.report("(loader)", "import torch; shards memory-mapped, checksums verified")
    batches = real = 0
    for batch in loader:
        batches += 1
        real += int((batch["document_ids"] >= 0).sum())
    seconds = step.lap()
    step.report(
        "batches",
        f"epoch 0: {batches:,} batches of 8 × {seq_len:,} (input_ids, labels, position_ids, "
        f"document_ids, cu_seqlens), {real:,} real tokens, {real / 1e6 / seconds:.1f} M "
        "tokens/s including the epoch's packing",
    )


class _Steps:
    """Times the steps: ``lap()`` ends one (its seconds are what its report's rates use),
    ``report()`` prints it."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._last = 0.0

    def lap(self) -> float:
        now = time.perf_counter()
        self._last = max(now - self._start, 1e-9)
        self._start = now
        return self._last

    def report(self, name: str, what: str) -> None:
        print(f"{name:<11} {self._last:7.2f} s  {what}")
        sys.stdout.flush()
        self._start = time.perf_counter()

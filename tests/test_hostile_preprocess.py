"""Inputs of preprocess that a careless or hostile source hands over: a byte order mark,
files that fail part way, directory entries that are not files, absurd worker counts, and
Ctrl-C. Each is handled and said, never a crash, a traceback or a silent skip."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import seqpack
from seqpack.cli import main
from seqpack.preprocess import WORKERS_PER_CORE

TEXTS = ["def f(x):\n    return x + 1\n", "SELECT name FROM city WHERE population > 5", "hi"]


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    seqpack.train_bpe(TEXTS * 4, 300, special_tokens=["<|endoftext|>"], out=path)
    return path


def _jsonl(path: Path, texts: list[str], prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + "".join(json.dumps({"text": t}) + "\n" for t in texts).encode())
    return path


def _documents(out: Path) -> list[list[int]]:
    return [list(map(int, doc)) for doc in seqpack.Dataset(out)]


def test_a_byte_order_mark_at_the_start_of_a_file_is_skipped(
    tmp_path: Path, tokenizer_path: Path
) -> None:
    plain = _jsonl(tmp_path / "plain.jsonl", TEXTS)
    marked = _jsonl(tmp_path / "marked.jsonl", TEXTS, prefix=b"\xef\xbb\xbf")
    whole = tmp_path / "whole.txt"
    whole.write_bytes(b"\xef\xbb\xbf" + TEXTS[0].encode())
    seqpack.preprocess(plain, tokenizer_path, tmp_path / "plain")
    seqpack.preprocess(marked, tokenizer_path, tmp_path / "marked")
    seqpack.preprocess(whole, tokenizer_path, tmp_path / "whole")
    assert _documents(tmp_path / "marked") == _documents(tmp_path / "plain")
    assert _documents(tmp_path / "whole") == _documents(tmp_path / "plain")[:1]


def _failing_part_way(tmp_path: Path) -> list[Path]:
    """A gzip file whose stream breaks after its header and a Parquet file whose text column
    holds integers: both open, and fail at their first read."""
    good = gzip.compress(b"".join(json.dumps({"text": t}).encode() + b"\n" for t in TEXTS))
    broken = tmp_path / "a-broken.jsonl.gz"
    broken.write_bytes(good[:12] + bytes(64) + good[12:])
    numbers = tmp_path / "b-numbers.parquet"
    pq.write_table(pa.table({"text": pa.array([1, 2, 3], pa.int64())}), numbers)
    return [broken, numbers, _jsonl(tmp_path / "c-good.jsonl", TEXTS)]


def test_on_error_skip_counts_files_that_fail_part_way_and_goes_on(
    tmp_path: Path, tokenizer_path: Path
) -> None:
    inputs = _failing_part_way(tmp_path)
    manifest = seqpack.preprocess(inputs, tokenizer_path, tmp_path / "out", on_error="skip")
    assert manifest["skipped"] == {"unreadable_file": 2}
    assert manifest["total_rows"] == len(TEXTS)  # the good file, whole
    # Without skip, the first such file stops the run, named.
    with pytest.raises(seqpack.SeqpackError, match=r"a-broken\.jsonl\.gz"):
        seqpack.preprocess(inputs, tokenizer_path, tmp_path / "fail")
    with pytest.raises(seqpack.SeqpackError, match=r"b-numbers\.parquet.*not a string"):
        seqpack.preprocess(inputs[1:], tokenizer_path, tmp_path / "fail2")


def test_entries_of_an_input_directory_that_are_not_files_are_named(
    tmp_path: Path, tokenizer_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _jsonl(corpus / "good.jsonl", TEXTS)
    os.mkfifo(corpus / "queue.jsonl")
    (corpus / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.warns(UserWarning, match=r"skipped 2 inputs that are not regular files") as seen:
        manifest = seqpack.preprocess(corpus, tokenizer_path, tmp_path / "out")
    message = str(seen[0].message)
    assert "queue.jsonl (FIFO)" in message and "gone.jsonl (broken link)" in message, message
    assert manifest["total_rows"] == len(TEXTS)


def test_workers_are_clamped_to_a_multiple_of_the_cores_with_a_warning(
    tmp_path: Path, tokenizer_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", TEXTS)
    limit = WORKERS_PER_CORE * (os.cpu_count() or 1)
    with pytest.warns(UserWarning, match=rf"workers=1000000 .*using {limit}"):
        manifest = seqpack.preprocess(corpus, tokenizer_path, tmp_path / "api", workers=10**6)
    assert manifest["total_rows"] == len(TEXTS)
    args = ["preprocess", str(corpus), "--tokenizer", str(tokenizer_path), "--workers", "1000000"]
    assert main([*args, "--out", str(tmp_path / "cli")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("seqpack: warning: workers=1000000"), err


def test_ctrl_c_prints_one_line_saying_how_to_resume(tmp_path: Path, tokenizer_path: Path) -> None:
    # Large enough that the run is still going when Ctrl-C comes, once it holds its lock.
    corpus = _jsonl(tmp_path / "big.jsonl", TEXTS * 100_000)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "seqpack", "preprocess", str(corpus)]
    child = subprocess.Popen(
        [*command, "--tokenizer", str(tokenizer_path), "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / ".seqpack.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert err == "seqpack: interrupted; run the same command with --resume to continue\n"
    # What it left is resumable into the whole dataset.
    assert (
        main(
            [
                "preprocess",
                str(corpus),
                "--tokenizer",
                str(tokenizer_path),
                "--out",
                str(out),
                "--resume",
            ]
        )
        == 0
    )
    assert seqpack.Dataset(out).manifest["total_rows"] == len(TEXTS) * 100_000

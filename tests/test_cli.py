"""The ``seqpack`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from seqpack.cli import main


def test_default_packs_the_standard_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack"]) == 0
    out = capsys.readouterr().out
    assert "Python standard library" in out
    assert "efficiency" in out and "L2 =" in out


def test_histogram_json_report(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = shared_dir / "data/packing/squad-1.1-384.csv"
    assert main(["pack", "--lengths", str(csv), "--capacity", "384", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == 88_641
    (result,) = report["results"]
    assert result["num_packs"] == 40_631 and result["algorithm"] == "obfd"


def test_compare_all_algorithms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lengths.npy"
    np.save(path, np.random.default_rng(0).integers(1, 300, size=500))
    assert main(["pack", "--lengths", str(path), "--capacity", "256", "--algorithm", "all"]) == 0
    out = capsys.readouterr().out
    for name in ("obfd", "bfd", "ffd", "nf", "spfhp", "lpfhp", "wrapped", "exact", "nnlshp"):
        assert f"\n{name} " in out
    # Beyond its enumeration's limit, "all" leaves nnlshp out instead of failing.
    assert main(["pack", "--lengths", str(path), "--capacity", "2048", "--algorithm", "all"]) == 0
    out = capsys.readouterr().out
    assert "\nexact " in out and "nnlshp" not in out


def test_depth_cap_and_truncation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lengths.txt"
    path.write_text("5\n700\n3\n\n4\n")
    args = ["pack", "--lengths", str(path), "--capacity", "512", "--json"]
    assert main([*args, "--long-docs", "truncate", "--max-docs-per-pack", "2"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["truncated_tokens"] == 188 and result["max_docs_per_pack"] <= 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", "length,count\n5,3\n6,x\n", "bad.csv:3: expected two integers"),
        ("bad.csv", "len,n\n5,3\n", "bad.csv:1: expected the header"),
        ("bad.csv", "length,count\n0,3\n", "bad.csv:2: length must be"),
        ("bad.txt", "5\nfive\n", "bad.txt:2: expected an integer"),
        ("bad.txt", "5\n-2\n", r"lengths\[1\] = -2"),
        ("bad.json", "[]", "expected a .npy, .csv or .txt"),
    ],
)
def test_bad_files_name_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert main(["pack", "--lengths", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqpack: error:")
    assert __import__("re").search(message, err), err


def test_long_document_error_names_the_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lengths.txt"
    path.write_text("5\n9000\n")
    assert main(["pack", "--lengths", str(path), "--long-docs", "error"]) == 2
    assert "lengths[1] = 9000 exceeds capacity 2048" in capsys.readouterr().err


def test_installed_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "seqpack", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "pack" in out


def test_demo_runs_the_main_job_from_text_to_batches(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["demo", "--vocab-size", "1024", "--seq-len", "1024"]) == 0
    out = capsys.readouterr().out
    steps = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    for step in ("corpus", "train-bpe", "preprocess", "pack", "batches"):
        assert step in steps, out
    tokens = int(out.split(" documents, ")[1].split(" tokens")[0].replace(",", ""))
    loaded = int(out.split("cu_seqlens), ")[1].split(" real tokens")[0].replace(",", ""))
    # drop_last leaves out fewer than one batch of rows, never more.
    assert 0 <= tokens - loaded < 8 * 1024

"""The boundary between the core and Python: the constants Python uses are the core's
(exported from ``seqpack._core``), not copies; options cross by keyword, and their errors
name the Python parameter."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest
import seqpack
from seqpack import _core
from seqpack.decompose import DECOMPOSITION_FORMAT, DECOMPOSITION_VERSION
from seqpack.packing import MAX_CAPACITY, Algorithm
from seqpack.preprocess import INPUT_SUFFIXES


def test_the_algorithm_type_names_exactly_the_cores_algorithms() -> None:
    assert typing.get_args(Algorithm) == _core.ALGORITHMS == seqpack.ALGORITHMS
    for algorithm in _core.ALGORITHMS:
        assert seqpack.pack([3, 2], 4, algorithm=algorithm).algorithm == algorithm


def test_max_capacity_is_the_cores_limit() -> None:
    assert MAX_CAPACITY == _core.MAX_CAPACITY == 1 << 24
    assert seqpack.pack([1], MAX_CAPACITY).num_packs == 1
    with pytest.raises(seqpack.InvalidInputError, match="capacity"):
        seqpack.pack([1], MAX_CAPACITY + 1)
    # The core refuses it too, not only the Python check in front of it.
    with pytest.raises(seqpack.InvalidInputError, match=r"^capacity must be in 1\.\.="):
        _core.pack(np.ones(1, np.int64), MAX_CAPACITY + 1)


def test_format_names_and_versions_come_from_the_core() -> None:
    assert (_core.DATASET_FORMAT, _core.DATASET_FORMAT_VERSION) == ("seqpack-dataset", 1)
    assert (DECOMPOSITION_FORMAT, DECOMPOSITION_VERSION) == (
        _core.DECOMPOSITION_FORMAT,
        _core.DECOMPOSITION_FORMAT_VERSION,
    )
    assert DECOMPOSITION_FORMAT == "seqpack-decomposition"


def test_input_suffixes_are_the_cores() -> None:
    assert INPUT_SUFFIXES == _core.INPUT_SUFFIXES
    for suffix in (".jsonl.zst", ".ndjson.gz", ".feather", ".parquet", ".txt"):
        assert suffix in INPUT_SUFFIXES


def test_option_errors_name_the_python_parameter() -> None:
    lengths = np.ones(3, np.int64)
    with pytest.raises(seqpack.InvalidInputError, match=r"^algorithm \"x\" is unknown"):
        _core.pack(lengths, 8, algorithm="x")
    with pytest.raises(seqpack.InvalidInputError, match=r"^long_docs \"x\" is unknown"):
        _core.lower_bound(lengths, 8, long_docs="x")
    with pytest.raises(TypeError, match="capacity"):
        _core.pack(lengths, "8")  # type: ignore[arg-type]
    # The core calls it shard_tokens; the caller passed shard_size.
    with pytest.raises(seqpack.InvalidInputError, match=r"^shard_size must be at least 1"):
        _core.decompose(Path("no-such-dataset"), Path("out"), shard_size=0)
    with pytest.raises(seqpack.InvalidInputError, match=r"^remainder \"x\" is unknown"):
        _core.decompose(Path("no-such-dataset"), Path("out"), remainder="x")


def test_a_manifest_crosses_as_a_dict(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "one two"}\n{"text": "three"}\n')
    tokenizer = seqpack.train_bpe(["one two three"] * 4, 300)
    manifest = seqpack.preprocess(corpus, tokenizer, tmp_path / "ds", progress=False)
    assert type(manifest) is dict and type(manifest["shards"]) is list
    assert (manifest["format"], manifest["format_version"]) == (
        _core.DATASET_FORMAT,
        _core.DATASET_FORMAT_VERSION,
    )
    assert manifest["total_rows"] == 2 and isinstance(manifest["total_tokens"], int)
    assert seqpack.Dataset(tmp_path / "ds").manifest == manifest


def test_progress_crosses_as_named_counters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(f'{{"text": "document {i}"}}\n' for i in range(50)))
    tokenizer = seqpack.train_bpe(["document"] * 4, 300)
    seen: list[_core.PreprocessProgress] = []
    manifest = _core.preprocess([corpus], tmp_path / "ds", tokenizer._core, progress=seen.append)
    assert seen and all(isinstance(p, _core.PreprocessProgress) for p in seen)
    last = seen[-1]
    assert last.documents == manifest["total_rows"] == 50
    assert last.tokens == manifest["total_tokens"]
    assert last.input_bytes_read == last.input_bytes_total == corpus.stat().st_size
    # Shards are counted once closed; the last closes after the last report.
    assert last.shards <= len(manifest["shards"]) and last.seconds >= 0
    seqpack.preprocess(corpus, tokenizer, tmp_path / "shown", progress=True)
    assert "        50 docs " in capsys.readouterr().err


def test_the_core_reads_corpora_for_python(tmp_path: Path) -> None:
    from seqpack.preprocess import read_documents

    corpus = tmp_path / "corpus.ndjson"
    corpus.write_text('{"text": "a"}\n\n{"text": "b\\u00e9"}\n')
    assert read_documents(corpus) == ["a", "bé"]
    (tmp_path / "whole.txt").write_text("one document\nof two lines\n")
    assert read_documents(tmp_path / "whole.txt") == ["one document\nof two lines\n"]
    corpus.write_text('{"text": "a"}\n{"title": "b"}\n')
    with pytest.raises(seqpack.InvalidInputError, match=r"corpus\.ndjson:2: no \"text\" field"):
        read_documents(corpus)

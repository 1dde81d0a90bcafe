"""The constants Python uses are the core's (exported from ``seqpack._core``), not copies."""

from __future__ import annotations

import typing

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

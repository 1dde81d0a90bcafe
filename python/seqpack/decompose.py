"""Dataset decomposition: a dataset's documents cut into power-of-two buckets, one dataset
per bucket (see :func:`decompose` and :class:`Decomposition`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from seqpack import _core
from seqpack.dataset import Dataset
from seqpack.errors import InvalidInputError

__all__ = ["DECOMPOSITION_FORMAT", "Decomposition", "decompose"]

DECOMPOSITION_FORMAT: str = _core.DECOMPOSITION_FORMAT
DECOMPOSITION_VERSION: int = _core.DECOMPOSITION_FORMAT_VERSION

PathLike = str | os.PathLike[str]


def decompose(
    dataset: PathLike,
    out: PathLike,
    *,
    min_log2: int = 8,
    max_log2: int = 13,
    remainder: Literal["pack", "drop"] = "pack",
    seed: int = 0,
    deterministic: bool = False,
    shifted_targets: bool = False,
    shard_size: int = 1 << 25,
) -> Decomposition:
    """Cut every document of the dataset directory ``dataset`` into adjacent pieces of 2^k
    tokens, ``min_log2 <= k <= max_log2``, following the binary decomposition of its length,
    and write one dataset per bucket under ``out`` (``out/D08``, …) plus ``out/manifest.json``.

    A piece never spans two documents. Where the rest of a document exceeds the largest
    bucket, the piece's k is drawn with P(k) ∝ 2^(max_log2 − k), seeded by ``seed`` (so each
    bucket gets the same expected tokens from long documents), or is ``max_log2`` with
    ``deterministic=True``. What is left below the smallest bucket (and every shorter
    document) is packed with best-fit decreasing into rows of 2^min_log2 tokens, one segment
    per document (``remainder="pack"``: no token is lost), or dropped and counted as the
    reference implementation does (``remainder="drop"``). Each bucket is a packed dataset:
    rows list their segments' lengths (``seq_lengths``), source documents (``documents``) and
    first tokens there (``starts``). ``shifted_targets=True`` stores 2^k + 1 tokens per row, for
    training code that takes inputs and targets from one row. The GIL is released.
    """
    for name, value in (("min_log2", min_log2), ("max_log2", max_log2), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
    if seed >= 1 << 64:
        raise InvalidInputError(f"seed must be below 2^64, got {seed}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise InvalidInputError(f"shard_size must be at least 1 token, got {shard_size!r}")
    _core.decompose(
        dataset,
        out,
        min_log2=min_log2,
        max_log2=max_log2,
        remainder=remainder,
        seed=None if deterministic else seed,
        shifted_targets=shifted_targets,
        shard_size=shard_size,
    )
    return Decomposition(out)


class Decomposition:
    """A decomposition directory made by :func:`decompose`: ``manifest`` is its top-level
    manifest, ``bucket(k)`` the dataset of rows of ``sequence_length(k)`` tokens."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = _core.read_decomposition_manifest(self.path)
        self._buckets = {int(b["log2"]): b for b in self.manifest["buckets"]}

    def __repr__(self) -> str:
        counts = ", ".join(f"D{k:02}: {b['sequences']:,}" for k, b in sorted(self._buckets.items()))
        return f"Decomposition({str(self.path)!r}, {counts})"

    @property
    def log2s(self) -> list[int]:
        """The buckets' k, smallest first."""
        return sorted(self._buckets)

    def summary(self, log2: int) -> dict[str, Any]:
        """The manifest's entry for bucket ``log2``: counts, tokens, padding, token share."""
        if log2 not in self._buckets:
            raise InvalidInputError(
                f"{self.path}: no bucket {log2} (buckets: {', '.join(map(str, self.log2s))})"
            )
        summary: dict[str, Any] = self._buckets[log2]
        return summary

    def sequence_length(self, log2: int) -> int:
        return int(self.summary(log2)["sequence_length"])

    def bucket(self, log2: int, *, verify: bool = True) -> Dataset:
        """Bucket ``log2`` as a memory-mapped :class:`seqpack.Dataset` (one row per sequence)."""
        return Dataset(self.path / self.summary(log2)["dir"], verify=verify)

    def seq_lengths(self, log2: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
        """Bucket ``log2``'s segments in CSR form: row ``i``'s segment lengths are
        ``values[offsets[i]:offsets[i + 1]]`` (one segment for a piece of one document)."""
        bucket = self.bucket(log2, verify=False)
        offsets = [np.zeros(1, np.int64)]
        if len(bucket) == 0:  # no shard, so no column either
            return offsets[0], np.zeros(0, np.uint32)
        column = bucket.to_arrow().column("seq_lengths")
        values = []
        base = 0
        for chunk in column.chunks:
            chunk_offsets = chunk.offsets.to_numpy().astype(np.int64)
            offsets.append(chunk_offsets[1:] - chunk_offsets[0] + base)
            first, last = int(chunk_offsets[0]), int(chunk_offsets[-1])
            values.append(chunk.values.to_numpy(zero_copy_only=False)[first:last].astype(np.uint32))
            base += int(chunk_offsets[-1] - chunk_offsets[0])
        all_values = np.concatenate(values) if values else np.zeros(0, np.uint32)
        return np.concatenate(offsets), all_values

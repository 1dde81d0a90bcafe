"""Sequence packing: place documents into fixed-capacity rows without mixing their tokens."""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from seqpack import _core
from seqpack._arrays import integer_array
from seqpack._core import Packing
from seqpack.errors import InvalidInputError

__all__ = ["ALGORITHMS", "Algorithm", "LongDocs", "Packing", "lower_bound", "pack"]

Algorithm = Literal["obfd", "bfd", "ffd", "nf", "spfhp", "lpfhp", "wrapped", "exact", "nnlshp"]
LongDocs = Literal["split", "truncate", "error"]
# The core's list; tests/test_constants.py checks that ``Algorithm`` names the same.
ALGORITHMS = cast(tuple[Algorithm, ...], _core.ALGORITHMS)
MAX_CAPACITY: int = _core.MAX_CAPACITY
# nnlshp enumerates capacity² / 12 strategies: it refuses capacities above this.
NNLSHP_MAX_CAPACITY: int = _core.NNLSHP_MAX_CAPACITY


def pack(
    lengths: npt.ArrayLike,
    capacity: int,
    *,
    algorithm: Algorithm = "obfd",
    max_docs_per_pack: int | None = None,
    long_docs: LongDocs = "split",
    seed: int | None = None,
) -> Packing:
    """Pack documents of the given token ``lengths`` into rows of ``capacity`` tokens.

    ``algorithm``: ``"obfd"`` (best-fit decreasing, the default), ``"bfd"``, ``"ffd"``,
    ``"nf"``, ``"spfhp"``, ``"lpfhp"``, ``"wrapped"`` (concatenate-and-chunk: documents
    straddle rows, the contaminating baseline), ``"exact"`` (column generation on the
    cutting-stock LP: near-optimal rows, its LP bound in ``stats()["lower_bound_lp"]``) or
    ``"nnlshp"`` (Graphcore's non-negative least-squares histogram packing, at most 3 per
    row, ``capacity`` at most ``NNLSHP_MAX_CAPACITY`` (1024): the published reference for
    capped packing).
    ``max_docs_per_pack`` caps the entries per row. ``long_docs`` decides what happens to
    documents longer than ``capacity``:
    ``"split"`` them into fragments of at most ``capacity`` (no token lost), ``"truncate"``
    them (dropped tokens are counted in ``truncated_tokens``), or raise (``"error"``).
    ``seed`` shuffles the order of rows and of documents inside each row, deterministically.

    The GIL is released while packing. Raises :class:`seqpack.InvalidInputError` (a
    ``ValueError``) naming the offending index for non-positive lengths, NaN or a
    non-integer dtype.
    """
    _check_capacity(capacity)
    if max_docs_per_pack is not None and (not _is_int(max_docs_per_pack) or max_docs_per_pack < 1):
        raise InvalidInputError(
            f"max_docs_per_pack must be a positive integer or None, got {max_docs_per_pack!r}"
        )
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**64):
        raise InvalidInputError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    if max_docs_per_pack is not None:
        # Beyond the capacity a depth cap cannot bind (every entry holds a token).
        max_docs_per_pack = min(int(max_docs_per_pack), int(capacity))
    return _core.pack(
        as_lengths(lengths),
        int(capacity),
        algorithm=algorithm,
        max_docs_per_pack=max_docs_per_pack,
        long_docs=long_docs,
        seed=seed,
    )


def lower_bound(
    lengths: npt.ArrayLike, capacity: int, *, long_docs: LongDocs = "split"
) -> tuple[int, int]:
    """Lower bounds on the number of rows any packing needs: ``(L1, L2)``, where L1 is
    ⌈Σ lengths / capacity⌉ and L2 the Martello–Toth bound (L2 ≥ L1). Long documents are
    split or truncated as ``long_docs`` says before bounding."""
    _check_capacity(capacity)
    return _core.lower_bound(as_lengths(lengths), int(capacity), long_docs=long_docs)


def as_lengths(lengths: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """A contiguous int64 view (or copy) of ``lengths``, refusing what is not 1-D integers."""
    return integer_array(lengths, "lengths", np.int64, "does not fit in int64")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_capacity(capacity: object) -> None:
    if not _is_int(capacity) or not 1 <= int(capacity) <= MAX_CAPACITY:  # type: ignore[call-overload]
        raise InvalidInputError(
            f"capacity must be an integer in 1..{MAX_CAPACITY}, got {capacity!r}"
        )

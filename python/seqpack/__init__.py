"""seqpack: Rust-accelerated sequence packing and data pipelines for language-model training."""

from __future__ import annotations

from seqpack._core import __version__
from seqpack.errors import InvalidInputError, SeqpackError
from seqpack.packing import ALGORITHMS, Packing, lower_bound, pack

__all__ = [
    "ALGORITHMS",
    "InvalidInputError",
    "Packing",
    "SeqpackError",
    "__version__",
    "lower_bound",
    "pack",
]

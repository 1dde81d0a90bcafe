"""PyTorch loaders (the optional ``torch`` extra): variable-sequence-length batches from a
decomposition, and GrowLength schedules."""

from __future__ import annotations

from seqpack.torch.decomposed import DecomposedLoader
from seqpack.torch.grow_length import GrowLengthSchedule, Stage

__all__ = ["DecomposedLoader", "GrowLengthSchedule", "Stage"]

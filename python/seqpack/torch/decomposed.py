"""A variable-sequence-length loader over a decomposition (see :class:`DecomposedLoader`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from seqpack.curriculum import curriculum_odds, schedule
from seqpack.dataset import Dataset
from seqpack.decompose import Decomposition
from seqpack.errors import InvalidInputError
from seqpack.torch.rows import batch_arrays

__all__ = ["DecomposedLoader"]

Batch = dict[str, Any]


class _Bucket:
    """One bucket's rows: token views and segment lengths, mapped, not copied."""

    def __init__(self, decomposition: Decomposition, log2: int) -> None:
        self.log2 = log2
        self.length = decomposition.sequence_length(log2)
        self.dataset: Dataset = decomposition.bucket(log2)
        self.seq_offsets, self.seq_values = decomposition.seq_lengths(log2)

    def __len__(self) -> int:
        return len(self.dataset)

    def rows(self, indices: npt.NDArray[np.int64]) -> Batch:
        tokens = [self.dataset[int(i)] for i in indices]
        segments = [self.seq_values[self.seq_offsets[i] : self.seq_offsets[i + 1]] for i in indices]
        return batch_arrays(tokens, segments, self.length)


class DecomposedLoader:
    """Batches of one bucket per step from a decomposition made by :func:`seqpack.decompose`.

    Each step draws a bucket D_k by the ``curriculum`` (``"uniform"``, ``"grow-linear"``,
    ``"grow-p2"`` or odds per bucket, smallest first) over ``cycles`` cycles, as in
    :func:`seqpack.curriculum.schedule`, and yields ``tokens_per_step / 2^k`` sequences of
    2^k tokens, split evenly over the ranks: the batch shape varies, the tokens per step do
    not. Batches follow the packed-batch contract (``input_ids``, ``labels``,
    ``position_ids``, ``document_ids``, ``cu_seqlens``, ``max_seqlen``), so packed rows of the
    smallest bucket keep their documents isolated.

    The order of an epoch is a pure function of (decomposition, seed, epoch, curriculum,
    cycles, tokens_per_step): every rank draws the same bucket at every step without
    communicating, and ``state_dict()`` is a few integers. Rows are shuffled per bucket and
    epoch; the ``leftover_sequences`` of a bucket that do not fill a whole step are left out
    of that epoch (a different set each epoch).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        tokens_per_step: int,
        *,
        curriculum: str | Sequence[float] = "grow-p2",
        cycles: int = 8,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        self.decomposition = Decomposition(path)
        manifest = self.decomposition.manifest
        if manifest["shifted_targets"]:
            raise InvalidInputError(
                f"{path}: rows carry a shifted target (2^k + 1 tokens); this loader follows "
                "the HF convention (labels shifted in the loss): decompose without "
                "shifted_targets"
            )
        rank, world_size = _rank_and_world(rank, world_size)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
        self.tokens_per_step = tokens_per_step
        self.rank, self.world_size = rank, world_size
        self.seed, self.cycles = seed, cycles
        self.buckets = [_Bucket(self.decomposition, k) for k in self.decomposition.log2s]
        self.odds = curriculum_odds(curriculum, len(self.buckets))
        self.curriculum = curriculum
        self.batch_sizes = [self._batch_size(b) for b in self.buckets]
        self.steps_per_bucket = np.array(
            [len(b) // n for b, n in zip(self.buckets, self.batch_sizes, strict=True)],
            dtype=np.int64,
        )
        self.leftover_sequences = {
            b.log2: len(b) % n for b, n in zip(self.buckets, self.batch_sizes, strict=True)
        }
        # Validates cycles too, before any iteration.
        schedule([0] * len(self.buckets), self.odds, cycles, [seed, 0])
        self.epoch = 0
        self.step = 0
        self._plan: tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None
        self._orders: dict[int, npt.NDArray[np.int64]] = {}

    def _batch_size(self, bucket: _Bucket) -> int:
        per_step, rem = divmod(self.tokens_per_step, bucket.length)
        if rem or per_step % self.world_size:
            raise InvalidInputError(
                f"tokens_per_step {self.tokens_per_step} must be a multiple of "
                f"{bucket.length} × world_size {self.world_size} (bucket D{bucket.log2:02})"
            )
        return per_step

    def __len__(self) -> int:
        """Steps per epoch."""
        return int(self.steps_per_bucket.sum())

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.step = epoch, 0

    def _epoch_plan(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """This epoch's bucket per step, and how many earlier steps drew the same bucket."""
        if self._plan is None or self._plan[0] != self.epoch:
            buckets = schedule(
                self.steps_per_bucket, self.odds, self.cycles, [self.seed, self.epoch]
            )
            occurrence = np.zeros_like(buckets)
            for i in range(len(self.buckets)):
                where = np.flatnonzero(buckets == i)
                occurrence[where] = np.arange(where.size)
            self._plan = (self.epoch, buckets, occurrence)
            self._orders = {}
        return self._plan[1], self._plan[2]

    def bucket_schedule(self) -> npt.NDArray[np.int64]:
        """The k of every step of the current epoch (the same on every rank)."""
        buckets, _ = self._epoch_plan()
        log2s = np.array([b.log2 for b in self.buckets], dtype=np.int64)
        return log2s[buckets]

    def _rows(self, bucket: int, occurrence: int) -> npt.NDArray[np.int64]:
        order = self._orders.get(bucket)
        if order is None:
            b = self.buckets[bucket]
            rng = np.random.Generator(
                np.random.PCG64(np.random.SeedSequence([self.seed, self.epoch, b.log2]))
            )
            order = self._orders[bucket] = rng.permutation(len(b))
        per_step = self.batch_sizes[bucket]
        step_rows = order[occurrence * per_step : (occurrence + 1) * per_step]
        per_rank = per_step // self.world_size
        return step_rows[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __iter__(self) -> Iterator[Batch]:
        """The rest of the current epoch, from ``step``; the next iteration starts the next
        epoch."""
        buckets, occurrence = self._epoch_plan()
        while self.step < len(buckets):
            i = int(buckets[self.step])
            arrays = self.buckets[i].rows(self._rows(i, int(occurrence[self.step])))
            self.step += 1
            yield _to_torch(arrays)
        self.epoch, self.step = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        """Where the loader is, plus what fixes the order (checked on load)."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "seed": self.seed,
            "cycles": self.cycles,
            "tokens_per_step": self.tokens_per_step,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume where ``state`` was taken: the next batch is the one that would have come.
        The world size may differ (each rank takes its share of the same step)."""
        for key in ("seed", "cycles", "tokens_per_step"):
            if state[key] != getattr(self, key):
                raise InvalidInputError(
                    f"state was saved with {key} {state[key]}, this loader has "
                    f"{getattr(self, key)}: the order would differ"
                )
        self.epoch, self.step = int(state["epoch"]), int(state["step"])


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
    rank = 0 if rank is None else rank
    world_size = 1 if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise InvalidInputError(f"rank {rank} is not in 0..world_size ({world_size})")
    return rank, world_size


def _to_torch(arrays: dict[str, Any]) -> Batch:
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in arrays.items()}

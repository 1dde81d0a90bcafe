"""A variable-sequence-length loader over a decomposition (see :class:`DecomposedLoader`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from seqpack import _core
from seqpack.curriculum import curriculum_odds, schedule
from seqpack.decompose import Decomposition
from seqpack.errors import InvalidInputError
from seqpack.packing import _is_int
from seqpack.plan import epoch_planner
from seqpack.torch.batch import Batch, check_masks, make_batch
from seqpack.torch.ranks import ranks

__all__ = ["DecomposedLoader"]


class _Bucket:
    """One bucket: its rows (a packed dataset of sequences of 2^k tokens), planned per epoch
    by the core in an order drawn from (bucket, seed, epoch), and their split over ranks."""

    def __init__(self, decomposition: Decomposition, log2: int, seed: int) -> None:
        self.log2 = log2
        self.length = decomposition.sequence_length(log2)
        dataset = decomposition.bucket(log2)  # verifies sizes and checksums
        self.fingerprint = dataset.fingerprint
        self.rows = len(dataset)
        self.planner = epoch_planner(dataset, self.length, seed=seed)

    def __len__(self) -> int:
        return self.rows


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
        masks: Sequence[str] = ("cu_seqlens",),
        prefetch: int = 2,
        pad_id: int = 0,
    ) -> None:
        self.decomposition = Decomposition(path)
        if self.decomposition.manifest["shifted_targets"]:
            raise InvalidInputError(
                f"{path}: rows carry a shifted target (2^k + 1 tokens); this loader follows "
                "the HF convention (labels shifted in the loss): decompose without "
                "shifted_targets"
            )
        self.masks = check_masks(masks)
        self.rank, self.world_size = ranks(rank, world_size)
        if not _is_int(tokens_per_step) or tokens_per_step < 1:
            raise InvalidInputError(
                f"tokens_per_step must be a positive integer, got {tokens_per_step!r}"
            )
        self.tokens_per_step = int(tokens_per_step)
        self.seed, self.cycles = seed, cycles
        self.prefetch, self.pad_id = prefetch, pad_id
        self.buckets = [_Bucket(self.decomposition, k, seed) for k in self.decomposition.log2s]
        self.odds = curriculum_odds(curriculum, len(self.buckets))
        self.batch_sizes = [self._batch_size(b) for b in self.buckets]
        self.splits = [
            _core.StepSplit(
                batch_size=n // self.world_size,
                world_size=self.world_size,
                rank=self.rank,
                drop_last=True,
                pad_id=pad_id,
                prefetch=prefetch,
            )
            for n in self.batch_sizes
        ]
        self.steps_per_bucket = np.array(
            [split.steps(len(b), 0) for b, split in zip(self.buckets, self.splits, strict=True)],
            dtype=np.int64,
        )
        self.leftover_sequences = {
            b.log2: len(b) % n for b, n in zip(self.buckets, self.batch_sizes, strict=True)
        }
        # What fixes the order, as the state records it and the seeds digest it; the
        # decomposition is named by its buckets' fingerprints.
        self.options: dict[str, Any] = {
            "tokens_per_step": self.tokens_per_step,
            "seed": seed,
            "cycles": cycles,
            "curriculum": self.odds.tolist(),
        }
        self.fingerprint = "+".join(b.fingerprint for b in self.buckets)
        # Validates seed and cycles before any iteration.
        schedule([0] * len(self.buckets), self.odds, cycles, self._seed(0))
        self.epoch = 0
        self.step = 0
        self._schedule: tuple[int, npt.NDArray[np.int64]] | None = None

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
        """Moves to the start of ``epoch``."""
        if not _is_int(epoch) or epoch < 0:
            raise InvalidInputError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch, self.step = int(epoch), 0

    def _seed(self, epoch: int) -> int:
        return _core.derive_seed(self.fingerprint, self.options, epoch, "curriculum")

    def _buckets_of_epoch(self) -> npt.NDArray[np.int64]:
        """The bucket (index) of every step of the current epoch, the same on every rank."""
        if self._schedule is None or self._schedule[0] != self.epoch:
            steps = schedule(self.steps_per_bucket, self.odds, self.cycles, self._seed(self.epoch))
            self._schedule = (self.epoch, steps)
        return self._schedule[1]

    def bucket_schedule(self) -> npt.NDArray[np.int64]:
        """The k of every step of the current epoch (the same on every rank)."""
        log2s = np.array([b.log2 for b in self.buckets], dtype=np.int64)
        return log2s[self._buckets_of_epoch()]

    def _stream(self, i: int, done: int) -> Iterator[tuple[Any, ...]]:
        """Bucket ``i``'s batches for this rank from its ``done``-th step of the epoch on,
        assembled ahead on a thread. Its rows come in an order drawn for (bucket, seed,
        epoch), and step ``j`` of the bucket takes rows ``j·B … (j + 1)·B − 1`` of that
        order."""
        b = self.buckets[i]
        plan = b.planner.plan(self.epoch)
        return iter(self.splits[i].stream(b.planner.store, plan, done * self.batch_sizes[i], 0, 1))

    def __iter__(self) -> Iterator[Batch]:
        """The rest of the current epoch, from ``step``; the next iteration starts the next
        epoch."""
        buckets = self._buckets_of_epoch()
        done = np.bincount(buckets[: self.step], minlength=len(self.buckets))
        streams = {
            i: self._stream(i, int(done[i]))
            for i in range(len(self.buckets))
            if done[i] < self.steps_per_bucket[i]
        }
        epoch = self.epoch
        while self.step < len(buckets):
            arrays = next(streams[int(buckets[self.step])])
            # Counted before the batch is handed over: a state saved while the consumer holds
            # it says it has been consumed.
            self.step += 1
            yield make_batch(arrays, self.masks)
        if self.epoch == epoch:
            self.epoch, self.step = epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is, plus what fixes the order (checked on load), in the core's
        loader-state layout (``consumed`` counts steps)."""
        return _core.loader_state(
            "decomposed", self.fingerprint, self.options, self.epoch, self.step
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume where ``state`` was taken: the next batch is the one that would have come.
        The world size may differ (each rank takes its share of the same step). A state of
        other options, or whose step is not in its epoch, raises ``InvalidInputError``."""
        self.epoch, self.step = _core.resume_loader_state(
            state, "decomposed", self.fingerprint, self.options, lambda _: len(self)
        )

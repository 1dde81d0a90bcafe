"""A variable-sequence-length loader over a decomposition (see :class:`DecomposedLoader`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from seqpack import _core
from seqpack.curriculum import curriculum_odds, schedule
from seqpack.decompose import Decomposition
from seqpack.errors import InvalidInputError
from seqpack.torch.loader import MASKS, _ranks
from seqpack.torch.masks import block_mask, dense_mask

__all__ = ["DecomposedLoader"]

Batch = dict[str, Any]


class _Bucket:
    """One bucket's rows, memory-mapped for the shared batch assembler."""

    def __init__(self, decomposition: Decomposition, log2: int) -> None:
        self.log2 = log2
        self.length = decomposition.sequence_length(log2)
        dataset = decomposition.bucket(log2)  # verifies sizes and checksums
        self.rows = len(dataset)
        self.store = dataset.token_store

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
        for name, value, least in (
            ("seed", seed, 0),
            ("pad_id", pad_id, 0),
            ("prefetch", prefetch, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InvalidInputError(f"{name} must be an integer ≥ {least}, got {value!r}")
        if isinstance(masks, str):
            masks = (masks,)
        unknown = sorted(set(masks) - set(MASKS))
        if unknown:
            raise InvalidInputError(
                f"masks {unknown} are unknown; expected a subset of {', '.join(MASKS)}"
            )
        self.rank, self.world_size = _ranks(rank, world_size)
        self.tokens_per_step = tokens_per_step
        self.seed, self.cycles = seed, cycles
        self.masks, self.prefetch, self.pad_id = tuple(masks), prefetch, pad_id
        self.buckets = [_Bucket(self.decomposition, k) for k in self.decomposition.log2s]
        self.odds = curriculum_odds(curriculum, len(self.buckets))
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
        self.epoch, self.step = epoch, 0

    def _buckets_of_epoch(self) -> npt.NDArray[np.int64]:
        """The bucket (index) of every step of the current epoch, the same on every rank."""
        if self._schedule is None or self._schedule[0] != self.epoch:
            seed = [self.seed, self.epoch]
            self._schedule = (
                self.epoch,
                schedule(self.steps_per_bucket, self.odds, self.cycles, seed),
            )
        return self._schedule[1]

    def bucket_schedule(self) -> npt.NDArray[np.int64]:
        """The k of every step of the current epoch (the same on every rank)."""
        log2s = np.array([b.log2 for b in self.buckets], dtype=np.int64)
        return log2s[self._buckets_of_epoch()]

    def _stream(self, i: int, done: int) -> Iterator[tuple[Any, ...]]:
        """Bucket ``i``'s batches for this rank from its ``done``-th step of the epoch on,
        assembled ahead on a thread. Its rows come in an order drawn from (seed, epoch, k),
        and step ``j`` of the bucket takes rows ``j·B … (j + 1)·B − 1`` of that order."""
        b = self.buckets[i]
        order_seed = np.random.SeedSequence([self.seed, self.epoch, b.log2])
        plan = _core.Plan.packed_rows(
            b.store, b.length, int(order_seed.generate_state(1, np.uint64)[0])
        )
        per_step = self.batch_sizes[i]
        per_rank = per_step // self.world_size
        return iter(
            _core.BatchStream(
                b.store,
                plan,
                first=done * per_step + self.rank * per_rank,
                stride=per_step,
                batch_size=per_rank,
                num_batches=int(self.steps_per_bucket[i]) - done,
                seq_len=b.length,
                pad_id=self.pad_id,
                prefetch=self.prefetch,
            )
        )

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
            yield self._batch(arrays)
        if self.epoch == epoch:
            self.epoch, self.step = epoch + 1, 0

    def _batch(self, arrays: tuple[Any, ...]) -> Batch:
        input_ids, labels, position_ids, document_ids, cu_seqlens, max_seqlen, _ = arrays
        batch: Batch = {
            "input_ids": torch.from_numpy(input_ids),
            "labels": torch.from_numpy(labels),
            "position_ids": torch.from_numpy(position_ids),
            "document_ids": torch.from_numpy(document_ids),
        }
        if "cu_seqlens" in self.masks:
            batch["cu_seqlens"] = torch.from_numpy(cu_seqlens)
            batch["max_seqlen"] = int(max_seqlen)
        if "sdpa" in self.masks:
            batch["attention_mask"] = dense_mask(batch["document_ids"])
        if "flex" in self.masks:
            batch["block_mask"] = block_mask(batch["document_ids"])
        return batch

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

"""``PackedLoader``: packed batches straight from a dataset directory, every document
isolated, the order of each epoch a pure function of (dataset, seed, epoch, options)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from seqpack import _core
from seqpack.dataset import Dataset
from seqpack.errors import InvalidInputError
from seqpack.packing import Algorithm, LongDocs, _is_int
from seqpack.plan import EpochPlanner, PlanOptions
from seqpack.torch.masks import block_mask, dense_mask
from seqpack.torch.patch import PatchAlign, patch_batch

__all__ = ["MASKS", "PackedLoader"]

MASKS = ("cu_seqlens", "sdpa", "flex")
STATE_VERSION = 1


class PackedLoader(torch.utils.data.IterableDataset[dict[str, Any]]):
    """Iterates over batches of ``batch_size`` rows of ``seq_len`` tokens packed from the
    dataset at ``data_dir`` (made by ``seqpack preprocess``, or pre-packed by
    ``seqpack pack DIR --out``).

    Each batch is a dict of tensors: ``input_ids``, ``labels`` (-100 on each document's
    first token and on padding), ``position_ids`` (restarting per document),
    ``document_ids`` (int32, per row, -1 on padding) and, as ``masks`` asks,
    ``cu_seqlens``/``max_seqlen`` (``"cu_seqlens"``), a dense boolean ``attention_mask``
    ``[B, 1, L, L]`` (``"sdpa"``) and a FlexAttention ``block_mask`` (``"flex"``).

    Every epoch packs the whole dataset again (``algorithm``, ``long_docs``,
    ``max_docs_per_pack`` as for :func:`seqpack.pack`): other rows, in another order, for
    each (seed, epoch), the same ones for the same. Rows go to ranks in turn, so every rank
    gets the same number of batches and each row goes to one rank. With ``drop_last`` the
    rows that do not fill a last step on every rank are left out of the epoch (other rows
    each epoch when shuffling; the same ones with ``shuffle=False``); without it the last
    step is filled with rows of padding only.

    Batches are assembled by a Rust thread up to ``prefetch`` ahead, from memory-mapped
    shards: no worker processes are needed (inside a ``torch.utils.data.DataLoader`` with
    ``batch_size=None``, workers each take every n-th batch, so the order is unchanged; as
    the workers hold copies of the loader, call ``set_epoch(e)`` before each epoch there,
    unless the workers are persistent). Iterating runs the current epoch from where it
    stands (a batch taken by ``next(iter(loader))`` counts as consumed); once it is done, the
    loader moves to the next epoch. ``state_dict()`` says where it stands in a few integers,
    and ``load_state_dict()`` resumes exactly there, also on another number of ranks.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        seq_len: int,
        batch_size: int,
        *,
        algorithm: Algorithm = "obfd",
        long_docs: LongDocs = "split",
        max_docs_per_pack: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = True,
        masks: Sequence[str] = ("cu_seqlens",),
        prefetch: int = 4,
        pad_id: int = 0,
        verify: bool = True,
        patch_size: int | None = None,
        patch_align: PatchAlign = "document",
    ) -> None:
        if not _is_int(batch_size) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not _is_int(prefetch) or prefetch < 1:
            raise InvalidInputError(f"prefetch must be a positive integer, got {prefetch!r}")
        if isinstance(masks, str):
            masks = (masks,)
        unknown = sorted(set(masks) - set(MASKS))
        if unknown:
            raise InvalidInputError(
                f"masks {unknown} are unknown; expected a subset of {', '.join(MASKS)}"
            )
        if not _is_int(pad_id) or pad_id < 0:
            raise InvalidInputError(f"pad_id must be a token id, got {pad_id!r}")
        if patch_align not in ("document", "none"):
            raise InvalidInputError(
                f"patch_align must be 'document' or 'none', got {patch_align!r}"
            )
        if patch_size is not None and (not _is_int(patch_size) or patch_size < 1):
            raise InvalidInputError(f"patch_size must be a positive integer, got {patch_size!r}")
        if patch_size is not None and _is_int(seq_len) and seq_len % patch_size:
            raise InvalidInputError(
                f"seq_len = {seq_len} is not a multiple of the patch size {patch_size}"
            )
        aligned = patch_size is not None and patch_align == "document"
        self.options = PlanOptions(
            seq_len,
            algorithm=algorithm,
            long_docs=long_docs,
            max_docs_per_pack=max_docs_per_pack,
            shuffle=shuffle,
            seed=seed,
            align=patch_size if aligned and patch_size is not None else 1,
        )
        self.patch_size = patch_size
        self.patch_align = patch_align
        self.rank, self.world_size = _ranks(rank, world_size)
        self.dataset = Dataset(data_dir, verify=verify)
        self.planner = EpochPlanner(self.dataset, self.options)
        self._data_dir = data_dir
        self.seq_len = int(seq_len)
        self.batch_size = int(batch_size)
        self.drop_last = drop_last
        self.masks = tuple(masks)
        self.prefetch = int(prefetch)
        self.pad_id = int(pad_id)
        self.epoch = 0
        # Rows of the current epoch's plan that all ranks together have been handed.
        self.consumed = 0
        # Which iteration is the live one (an older iterator must not move the state).
        self._generation = 0
        # Plan the first epoch now, so that bad data or options fail here, not at first use.
        rows = self.planner.plan(0).num_packs
        if drop_last and self._steps(rows, 0) == 0:
            raise InvalidInputError(
                f"{self.dataset.path}: {rows} rows of {seq_len} tokens do not fill one step of "
                f"world_size × batch_size = {self.rows_per_step} rows, and drop_last=True would "
                "leave every row out; use drop_last=False or fewer rows per step"
            )

    def __getstate__(self) -> dict[str, Any]:
        # The memory maps do not travel: a DataLoader worker started by spawn or forkserver
        # maps the (already verified) shards again.
        state = self.__dict__.copy()
        del state["dataset"], state["planner"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.dataset = Dataset(self._data_dir, verify=False)
        self.planner = EpochPlanner(self.dataset, self.options)

    @property
    def rows_per_step(self) -> int:
        return self.world_size * self.batch_size

    def _steps(self, num_packs: int, consumed: int) -> int:
        left = max(num_packs - consumed, 0)
        return left // self.rows_per_step if self.drop_last else -(-left // self.rows_per_step)

    def __len__(self) -> int:
        """Batches per epoch for this rank (of the current epoch, from its start)."""
        return self._steps(self.planner.plan(self.epoch).num_packs, 0)

    def set_epoch(self, epoch: int) -> None:
        """Moves to the start of ``epoch``."""
        if not _is_int(epoch) or epoch < 0:
            raise InvalidInputError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch, self.consumed = int(epoch), 0

    def stats(self) -> dict[str, Any]:
        """The current epoch's plan: rows, tokens, efficiency, rows left out by drop_last."""
        plan = self.planner.plan(self.epoch)
        steps = self._steps(plan.num_packs, 0)
        used = min(steps * self.rows_per_step, plan.num_packs)
        return {
            "epoch": self.epoch,
            "rows": plan.num_packs,
            "steps": steps,
            "rows_left_out": plan.num_packs - used,
            "real_tokens": plan.placed_tokens,
            "truncated_tokens": plan.truncated_tokens,
            "efficiency": plan.placed_tokens / max(plan.num_packs * self.seq_len, 1),
            "alignment_padding_tokens": plan.alignment_padding,
        }

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: after ``load_state_dict`` of this, it yields exactly the
        batches an uninterrupted run would have yielded next. The same on every rank."""
        self._skip_finished_epoch()
        return {
            "version": STATE_VERSION,
            "dataset": self.dataset.fingerprint,
            "options": {**self.options.__dict__},
            "epoch": self.epoch,
            "consumed_rows": self.consumed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resumes at ``state`` (from :meth:`state_dict`, possibly of a run on another number
        of ranks or another batch size: the remaining rows are split anew, none lost or
        repeated)."""
        if state.get("version") != STATE_VERSION:
            raise InvalidInputError(f"not a PackedLoader state (version {state.get('version')})")
        if state["dataset"] != self.dataset.fingerprint:
            raise InvalidInputError(
                f"the state is of another dataset ({state['dataset']}, this one is "
                f"{self.dataset.fingerprint})"
            )
        if state["options"] != {**self.options.__dict__}:
            raise InvalidInputError(
                f"the state was made with other packing options ({state['options']}); "
                f"these are {self.options.__dict__}"
            )
        epoch, consumed = state.get("epoch"), state.get("consumed_rows")
        if not isinstance(epoch, int) or not isinstance(consumed, int) or min(epoch, consumed) < 0:
            raise InvalidInputError(
                f"epoch and consumed_rows must be non-negative integers, got {epoch!r} and "
                f"{consumed!r}"
            )
        self.epoch, self.consumed = epoch, consumed

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._generation += 1
        generation = self._generation
        self._skip_finished_epoch()
        epoch, start = self.epoch, self.consumed
        plan = self.planner.plan(epoch)
        steps = self._steps(plan.num_packs, start)
        worker, workers = _worker()
        step = self.rows_per_step
        num_batches = max(steps - worker + workers - 1, 0) // workers
        stream = _core.BatchStream(
            self.planner.store,
            plan,
            first=start + worker * step + self.rank * self.batch_size,
            stride=step * workers,
            batch_size=self.batch_size,
            num_batches=num_batches,
            seq_len=self.seq_len,
            pad_id=self.pad_id,
            prefetch=self.prefetch,
        )
        for yielded, arrays in enumerate(stream, start=1):
            if self._generation != generation:
                raise RuntimeError(
                    "this PackedLoader iterator is stale: another iteration of the loader has "
                    "started since (iter(loader) continues from the loader's state, it does "
                    "not copy it)"
                )
            # Counted before the batch is handed over: a state saved while the consumer holds
            # it says it has been consumed.
            self.consumed = start + yielded * step * workers
            yield self._batch(arrays)
        if self._generation == generation:  # this process's share of the epoch is done
            self.epoch, self.consumed = epoch + 1, 0

    def _skip_finished_epoch(self) -> None:
        """A state saved at the last batch of an epoch means the next epoch."""
        if (
            self.consumed > 0
            and self._steps(self.planner.plan(self.epoch).num_packs, self.consumed) == 0
        ):
            self.epoch, self.consumed = self.epoch + 1, 0

    def _batch(self, arrays: tuple[Any, ...]) -> dict[str, Any]:
        input_ids, labels, position_ids, document_ids, cu_seqlens, max_seqlen, _ = arrays
        batch: dict[str, Any] = {
            "input_ids": torch.from_numpy(input_ids),
            "labels": torch.from_numpy(labels),
            "position_ids": torch.from_numpy(position_ids),
            "document_ids": torch.from_numpy(document_ids),
        }
        segments = torch.from_numpy(cu_seqlens)
        if self.patch_size is not None:
            batch |= patch_batch(batch, segments, self.patch_size, self.patch_align)
        # In patch mode the masks are those of the patches, which the model attends over.
        documents = batch.get("patch_document_ids", batch["document_ids"])
        if "cu_seqlens" in self.masks:
            batch["cu_seqlens"] = segments
            batch["max_seqlen"] = int(max_seqlen)
        if "sdpa" in self.masks:
            batch["attention_mask"] = dense_mask(documents)
        if "flex" in self.masks:
            batch["block_mask"] = block_mask(documents)
        return batch


def _ranks(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None and world_size is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1
    if rank is None or world_size is None:
        raise InvalidInputError("give both rank and world_size, or neither")
    if not _is_int(world_size) or world_size < 1:
        raise InvalidInputError(f"world_size must be a positive integer, got {world_size!r}")
    if not _is_int(rank) or not 0 <= rank < world_size:
        raise InvalidInputError(f"rank must be in 0..{world_size - 1}, got {rank!r}")
    return int(rank), int(world_size)


def _worker() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)

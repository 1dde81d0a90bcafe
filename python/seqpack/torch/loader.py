"""``PackedLoader``: packed batches straight from a dataset directory, every document
isolated, the order of each epoch a pure function of (dataset, seed, epoch, options)."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import torch

from seqpack import _core
from seqpack.dataset import Dataset, default_long_docs
from seqpack.errors import InvalidInputError
from seqpack.mixture import Mixture
from seqpack.packing import Algorithm, LongDocs, _is_int
from seqpack.plan import epoch_planner
from seqpack.torch.batch import Batch, check_masks, make_batch, make_shard_batch
from seqpack.torch.patch import PatchAlign
from seqpack.torch.ranks import cp_ranks, ranks, worker

__all__ = ["Balance", "CpLayout", "PackedLoader"]

_STALE = (
    "this PackedLoader iterator is stale: another iteration of the loader has started since "
    "(iter(loader) continues from the loader's state, it does not copy it)"
)

#: How a step's rows go to ranks: in turn, or dealt by attention cost.
Balance = Literal["none", "attention"]
#: How a row is cut over a context-parallel group (see :class:`PackedLoader`).
CpLayout = Literal["per-document", "row"]


class PackedLoader(torch.utils.data.IterableDataset[Batch]):
    """Iterates over batches of ``batch_size`` rows of ``seq_len`` tokens packed from the
    dataset at ``data_dir`` (made by ``seqpack preprocess``, or pre-packed by
    ``seqpack pack DIR --out``), or, given a :class:`seqpack.Mixture` or a mapping of dataset
    paths to weights, from several datasets in token-exact shares (a
    :class:`seqpack.torch.mixture.MixtureLoader`).

    Each batch is a dict of tensors: ``input_ids``, ``labels`` (-100 on each document's
    first token, on padding, and, in a dataset with loss masks, on every token not trained
    on), ``position_ids`` (restarting per document),
    ``document_ids`` (int32, per row, -1 on padding) and, as ``masks`` asks,
    ``cu_seqlens``/``max_seqlen`` (``"cu_seqlens"``), a dense boolean ``attention_mask``
    ``[B, 1, L, L]`` (``"sdpa"``) and a FlexAttention ``block_mask`` (``"flex"``).

    Every epoch packs the whole dataset again (``algorithm``, ``long_docs``,
    ``max_docs_per_pack`` as for :func:`seqpack.pack`): other rows, in another order, for
    each (seed, epoch), the same ones for the same. ``long_docs`` defaults to ``"split"``,
    and to ``"truncate"`` for a dataset with loss masks (conversations, prompt/completion
    records): a fragment split off a conversation would train on an answer without its
    prompt, while truncation keeps the start, so what is trained always follows its
    context; ``stats()`` counts the documents and tokens truncated. Rows go to ranks in
    turn, so every rank gets the same number of batches and each row goes to one rank. With
    ``drop_last`` the rows that do not fill a last step on every rank are left out of the
    epoch (other rows each epoch when shuffling; the same ones with ``shuffle=False``);
    without it the last step is filled with rows of padding only.

    Batches are assembled by a Rust thread up to ``prefetch`` ahead, from memory-mapped
    shards: no worker processes are needed (inside a ``torch.utils.data.DataLoader`` with
    ``batch_size=None``, workers each take every n-th batch, so the order is unchanged; as
    the workers hold copies of the loader, call ``set_epoch(e)`` before each epoch there,
    unless the workers are persistent). Iterating runs the current epoch from where it
    stands (a batch taken by ``next(iter(loader))`` counts as consumed); once it is done, the
    loader moves to the next epoch. ``state_dict()`` says where it stands in a few integers,
    and ``load_state_dict()`` resumes exactly there, also on another number of ranks.

    ``balance="attention"`` deals each step's ``world_size × batch_size`` rows to ranks by
    cost, ``balance_cost = (a, b)`` with ``cost(row) = a·Σ l² + b·L`` over the row's
    documents (default ``(1, 49152)``: one layer of hidden size 4096), so the most loaded
    rank is as close to the mean as a partition into equal-sized groups gets; with
    ``micro_batches=m`` each rank's batch is ``m`` balanced micro-batches of
    ``batch_size / m`` rows, one after the other. The rows of a step, the state and resuming
    are those of round-robin. ``spread_cost=True`` puts each epoch's rows in an order that
    spreads the costliest (by attention work Σ l²) evenly over the epoch, so that no step
    draws several of them and a step's deal gets close to the mean also at 128k tokens: the
    same rows, no more padding, an order independent of the number of ranks (recorded in the
    state), but less random than a plain shuffle (every run of rows holds rows of every
    cost).

    ``cp_size=C, cp_rank=r`` (``rank``/``world_size`` then count data-parallel ranks, and
    the ranks of one context-parallel group get the same rows) yields rank ``r``'s shard of
    each row: ``seq_len / C`` positions, chunks ``r`` and ``2C − 1 − r`` of every document
    (``cp_layout="per-document"``, documents padded to a multiple of ``2C``, counted in
    ``stats()``) or of the whole row (``"row"``). A shard batch holds ``input_ids``,
    ``labels`` (already shifted: the target of each position, -100 where the next position
    is another document's or padding; do not shift them again), ``position_ids`` (within
    each document, as in the full row), ``document_ids``, ``gather_indices`` (each
    position's place in its full row), and over the full rows ``cu_seqlens`` (real tokens
    per segment, as THD kernels count them), ``cu_seqlens_padded`` and ``max_seqlen``.
    ``cp_mesh`` gives ``cp_size``/``cp_rank`` from a one-dimensional ``DeviceMesh`` (the
    context-parallel dimension, ``mesh["cp"]``) or a ``torch.distributed`` process group;
    ``rank``/``world_size`` still count data-parallel ranks (give them, or the global rank
    and world size of ``torch.distributed`` are taken).
    ``masks`` may add ``"seq_idx"`` (int32 ``[B, L]``, the document index of each position,
    end padding a segment of its own) in either mode.

    ``batch_tokens=N`` instead of ``batch_size`` (for varlen kernels: flash-attn's
    ``flash_attn_varlen_func``, torch's ``varlen_attn``) gives each rank per step ONE
    flattened batch of at most ``N`` real tokens: the documents of whole rows one after the
    other, no padding, every tensor of shape ``[1, T]`` (``T ≤ N``; HF's padding-free layout,
    ``input_ids[0]`` is the ``[T]`` sequence a varlen kernel takes), ``document_ids``
    counting the batch's documents, ``cu_seqlens`` (int32, at every document boundary) and
    ``max_seqlen``. Every rank plans the same steps from the epoch's plan (next-fit of rows
    over the ranks; with ``balance="attention"`` the step's rows are dealt by cost under the
    budget), so all ranks take the same number of steps. ``N`` must be at least ``seq_len``
    (a row may be that long); rows of ``seq_len`` only bound how long a document segment
    gets. ``drop_last`` leaves out a last step on which some rank would get no row; without
    it that rank gets a batch of no tokens. The state and resuming are as with
    ``batch_size`` (rows handed out). Not with ``micro_batches``, ``cp_size`` or
    ``patch_size``.
    """

    def __new__(cls, data_dir: Any = None, *args: Any, **kwargs: Any) -> PackedLoader:
        # A mixture (a ``Mixture`` or a mapping of paths to weights) makes a MixtureLoader.
        if cls is PackedLoader and isinstance(data_dir, (Mixture, Mapping)):
            from seqpack.torch.mixture import MixtureLoader

            return super().__new__(MixtureLoader)
        return super().__new__(cls)

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | Mixture | Mapping[str | os.PathLike[str], float],
        seq_len: int,
        batch_size: int | None = None,
        *,
        batch_tokens: int | None = None,
        algorithm: Algorithm = "obfd",
        long_docs: LongDocs | None = None,
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
        balance: Balance = "none",
        balance_cost: tuple[float, float] | None = None,
        micro_batches: int | None = None,
        spread_cost: bool = False,
        cp_size: int | None = None,
        cp_rank: int = 0,
        cp_layout: CpLayout = "per-document",
        cp_mesh: Any = None,
    ) -> None:
        self.masks = check_masks(masks)
        if cp_mesh is not None:
            if cp_size is not None:
                raise InvalidInputError("give cp_size and cp_rank, or cp_mesh, not both")
            cp_size, cp_rank = cp_ranks(cp_mesh)
        self._cp_options = (cp_size, cp_rank, cp_layout, seq_len, self.masks, patch_size)
        self.cp = _context_parallel(*self._cp_options)
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
        self.patch_size = patch_size
        self.patch_align = patch_align
        self.rank, self.world_size = ranks(rank, world_size)
        # What the core's objects are made from; they are made again after unpickling.
        self._split_options: dict[str, Any] = {
            "world_size": self.world_size,
            "rank": self.rank,
            "drop_last": drop_last,
            "pad_id": pad_id,
            "prefetch": prefetch,
            "balance": balance,
            "balance_cost": balance_cost,
        }
        if batch_tokens is None:
            if batch_size is None:
                raise InvalidInputError("give batch_size (rows per rank) or batch_tokens")
            self._split_options |= {"batch_size": batch_size, "micro_batches": micro_batches}
        else:
            _check_token_budget(batch_size, micro_batches, cp_size, patch_size)
            self._split_options |= {"batch_tokens": batch_tokens, "seq_len": seq_len}
        aligned = patch_size is not None and patch_align == "document"
        self._plan_options: dict[str, Any] = {
            "algorithm": algorithm,
            "long_docs": long_docs,
            "max_docs_per_pack": max_docs_per_pack,
            "shuffle": shuffle,
            "seed": seed,
            "spread_cost": bool(spread_cost),
            "align": math.lcm(
                patch_size if aligned and patch_size is not None else 1,
                1 if self.cp is None else self.cp.document_align,
            ),
        }
        self._data_dir = data_dir
        self.seq_len = int(seq_len)
        self._open(verify)
        self.split = _split(self._split_options)
        self.batch_size = self.split.batch_size if isinstance(self.split, _core.StepSplit) else None
        self.batch_tokens = batch_tokens
        self.drop_last = drop_last
        # Which iteration is the live one (an older iterator must not move the state).
        self._generation = 0
        self._begin()

    def _open(self, verify: bool) -> None:
        """Opens the data (again after unpickling): the dataset and its planner."""
        if isinstance(self._data_dir, (Mixture, Mapping)):
            raise TypeError("a mixture is loaded by MixtureLoader (PackedLoader makes one)")
        self.dataset = Dataset(self._data_dir, verify=verify)
        if self._plan_options["long_docs"] is None:
            self._plan_options["long_docs"] = default_long_docs(self.dataset)
        self.planner = epoch_planner(self.dataset, self.seq_len, **self._plan_options)

    def _begin(self) -> None:
        """Stands at the start of the run; plans the first epoch now, so that bad data or
        options fail here, not at first use."""
        self.epoch = 0
        # Rows of the current epoch's plan that all ranks together have been handed.
        self.consumed = 0
        rows = self.planner.plan(0).num_packs
        if self.drop_last and self._steps(0, 0) == 0:
            step = (
                f"world_size × batch_size = {self.rows_per_step} rows"
                if isinstance(self.split, _core.StepSplit)
                else f"world_size = {self.world_size} batches of batch_tokens = {self.batch_tokens}"
            )
            raise InvalidInputError(
                f"{self.dataset.path}: {rows} rows of {self.seq_len} tokens do not fill one "
                f"step of {step}, and drop_last=True would leave every row out; use "
                "drop_last=False or less per step"
            )

    def __getstate__(self) -> dict[str, Any]:
        # Neither the memory maps nor the core's objects travel: a DataLoader worker started
        # by spawn or forkserver maps the (already verified) shards again.
        state = self.__dict__.copy()
        del state["dataset"], state["planner"], state["split"], state["cp"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.split = _split(self._split_options)
        self.cp = _context_parallel(*self._cp_options)
        self._open(verify=False)

    @property
    def rows_per_step(self) -> int:
        """Rows of one step over all ranks (with ``batch_tokens``, a step's rows vary: an
        error)."""
        if not isinstance(self.split, _core.StepSplit):
            raise TypeError("with batch_tokens, the rows of a step vary")
        return self.split.rows_per_step

    def _rows(self, epoch: int) -> int:
        return self.planner.plan(epoch).num_packs

    def _steps(self, epoch: int, consumed: int) -> int:
        """Steps of ``epoch`` left after ``consumed`` of its rows."""
        plan = self.planner.plan(epoch)
        if isinstance(self.split, _core.StepSplit):
            return self.split.steps(plan.num_packs, consumed)
        return self.split.steps(plan, consumed)

    def __len__(self) -> int:
        """Batches per epoch for this rank (of the current epoch, from its start)."""
        return self._steps(self.epoch, 0)

    def set_epoch(self, epoch: int) -> None:
        """Moves to the start of ``epoch``."""
        if not _is_int(epoch) or epoch < 0:
            raise InvalidInputError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch, self.consumed = int(epoch), 0

    def stats(self) -> dict[str, Any]:
        """The current epoch's plan: rows, tokens, efficiency, rows left out by drop_last."""
        plan = self.planner.plan(self.epoch)
        truncating = self._plan_options["long_docs"] == "truncate"
        return {
            "epoch": self.epoch,
            "long_docs": self._plan_options["long_docs"],
            "truncated_documents": (
                int((self.dataset.lengths > self.seq_len).sum()) if truncating else 0
            ),
            "rows": plan.num_packs,
            "steps": self._steps(self.epoch, 0),
            "rows_left_out": (
                self.split.rows_left_out(plan.num_packs)
                if isinstance(self.split, _core.StepSplit)
                else self.split.rows_left_out(plan)
            ),
            "real_tokens": plan.placed_tokens,
            "truncated_tokens": plan.truncated_tokens,
            "efficiency": plan.placed_tokens / max(plan.num_packs * self.seq_len, 1),
            "alignment_padding_tokens": plan.alignment_padding,
        }

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands, in the core's loader-state layout: after
        ``load_state_dict`` of this, it yields exactly the batches an uninterrupted run
        would have yielded next. The same on every rank."""
        self._skip_finished_epoch()
        return _core.loader_state(
            "packed", self.planner.fingerprint, self.planner.options(), self.epoch, self.consumed
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resumes at ``state`` (from :meth:`state_dict`, possibly of a run on another number
        of ranks or another batch size: the remaining rows are split anew, none lost or
        repeated; or a state of an older seqpack). A state of another dataset or options,
        or whose position is not in its epoch, raises ``InvalidInputError`` naming the key."""
        self.epoch, self.consumed = _core.resume_loader_state(
            state, "packed", self.planner.fingerprint, self.planner.options(), self._rows
        )

    def __iter__(self) -> Iterator[Batch]:
        generation = self._generation = self._generation + 1
        self._skip_finished_epoch()
        epoch, start = self.epoch, self.consumed
        plan = self.planner.plan(epoch)
        worker_id, workers = worker()
        store = self.planner.store
        if not isinstance(self.split, _core.StepSplit):
            flat = self.split.stream(store, plan, start, worker_id, workers)
            yield from self._hand_out(
                ((self._make_batch(arrays), position) for arrays, position in flat), generation
            )
        else:
            rows = (
                self.split.stream(store, plan, start, worker_id, workers)
                if self.cp is None
                else self.split.shard_stream(store, plan, start, worker_id, workers, self.cp)
            )
            batches = (self._make_batch(arrays) for arrays in rows)
            step = self.rows_per_step * workers
            positions = itertools.count(start + step, step)
            # The positions never end: the batches do.
            yield from self._hand_out(zip(batches, positions, strict=False), generation)
        if self._generation == generation:  # this process's share of the epoch is done
            self.epoch, self.consumed = epoch + 1, 0

    def _make_batch(self, arrays: tuple[Any, ...]) -> Batch:
        """The batch of a stream's arrays: a context-parallel shard's, or rows' with
        patches if the loader makes them (neither with ``batch_tokens``)."""
        if self.cp is not None:
            return make_shard_batch(arrays, self.masks)
        return make_batch(arrays, self.masks, self.patch_size, self.patch_align)

    def _hand_out(self, batches: Iterable[tuple[Batch, Any]], generation: int) -> Iterator[Batch]:
        """Hands out ``batches``, each with where the loader stands once it is handed out:
        the position moves before the batch is handed over, so a state saved while the
        consumer holds it says it has been consumed. An iterator whose iteration is no
        longer the live one raises."""
        for batch, position in batches:
            if self._generation != generation:
                raise RuntimeError(_STALE)
            self._move_to(position)
            yield batch

    def _move_to(self, position: Any) -> None:
        """Stands at ``position`` of the current epoch (rows of its plan handed out)."""
        self.consumed = position

    def _skip_finished_epoch(self) -> None:
        """A state saved at the last batch of an epoch means the next epoch."""
        if self.consumed > 0 and self._steps(self.epoch, self.consumed) == 0:
            self.epoch, self.consumed = self.epoch + 1, 0


def _split(options: dict[str, Any]) -> _core.StepSplit | _core.TokenBudget:
    """The core's split of an epoch's rows: ``batch_size`` rows or ``batch_tokens`` tokens
    per rank and step."""
    if "batch_tokens" in options:
        return _core.TokenBudget(**options)
    return _core.StepSplit(**options)


def _check_token_budget(
    batch_size: int | None,
    micro_batches: int | None,
    cp_size: int | None,
    patch_size: int | None,
) -> None:
    """Refuses what does not go with ``batch_tokens``: a flattened batch is one sequence of
    whole documents."""
    clashes = {
        "batch_size": batch_size,
        "micro_batches": micro_batches,
        "cp_size": cp_size,
        "patch_size": patch_size,
    }
    given = [name for name, value in clashes.items() if value is not None]
    if given:
        raise InvalidInputError(
            f"batch_tokens cannot be combined with {', '.join(given)}: a token-budget batch is "
            "one flattened sequence per rank and step"
        )


def _context_parallel(
    cp_size: int | None,
    cp_rank: int,
    cp_layout: str,
    seq_len: int,
    masks: tuple[str, ...],
    patch_size: int | None,
) -> _core.ContextParallel | None:
    """The context-parallel rank the loader shards rows for, ``None`` without one; refuses
    what a shard cannot carry."""
    if cp_size is None:
        return None
    for name, value in (("cp_size", cp_size), ("cp_rank", cp_rank)):
        if not _is_int(value) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
    cp = _core.ContextParallel(cp_size, cp_rank, cp_layout)
    if _is_int(seq_len):
        cp.check_seq_len(seq_len)
    dense = sorted(set(masks) & {"sdpa", "flex"})
    if dense:
        raise InvalidInputError(
            f"masks {dense} cover whole rows; a context-parallel shard has cu_seqlens, "
            "cu_seqlens_padded and gather_indices instead"
        )
    if patch_size is not None:
        raise InvalidInputError("patch_size and cp_size cannot be combined")
    return cp

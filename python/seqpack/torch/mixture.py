"""``MixtureLoader``: what ``PackedLoader`` becomes when given a mixture instead of one
dataset directory. A thin shell over the core's ``Mixture``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from seqpack import _core
from seqpack.errors import InvalidInputError
from seqpack.mixture import Mixture, mixture_planner
from seqpack.packing import Algorithm, LongDocs
from seqpack.torch.batch import Batch, check_masks, make_batch
from seqpack.torch.loader import Balance, CpLayout, PackedLoader
from seqpack.torch.patch import PatchAlign
from seqpack.torch.ranks import ranks, worker

__all__ = ["MixtureLoader"]


class MixtureLoader(PackedLoader):
    """Batches of rows from several datasets in scheduled, token-exact shares (see
    :class:`seqpack.Mixture`); made by ``PackedLoader(mixture, …)`` with a
    :class:`~seqpack.Mixture` or a mapping of dataset paths to weights.

    A row comes from one source; batches add ``source_ids`` [B] (int64, the index of each
    row's source in the mixture, -1 for a row of padding only). The mixture is one run, not
    epochs: iterating continues from where the loader stands until the mixture ends (every
    source that has a weight has given its ``max_epochs``, or, with ``on_exhausted="stop"``,
    one has), which never happens when a source has no ``max_epochs``: take the steps you
    need. Ranks and DataLoader workers share steps as ``PackedLoader`` does; the order is a
    pure function of the sources' fingerprints, the options and the seed, and
    ``state_dict()``/``load_state_dict()`` resume exactly, also on another number of ranks
    or another batch size (the row order does not depend on them; only a schedule by steps
    does)."""

    def __init__(
        self,
        data_dir: Mixture | Mapping[str | os.PathLike[str], float],
        seq_len: int,
        batch_size: int,
        *,
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
        cp_size: int | None = None,
        cp_rank: int = 0,
        cp_layout: CpLayout = "per-document",
    ) -> None:
        unsupported = {
            "patch_size": patch_size is not None,
            "balance": balance != "none" or balance_cost is not None or micro_batches is not None,
            "cp_size": cp_size is not None,
        }
        for option, given in unsupported.items():
            if given:
                raise InvalidInputError(f"{option} is not supported with a mixture yet")
        self.masks = check_masks(masks)
        self.patch_size = None
        self.patch_align = patch_align
        self.mixture = data_dir if isinstance(data_dir, Mixture) else Mixture(data_dir)
        self.rank, self.world_size = ranks(rank, world_size)
        self._split_options: dict[str, Any] = {
            "batch_size": batch_size,
            "world_size": self.world_size,
            "rank": self.rank,
            "drop_last": drop_last,
            "pad_id": pad_id,
            "prefetch": prefetch,
        }
        self._plan_options: dict[str, Any] = {
            "algorithm": algorithm,
            "long_docs": long_docs,
            "max_docs_per_pack": max_docs_per_pack,
            "shuffle": shuffle,
            "seed": seed,
        }
        # The core's step split checks the options (batch size, ranks, pad id, prefetch).
        self.split = _core.StepSplit(**self._split_options)
        self.core_mixture = mixture_planner(
            self.mixture, seq_len, verify=verify, **self._plan_options
        )
        self.seq_len = int(seq_len)
        self.batch_size = self.split.batch_size
        self.drop_last = drop_last
        self._state: dict[str, Any] = self.core_mixture.start()
        self._generation = 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["core_mixture"], state["split"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.split = _core.StepSplit(**self._split_options)
        self.core_mixture = mixture_planner(
            self.mixture, self.seq_len, verify=False, **self._plan_options
        )

    def __len__(self) -> int:
        raise TypeError("a mixture loader has no length: it runs until the mixture ends")

    def set_epoch(self, epoch: int) -> None:
        """A mixture has no epochs (its sources have theirs): resume with
        ``load_state_dict``."""
        raise InvalidInputError("a mixture has no epochs; save and load its state_dict() to resume")

    @property
    def step(self) -> int:
        """Steps handed out over all ranks."""
        return int(self._state["step"])

    def stats(self) -> dict[str, Any]:
        """Where the run stands: per source its real tokens, rows, epoch, padding tokens
        (in its rows), weight now, realised share of the real tokens, and how far it is
        from its target (in tokens and rows; the deficit rule keeps it above −1 row and
        below one row per other source)."""
        report = self.core_mixture.report(self._state)
        total = sum(s["real_tokens"] for s in report["sources"])
        for source in report["sources"]:
            source["padding_tokens"] = source["rows"] * self.seq_len - source["real_tokens"]
            source["share"] = source["real_tokens"] / total if total else 0.0
            source["deviation_tokens"] = -source["deficit_tokens"]
            source["deviation_rows"] = -source["deficit_tokens"] / self.seq_len
        report["real_tokens"] = total
        report["max_deviation_rows"] = max(
            (abs(s["deviation_rows"]) for s in report["sources"]), default=0.0
        )
        return dict(report)

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: the step and a few numbers per source, with a digest
        of the mixture. The same on every rank."""
        return dict(self._state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resumes at ``state`` (from :meth:`state_dict`, possibly of a run on another
        number of ranks); a state of another mixture or loader raises
        ``InvalidInputError`` naming the key."""
        self._state = self.core_mixture.check_state(dict(state))

    def __iter__(self) -> Iterator[Batch]:
        self._generation += 1
        generation = self._generation
        worker_id, workers = worker()
        stream = self.core_mixture.stream(
            self._state, **self._split_options, worker=worker_id, workers=workers
        )
        for arrays, source_ids, state in stream:
            if self._generation != generation:
                raise RuntimeError(
                    "this MixtureLoader iterator is stale: another iteration of the loader "
                    "has started since"
                )
            # Counted before the batch is handed over, as in PackedLoader.
            self._state = state
            batch = make_batch(arrays, self.masks)
            batch["source_ids"] = torch.from_numpy(source_ids)
            yield batch

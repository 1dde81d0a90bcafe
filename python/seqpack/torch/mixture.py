"""``MixtureLoader``: what ``PackedLoader`` becomes when given a mixture instead of one
dataset directory. The same loader over the core's ``Mixture``: the options, the batches
and the per-batch shell are ``PackedLoader``'s; only where the run stands differs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from seqpack.errors import InvalidInputError
from seqpack.mixture import Mixture, mixture_planner
from seqpack.torch.batch import Batch
from seqpack.torch.loader import PackedLoader
from seqpack.torch.ranks import worker

__all__ = ["MixtureLoader"]


class MixtureLoader(PackedLoader):
    """Batches of rows from several datasets in scheduled, token-exact shares (see
    :class:`seqpack.Mixture`); made by ``PackedLoader(mixture, …)`` with a
    :class:`~seqpack.Mixture` or a mapping of dataset paths to weights, and taking every
    option of ``PackedLoader``: ``batch_tokens``, rank balancing (``balance``,
    ``balance_cost``, ``micro_batches``: a step's rows, whatever their sources, dealt by
    cost), ``patch_size`` and context parallelism (``cp_size``, ``cp_mesh``) included.

    A row comes from one source; batches add ``source_ids`` (int64): with ``batch_size``,
    ``[B]``, the index of each row's source in the mixture (-1 for a row of padding only);
    with ``batch_tokens``, ``[D]``, the source of each document of the flattened batch (the
    segments of its ``cu_seqlens``). The mixture is one run, not epochs: iterating
    continues from where the loader stands until the mixture ends (every source that has a
    weight has given its ``max_epochs``, or, with ``on_exhausted="stop"``, one has), which
    never happens when a source has no ``max_epochs``: take the steps you need. Ranks and
    DataLoader workers share steps as ``PackedLoader`` does; the order is a pure function of
    the sources' fingerprints, the options and the seed, and
    ``state_dict()``/``load_state_dict()`` resume exactly, also on another number of ranks
    or another batch size (the row order does not depend on them; only a schedule by steps
    does). With ``batch_tokens``, a step is the rows in the deficit rule's order that
    next-fit puts on the ranks, each rank's batch at most ``batch_tokens`` tokens."""

    def _open(self, verify: bool) -> None:
        """Plans the mixture (again after unpickling)."""
        data = self._data_dir
        if not isinstance(data, (Mixture, Mapping)):
            raise InvalidInputError(
                f"a mixture is a Mixture or a mapping of dataset paths to weights, not {data!r}"
            )
        self.mixture = data if isinstance(data, Mixture) else Mixture(data)
        self.core_mixture = mixture_planner(
            self.mixture, self.seq_len, self._plan_options, verify=verify
        )

    def _begin(self) -> None:
        self._cursor = self.core_mixture.start()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["core_mixture"], state["split"], state["cp"]
        state["_cursor"] = self.core_mixture.state(self._cursor)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_cursor")
        super().__setstate__(state)
        self._cursor = self.core_mixture.read_state(saved)

    def __len__(self) -> int:
        raise TypeError("a mixture loader has no length: it runs until the mixture ends")

    def set_epoch(self, epoch: int) -> None:
        """A mixture has no epochs (its sources have theirs): resume with
        ``load_state_dict``."""
        raise InvalidInputError("a mixture has no epochs; save and load its state_dict() to resume")

    @property
    def step(self) -> int:
        """Steps handed out over all ranks."""
        return self._cursor.step

    def stats(self) -> dict[str, Any]:
        """Where the run stands: per source its real tokens, rows, epoch, padding tokens
        (in its rows), weight now, realised share of the real tokens, and how far it is
        from its target (in tokens and rows; the deficit rule keeps it above −1 row and
        below one row per other source)."""
        report = self.core_mixture.report(self._cursor)
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
        return self.core_mixture.state(self._cursor)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resumes at ``state`` (from :meth:`state_dict`, possibly of a run on another
        number of ranks); a state of another mixture or loader raises
        ``InvalidInputError`` naming the key."""
        self._cursor = self.core_mixture.read_state(dict(state))

    def __iter__(self) -> Iterator[Batch]:
        generation = self._generation = self._generation + 1
        worker_id, workers = worker()
        stream = self.core_mixture.stream(self._cursor, self.split, worker_id, workers, self.cp)
        yield from self._hand_out(
            (
                (_with_sources(self._make_batch(arrays), ids), cursor)
                for arrays, ids, cursor in stream
            ),
            generation,
        )

    def _move_to(self, position: Any) -> None:
        self._cursor = position


def _with_sources(batch: Batch, source_ids: Any) -> Batch:
    batch["source_ids"] = torch.from_numpy(source_ids)
    return batch

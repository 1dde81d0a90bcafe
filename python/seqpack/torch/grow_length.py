"""GrowLength: the sequence length grows in stages during training at constant tokens per
step (see :class:`GrowLengthSchedule`)."""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from seqpack.errors import InvalidInputError
from seqpack.torch.loader import PackedLoader
from seqpack.torch.ranks import ranks

__all__ = ["GrowLengthSchedule", "Stage"]


@dataclass(frozen=True)
class Stage:
    """Stage ``index``: steps ``first_step .. first_step + steps - 1`` take ``batch_size``
    rows of ``seq_len`` tokens each."""

    index: int
    seq_len: int
    batch_size: int
    first_step: int
    steps: int


class GrowLengthSchedule:
    """Stages of (sequence length, token budget), e.g. ``[(128, 2**30), (512, 2**30),
    (4096, 2**31)]``, at ``tokens_per_step`` tokens per step: stage ``s`` runs
    ``budget // tokens_per_step`` steps of ``tokens_per_step // seq_len`` rows. Each stage's
    rows are packed at its own length (documents kept whole up to that length, never chunked
    across documents): :meth:`batches` re-packs the dataset with a :class:`PackedLoader` at
    each stage's length."""

    def __init__(self, stages: Sequence[tuple[int, int]], tokens_per_step: int) -> None:
        if not stages:
            raise InvalidInputError("GrowLengthSchedule needs at least one stage")
        if tokens_per_step < 1:
            raise InvalidInputError(f"tokens_per_step must be positive, got {tokens_per_step}")
        self.tokens_per_step = tokens_per_step
        self.stages: list[Stage] = []
        first = 0
        for index, (seq_len, budget) in enumerate(stages):
            if seq_len < 1 or tokens_per_step % seq_len:
                raise InvalidInputError(
                    f"stages[{index}]: sequence length {seq_len} must divide tokens_per_step "
                    f"{tokens_per_step}"
                )
            if budget < tokens_per_step:
                raise InvalidInputError(
                    f"stages[{index}]: token budget {budget} is less than one step "
                    f"({tokens_per_step} tokens)"
                )
            steps = budget // tokens_per_step
            self.stages.append(Stage(index, seq_len, tokens_per_step // seq_len, first, steps))
            first += steps
        self.total_steps = first
        self._starts = [s.first_step for s in self.stages]

    def __repr__(self) -> str:
        stages = ", ".join(f"{s.seq_len}×{s.batch_size} for {s.steps} steps" for s in self.stages)
        return f"GrowLengthSchedule({stages}; {self.tokens_per_step} tokens/step)"

    def stage_at(self, step: int) -> Stage:
        """The stage that step ``step`` (0-based) belongs to."""
        if not 0 <= step < self.total_steps:
            raise InvalidInputError(f"step {step} is outside 0..{self.total_steps}")
        return self.stages[bisect_right(self._starts, step) - 1]

    def loader(
        self,
        stage: Stage,
        data_dir: str | os.PathLike[str],
        *,
        rank: int | None = None,
        world_size: int | None = None,
        **options: Any,
    ) -> PackedLoader:
        """A :class:`PackedLoader` of ``stage``'s rows (``stage.batch_size`` per step over all
        ranks); ``options`` go to it (``seed``, ``algorithm``, ``masks``, …)."""
        rank, world_size = ranks(rank, world_size)
        if stage.batch_size % world_size:
            raise InvalidInputError(
                f"stages[{stage.index}]: {stage.batch_size} rows per step do not split over "
                f"world_size {world_size}"
            )
        return PackedLoader(
            data_dir,
            stage.seq_len,
            stage.batch_size // world_size,
            rank=rank,
            world_size=world_size,
            **options,
        )

    def batches(
        self,
        data_dir: str | os.PathLike[str],
        *,
        start_step: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        **options: Any,
    ) -> Iterator[tuple[Stage, dict[str, Any]]]:
        """``(stage, batch)`` for every step from ``start_step`` to the end of the schedule.
        Each stage packs the dataset at its own length and runs through as many epochs as
        its steps need; its step ``j`` is the ``j``-th batch of that loader, so resuming from
        a saved step count gives exactly the batches an uninterrupted run would have."""
        for stage in self.stages[self.stage_at(start_step).index :]:
            loader = self.loader(stage, data_dir, rank=rank, world_size=world_size, **options)
            skip = max(start_step - stage.first_step, 0)
            epoch = 0
            loader.set_epoch(epoch)
            if len(loader) == 0:
                raise InvalidInputError(
                    f"stages[{stage.index}]: {data_dir} does not fill one step of "
                    f"{stage.batch_size} rows of {stage.seq_len} tokens"
                )
            while skip >= len(loader):  # whole epochs already done
                skip -= len(loader)
                epoch += 1
                loader.set_epoch(epoch)
            state = loader.state_dict()
            state["consumed"] = skip * loader.rows_per_step
            loader.load_state_dict(state)
            left = stage.steps - max(start_step - stage.first_step, 0)
            while left:
                for batch in loader:
                    yield stage, batch
                    left -= 1
                    if not left:
                        break

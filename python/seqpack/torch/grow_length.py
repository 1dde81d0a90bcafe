"""GrowLength: the sequence length grows in stages during training at constant tokens per
step (see :class:`GrowLengthSchedule`)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from seqpack.errors import InvalidInputError

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
    across documents), so a loader re-packs when the stage changes."""

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

"""Variable-sequence-length curricula (Algorithm 1 of Pouransari et al., 2024): which bucket
each step of an epoch draws from.

Each bucket's steps are split evenly over ``cycles``. Within a cycle, a step draws one of the
buckets that still have steps left in that cycle, with probability proportional to the
bucket's odds times its share of the cycle's steps (its token share, since every step has the
same tokens); a bucket leaves the draw once its steps in the cycle are used. With odds that
favour short buckets (``grow-p2``) each cycle runs from short to long sequences.

The schedule is a pure function of its arguments, so every rank computes the same one without
communicating, and a loader can resume from a step index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from seqpack.errors import InvalidInputError

__all__ = ["CURRICULA", "curriculum_odds", "schedule"]

#: The paper's curricula, as odds from the smallest bucket to the largest.
CURRICULA = ("uniform", "grow-linear", "grow-p2")


def curriculum_odds(curriculum: str | Sequence[float], num_buckets: int) -> npt.NDArray[np.float64]:
    """The odds of each of ``num_buckets`` buckets, smallest first: ``uniform`` 1, 1, …;
    ``grow-linear`` n, n − 1, …, 1; ``grow-p2`` 2^(n−1), …, 2, 1; or custom positive odds."""
    if isinstance(curriculum, str):
        n = num_buckets
        if curriculum == "uniform":
            return np.ones(n)
        if curriculum == "grow-linear":
            return np.arange(n, 0, -1, dtype=np.float64)
        if curriculum == "grow-p2":
            return np.exp2(np.arange(n - 1, -1, -1, dtype=np.float64))
        raise InvalidInputError(
            f"curriculum {curriculum!r} is unknown; expected one of {', '.join(CURRICULA)} "
            "or a sequence of odds per bucket"
        )
    odds = np.asarray(curriculum, dtype=np.float64)
    if odds.shape != (num_buckets,):
        raise InvalidInputError(
            f"curriculum odds: {odds.size} values for {num_buckets} buckets (one per bucket, "
            "smallest first)"
        )
    bad = np.flatnonzero(~(odds > 0) | ~np.isfinite(odds))
    if bad.size:
        raise InvalidInputError(
            f"curriculum odds[{bad[0]}] = {odds[bad[0]]}: odds must be positive and finite"
        )
    return odds


def cycle_budgets(steps: npt.NDArray[np.int64], cycles: int) -> npt.NDArray[np.int64]:
    """Steps of each bucket (rows) in each cycle (columns): as even as possible, the earlier
    cycles taking one more where the steps do not divide."""
    base, extra = np.divmod(steps, cycles)
    return base[:, None] + (np.arange(cycles)[None, :] < extra[:, None])


def schedule(
    steps_per_bucket: Sequence[int] | npt.NDArray[np.int64],
    odds: Sequence[float] | npt.NDArray[np.float64],
    cycles: int,
    seed: Sequence[int],
) -> npt.NDArray[np.int64]:
    """The bucket (an index into ``steps_per_bucket``) of every step of an epoch: bucket ``i``
    appears exactly ``steps_per_bucket[i]`` times. ``seed`` is a sequence of non-negative
    integers (e.g. the loader's seed and the epoch) fed to numpy's ``SeedSequence``; the
    draws use the raw PCG64 stream, which numpy keeps stable across versions."""
    steps = np.asarray(steps_per_bucket, dtype=np.int64)
    weights = np.asarray(odds, dtype=np.float64)
    if steps.ndim != 1 or steps.shape != weights.shape:
        raise InvalidInputError("steps_per_bucket and odds need one value per bucket")
    if (steps < 0).any():
        raise InvalidInputError(f"steps_per_bucket must be non-negative, got {steps.tolist()}")
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise InvalidInputError(f"cycles must be a positive integer, got {cycles!r}")
    bits = np.random.PCG64(np.random.SeedSequence(list(seed)))
    out = np.empty(int(steps.sum()), dtype=np.int64)
    at = 0
    for budget in cycle_budgets(steps, cycles).T:
        total = int(budget.sum())
        # One uniform in [0, 1) per step, from the top 53 bits of each raw 64-bit draw.
        draws = (bits.random_raw(total) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        left = budget.astype(np.int64).tolist()
        weight = (weights * budget / max(total, 1)).tolist()
        buckets = range(len(left))
        for u in draws.tolist():
            live = [weight[i] if left[i] else 0.0 for i in buckets]
            target = u * sum(live)
            chosen = 0
            acc = live[0]
            while acc <= target and chosen + 1 < len(live):
                chosen += 1
                acc += live[chosen]
            while not left[chosen]:  # rounding at the top end: take the last live bucket
                chosen -= 1
            left[chosen] -= 1
            out[at] = chosen
            at += 1
    return out

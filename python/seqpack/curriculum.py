"""Variable-sequence-length curricula (Algorithm 1 of Pouransari et al., 2024): which bucket
each step of an epoch draws from. The schedule is the core's (``seqpack_core::sampler::
curriculum``): each bucket's steps are split evenly over ``cycles``; within a cycle a step
draws a bucket that still has steps left in it, with probability proportional to its odds
times its share of the cycle's steps. It is a pure function of its arguments, so every rank
computes the same one without communicating, and a loader can resume from a step index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from seqpack import _core

__all__ = ["CURRICULA", "curriculum_odds", "schedule"]

#: The paper's curricula, as odds from the smallest bucket to the largest.
CURRICULA: tuple[str, ...] = tuple(_core.CURRICULA)


def curriculum_odds(curriculum: str | Sequence[float], num_buckets: int) -> npt.NDArray[np.float64]:
    """The odds of each of ``num_buckets`` buckets, smallest first: ``uniform`` 1, 1, …;
    ``grow-linear`` n, n − 1, …, 1; ``grow-p2`` 2^(n−1), …, 2, 1; or custom positive odds."""
    if not isinstance(curriculum, str):
        curriculum = [float(x) for x in curriculum]
    return np.asarray(_core.curriculum_odds(curriculum, num_buckets), dtype=np.float64)


def schedule(
    steps_per_bucket: Sequence[int] | npt.NDArray[np.int64],
    odds: Sequence[float] | npt.NDArray[np.float64],
    cycles: int,
    seed: int,
) -> npt.NDArray[np.int64]:
    """The bucket (an index into ``steps_per_bucket``) of every step of an epoch: bucket
    ``i`` appears exactly ``steps_per_bucket[i]`` times. ``seed`` (a 64-bit integer, for a
    loader ``_core.derive_seed(…, "curriculum")``) starts the draws' SplitMix64 stream."""
    steps = [int(s) for s in np.asarray(steps_per_bucket).tolist()]
    return _core.curriculum_schedule(steps, [float(o) for o in np.asarray(odds)], cycles, seed)

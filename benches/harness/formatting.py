"""How the benchmarks' tables write durations and sizes, the same in every table."""

from __future__ import annotations

import math


def fmt_duration(seconds: float) -> str:
    """µs, ms, s or min, with three significant digits; ``inf`` (a peer given up on) reads
    as hours."""
    if seconds == math.inf:
        return "hours"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.1f} min"


def fmt_mib(nbytes: int) -> str:
    """Bytes as MiB: one decimal below 10, whole numbers with thousands separators above."""
    mib = nbytes / 2**20
    return f"{mib:.1f}" if mib < 10 else f"{mib:,.0f}"

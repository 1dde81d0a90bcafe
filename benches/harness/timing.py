"""Timing repeated calls of one measured function, with the memory each call adds."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.memory import peak_rss_bytes, reset_peak_rss, trim_heap


@dataclass
class Timing:
    times_s: list[float]
    peak_rss_increase_bytes: int  # largest VmHWM rise over the RSS before a call
    process_peak_rss_bytes: int  # the process's VmHWM over its whole life
    peak_reset: bool  # whether every call's peak could be measured apart (see reset_peak_rss)
    first_result: Any  # ``keep(result)`` of the first call
    before_s: list[float]  # what ``before`` took, untimed, before each call
    # The process's CPU time (every thread's, user and system) during each call: over the
    # call's wall time it is the number of CPUs the call kept busy.
    cpu_s: list[float]


def time_calls(
    call: Callable[[], Any],
    repeats: int,
    budget_s: float,
    *,
    before: Callable[[int], object] | None = None,
    keep: Callable[[Any], Any] = lambda result: result,
    cleanup: Callable[[Any], None] | None = None,
) -> Timing:
    """Up to ``repeats`` calls, fewer once they add up to ``budget_s``. Before each, garbage is
    collected and freed heap handed back; then ``before(largest peak increase so far)`` runs,
    untimed. ``keep(result)`` of the first call is kept for checking; every result is dropped
    at once so it cannot inflate later peaks, after ``cleanup(result)`` (untimed)."""
    times: list[float] = []
    cpu_s: list[float] = []
    before_s: list[float] = []
    peak_increase = process_peak = 0
    reset = True
    first: Any = None
    for i in range(repeats):
        gc.collect()  # garbage of the previous call must not count against this one
        trim_heap()
        if before is not None:
            t0 = time.perf_counter()
            before(peak_increase)
            before_s.append(time.perf_counter() - t0)
        process_peak = max(process_peak, peak_rss_bytes())  # before the reset loses it
        reset = reset_peak_rss() and reset
        start_peak = peak_rss_bytes()
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = call()
        times.append(time.perf_counter() - t0)
        cpu_s.append(time.process_time() - cpu0)
        peak_increase = max(peak_increase, peak_rss_bytes() - start_peak)
        if i == 0:
            first = keep(result)
        if cleanup is not None:
            cleanup(result)
        del result
        if sum(times) >= budget_s:
            break
    process_peak = max(process_peak, peak_rss_bytes())
    return Timing(times, peak_increase, process_peak, reset, first, before_s, cpu_s)

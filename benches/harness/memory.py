"""Resident memory of this process: its peak, reset between measured calls, and the current
size; and handing freed heap back to the OS so that a call cannot reuse it unseen."""

from __future__ import annotations

import ctypes
import resource
from pathlib import Path

from harness.machine import read_lines


def trim_heap() -> None:
    """Hands the pages glibc keeps for reuse back to the OS: setting up frees objects whose
    pages stay resident, and a call that reuses them would show no RSS increase at all."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: a measurement is then a lower bound


def reset_peak_rss() -> bool:
    """Resets the kernel's RSS high-water mark (VmHWM) to the current RSS, so that the peak
    of setting up cannot hide the measured call's own; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """The process's RSS high-water mark. ru_maxrss would be the natural source, but Linux
    carries the parent's peak into it across fork/exec (and clear_refs cannot lower it), so a
    worker started by a large driver could never show a smaller peak; VmHWM is the same mark
    for this process alone. ru_maxrss is the fallback where /proc is missing."""
    for line in read_lines("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def rss_bytes(kind: str = "VmRSS") -> int:
    """The process's current resident set size (0 where /proc is missing); ``kind``
    ``"RssAnon"`` counts only its own memory, ``"RssFile"`` the mapped files' pages (the
    page cache, which the kernel can take back)."""
    for line in read_lines("/proc/self/status"):
        if line.startswith(f"{kind}:"):
            return int(line.split()[1]) * 1024
    return 0

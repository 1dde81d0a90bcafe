"""What the benchmarks share: the machine description written beside every result, and the
process's peak memory."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


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


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=REPO, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def machine_description(packages: list[str]) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and the versions of ``packages``."""
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in read_lines("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        (int(ln.split()[1]) for ln in read_lines("/proc/meminfo") if ln.startswith("MemTotal")),
        0,
    )
    os_name = next(
        (
            ln.split("=", 1)[1].strip().strip('"')
            for ln in read_lines("/etc/os-release")
            if ln.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(mem_kib / 2**20, 1),
        "os": f"{os_name} (kernel {platform.release()}, {platform.machine()})",
        "python": platform.python_version(),
        "load_average_at_start": load,
        "versions": {p: version(p) for p in packages},
        "seqpack_commit": git_commit(),
    }

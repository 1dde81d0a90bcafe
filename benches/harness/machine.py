"""The machine and the code a result was measured on: CPU, cores, memory, OS, Python, package
versions and the seqpack commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


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
        # The results the benchmarks rewrite do not make the code dirty.
        dirty = bool(
            git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benches/results")
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def machine_description(packages: list[str], **extra: Any) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and the versions of ``packages``, then ``extra``."""
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
        **extra,
    }

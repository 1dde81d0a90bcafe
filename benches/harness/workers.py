"""One measurement in a fresh interpreter: the worker prints its result as one marked JSON
line, the driver runs it and reads that line back (or the reason there is none)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

RESULT_MARKER = "BENCH_RESULT "


def emit(result: dict[str, Any]) -> None:
    """Worker side: hand ``result`` to the driver."""
    print(RESULT_MARKER + json.dumps(result), flush=True)


def failure(error: Exception) -> dict[str, Any]:
    """A tool's own error as a result to report, not a crash of the benchmark."""
    return {"status": "failed", "reason": f"{type(error).__name__}: {error}"[:300]}


def result_of(stdout: str) -> dict[str, Any] | None:
    """Driver side: the last result a worker printed, if any."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if not lines:
        return None
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARKER) :])
    return result


@dataclass
class Outcome:
    status: str  # "ok", or why there is no figure: "failed", "timeout", "invalid", …
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def measure_in_worker(cmd: list[str], timeout_s: float, **popen: Any) -> Outcome:
    """Runs the worker ``cmd`` for at most ``timeout_s`` seconds; its result's ``status`` and
    ``reason`` come apart from the figures."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, **popen)
    except subprocess.TimeoutExpired:
        return Outcome("timeout", f"timed out after {timeout_s:.0f} s")
    data = result_of(proc.stdout)
    if data is None:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return Outcome("failed", tail[:300])
    status, reason = data.pop("status"), data.pop("reason", "")
    return Outcome(status, reason, data)

"""A run's record (command, end time, duration, load) and its result files: one JSON with
everything measured, one markdown with the tables."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.formatting import fmt_duration
from harness.machine import REPO

RESULTS = REPO / "benches" / "results"


def add_dataset_options(parser: argparse.ArgumentParser, work: Path) -> None:
    """``--corpora`` (where ``make-corpora`` writes), ``--work`` (scratch, kept between runs
    so that datasets are made once) and ``--out`` (the result files)."""
    parser.add_argument("--corpora", type=Path, default=Path("/tmp/seqpack-corpora"))
    parser.add_argument("--work", type=Path, default=work)
    parser.add_argument("--out", type=Path, default=RESULTS)


def run_lines(
    run: dict[str, Any], machine: dict[str, Any], quick: bool, load_note: str = ""
) -> list[str]:
    """The markdown bullets that open a result file: the command and how long it ran, the
    machine and its load (``load_note`` added to what the figures mean), the versions."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    load = " → ".join(f"{x:.1f}" for x in run["load_avg_1min"])
    return [
        f"- Command: `{run['command']}` ({'quick' if quick else 'full'} run,"
        f" {fmt_duration(run['duration_s'])}, finished {run['finished']})",
        f"- Machine: {machine['cpu']}, {machine['usable_cores']} cores, {machine['ram_gib']} GiB"
        f" RAM, {machine['os']}; Python {machine['python']}, numpy {machine['numpy']};"
        f" 1-min load average {load} (start → end of the run{load_note})",
        f"- Versions: {versions}; seqpack commit {machine['seqpack_commit']}",
    ]


def machine_section(machine: dict[str, Any]) -> list[str]:
    """The markdown lines that end a result file: the machine, as recorded."""
    return ["## Machine", "", "```", json.dumps(machine, indent=2), "```"]


class RunClock:
    """Started with the run; :meth:`record` is the run's record once it is over."""

    def __init__(self) -> None:
        self.load_start, self.started = os.getloadavg()[0], time.perf_counter()

    def record(self, script: str, **extra: Any) -> dict[str, Any]:
        """How to run it again, when it finished, how long it took and the load around it."""
        path = os.path.relpath(Path(script).resolve(), Path.cwd())
        return {
            "command": shlex.join(["python", path, *sys.argv[1:]]),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - self.started, 1),
            "load_avg_1min": [self.load_start, os.getloadavg()[0]],
            **extra,
        }


def run_payload(
    run: dict[str, Any],
    machine: dict[str, Any],
    settings: Any,
    results: Iterable[Any],
    **inputs: Any,
) -> dict[str, Any]:
    """The JSON of a run: its record, the machine, its settings, what it measured
    (``inputs``, as plain data) and its results (dataclasses, like the settings), in that
    order."""
    return {
        **run,
        "machine": machine,
        "settings": asdict(settings),
        **inputs,
        "results": [asdict(r) for r in results],
    }


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table's lines: the header, its rule, then a line a row."""
    return [_markdown_row(header), "|" + "---|" * len(header), *map(_markdown_row, rows)]


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_results(out: Path, name: str, payload: dict[str, Any], markdown: str) -> None:
    """``out/NAME.json`` and ``out/NAME.md``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown)
    took = payload.get("duration_s")
    print(
        f"wrote {out / f'{name}.json'} and {out / f'{name}.md'}" + (f" in {took} s" if took else "")
    )

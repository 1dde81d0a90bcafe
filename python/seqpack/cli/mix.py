"""The ``seqpack mix`` command: the plan of a mixture file, step by step, without
assembling a batch."""

from __future__ import annotations

import argparse
import json
from typing import Any

from seqpack.cli.common import add_command
from seqpack.errors import InvalidInputError
from seqpack.mixture import Mixture, mixture_planner


def add_commands(commands: Any) -> None:
    p = add_command(commands, "mix", _run_mix)
    p.add_argument("mixture", metavar="MIXTURE", help="a mixture file (.json, or .yaml)")
    p.add_argument("--seq-len", type=int, required=True, metavar="L", help="tokens per row")
    p.add_argument("--steps", type=int, required=True, metavar="N", help="steps to plan")
    p.add_argument(
        "--batch", type=int, default=1, metavar="B", help="rows per step, all ranks (default 1)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def _run_mix(args: argparse.Namespace) -> int:
    """Print the plan of a mixture.

    Per stage of the schedule and per source: real tokens, rows, share, and the epochs of
    each source; and the step at which a source starts an epoch or runs out (max_epochs).
    Planning is exact and cheap: it packs each source's epochs but assembles no batch.
    """
    if args.steps < 0:
        raise InvalidInputError(f"--steps must be a non-negative integer, got {args.steps}")
    mixture = Mixture.read(args.mixture)
    planner = mixture_planner(mixture, args.seq_len, {"seed": args.seed})
    state = planner.start()
    report = planner.report(state)
    stages: list[dict[str, Any]] = []
    events: list[str] = []
    begin = report

    def close_stage(end: dict[str, Any]) -> None:
        sources = []
        tokens = sum(e["real_tokens"] - b["real_tokens"] for b, e in _pairs(begin, end))
        for b, e in _pairs(begin, end):
            taken = e["real_tokens"] - b["real_tokens"]
            sources.append(
                {
                    "name": e["name"],
                    "real_tokens": taken,
                    "rows": e["rows"] - b["rows"],
                    "share": taken / tokens if tokens else 0.0,
                    "epochs": e["epochs"],
                }
            )
        stages.append(
            {"stage": begin["stage"], "steps": [begin["step"], end["step"]], "sources": sources}
        )

    while report["step"] < args.steps and not report["ended"]:
        state, made = planner.advance(state, 1, args.batch, True)
        if made == 0:
            break
        after = planner.report(state)
        for b, e in _pairs(report, after):
            for epoch in range(b["epoch"] + 1, e["epoch"] + 1):
                ran_out = e["max_epochs"] is not None and epoch >= e["max_epochs"]
                what = f"ran out (max_epochs {e['max_epochs']})" if ran_out else f"epoch {epoch}"
                events.append(f"step {after['step']}: {e['name']} {what}")
        report = after
        if report["stage"] != begin["stage"]:  # the steps so far were the previous stage's
            close_stage(report)
            begin = report
    if report["step"] > begin["step"] or not stages:
        close_stage(report)
    plan = {
        "mixture": str(args.mixture),
        "seq_len": args.seq_len,
        "rows_per_step": args.batch,
        "steps": report["step"],
        "ended": report["ended"],
        "stages": stages,
        "events": events,
    }
    if args.json:
        print(json.dumps(plan, indent=2))
        return 0
    print(
        f"{args.mixture}: {len(mixture.sources)} sources, rows of {args.seq_len} tokens, "
        f"{args.batch} rows a step, {report['step']} steps planned"
        + (" (the mixture ended)" if report["ended"] else "")
    )
    width = max(len(name) for name in mixture.names)
    for stage in stages:
        first, last = stage["steps"]
        print(f"\nstage {stage['stage']}: steps {first}..{last}")
        print(f"  {'source':<{width}}  {'real tokens':>12}  {'rows':>8}  {'share':>7}  epochs")
        for s in stage["sources"]:
            print(
                f"  {s['name']:<{width}}  {s['real_tokens']:>12,}  {s['rows']:>8,}  "
                f"{s['share']:>7.2%}  {s['epochs']:.2f}"
            )
    if events:
        print()
        print("\n".join(events))
    return 0


def _pairs(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return list(zip(a["sources"], b["sources"], strict=True))

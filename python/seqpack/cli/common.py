"""What the command modules share: declaring a command, handing its options to the API, and
printing an aligned report."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any

Run = Callable[[argparse.Namespace], int]


def add_command(commands: Any, name: str, run: Run) -> argparse.ArgumentParser:
    """A subcommand ``name`` that calls ``run(args)``. ``run``'s docstring documents it: the
    first line is the one-line help of ``seqpack --help`` (without its full stop), the whole
    docstring the description of ``seqpack NAME --help``."""
    doc = inspect.getdoc(run)
    if not doc:
        raise TypeError(f"{run.__qualname__} needs a docstring: it is the help of {name!r}")
    summary = doc.split("\n", 1)[0].rstrip(".")
    command: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary[0].lower() + summary[1:],
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(run=run)
    return command


def options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The parsed options ``names`` as keyword arguments of the API function of the same
    option names (the command line spells them with dashes, the API with underscores)."""
    return {name: getattr(args, name) for name in names}


def aligned(rows: list[tuple[str, str]]) -> str:
    """``key  value`` lines with the values in one column."""
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)

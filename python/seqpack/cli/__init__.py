"""The ``seqpack`` command line: one module per group of commands, assembled here.

- :mod:`seqpack.cli.pack`: ``pack`` (a length distribution or a dataset into rows)
- :mod:`seqpack.cli.demo`: ``demo`` (the whole pipeline on the standard library)
- :mod:`seqpack.cli.data`: ``preprocess`` (corpora into a dataset) and ``stats``
- :mod:`seqpack.cli.tokenizer`: ``train-bpe``
- :mod:`seqpack.cli.decompose`: ``decompose`` (a dataset into power-of-two buckets)
- :mod:`seqpack.cli.mix`: ``mix`` (the plan of a mixture of datasets)
- :mod:`seqpack.cli.show`: ``show`` (a document with its trained tokens highlighted)

Each module has ``add_commands(commands)``; a command's ``run(args)`` returns the exit status
and raises :class:`seqpack.SeqpackError` for bad input, which :func:`main` reports once.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from seqpack import __version__
from seqpack.cli import data, decompose, demo, mix, pack, show, tokenizer
from seqpack.errors import SeqpackError

__all__ = ["main"]

# In the order of `seqpack --help`.
COMMAND_GROUPS = (pack, demo, data, show, tokenizer, decompose, mix)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            # A command says its warnings on stderr, whatever the interpreter's filters.
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return int(args.run(args))
    except SeqpackError as error:
        print(f"seqpack: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # One line, not a traceback: what is complete is kept, and how to go on is said.
        how = " with --resume to continue" if hasattr(args, "resume") else ""
        print(f"seqpack: interrupted; run the same command{how}", file=sys.stderr)
        return 130


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A warning as one line of the command's output, without the source location."""
    print(f"seqpack: warning: {message}", file=sys.stderr if file is None else file)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="seqpack",
        description="Pack variable-length documents into fixed-length training rows.",
    )
    root.add_argument("--version", action="version", version=f"seqpack {__version__}")
    commands = root.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return root

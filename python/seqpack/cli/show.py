"""``show``: one document of a dataset with the tokens it trains on highlighted, on the
terminal or as an HTML page, to see what a loss mask does before training on it."""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from seqpack.cli.common import add_command
from seqpack.dataset import Dataset
from seqpack.errors import InvalidInputError
from seqpack.tokenizer import Tokenizer

# Trained text in bold green, the rest dimmed.
ANSI_TRAINED = "\x1b[1;32m"
ANSI_CONTEXT = "\x1b[2m"
ANSI_RESET = "\x1b[0m"
# Without colours, trained text is bracketed by these.
PLAIN_OPEN, PLAIN_CLOSE = "⟦", "⟧"


def add_commands(commands: Any) -> None:
    p = add_command(commands, "show", _run_show)
    p.add_argument("dataset", metavar="DIR")
    p.add_argument("--doc", type=int, default=0, metavar="N", help="the document (default 0)")
    p.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="the tokenizer.json the dataset was made with, to show text (else token ids)",
    )
    p.add_argument("--html", metavar="FILE", help="also write the document as an HTML page")


def _run_show(args: argparse.Namespace) -> int:
    """Show a document with the tokens it trains on highlighted.

    On a terminal, trained tokens are bold green and the rest dimmed; otherwise trained text
    is bracketed by ⟦ ⟧. With --html the same is written as a page. Give --tokenizer to see
    text rather than token ids.
    """
    dataset = Dataset(args.dataset)
    tokenizer = None if args.tokenizer is None else Tokenizer.from_file(args.tokenizer)
    if (
        tokenizer is not None
        and tokenizer.fingerprint != dataset.manifest["tokenizer"]["fingerprint"]
    ):
        raise InvalidInputError(
            f"{args.tokenizer}: not the tokenizer {args.dataset} was made with "
            f"({dataset.manifest['tokenizer']['fingerprint']})"
        )
    if not -len(dataset) <= args.doc < len(dataset):
        raise InvalidInputError(
            f"--doc {args.doc} is out of range for {args.dataset} ({len(dataset)} documents)"
        )
    tokens, mask = dataset[args.doc], dataset.loss_mask(args.doc)
    spans = trained_spans(tokens, mask, tokenizer)
    header = (
        f"{args.dataset}: document {args.doc}, {len(tokens):,} tokens, "
        f"{int(mask.sum()):,} trained"
        + ("" if dataset.has_loss_mask else " (no loss mask: every token is trained)")
    )
    print(header)
    write_terminal(spans, sys.stdout, color=sys.stdout.isatty())
    if args.html:
        Path(args.html).write_text(html_page(spans, header), encoding="utf-8")
        print(f"written to {args.html}")
    return 0


def trained_spans(
    tokens: npt.NDArray[np.uint32], mask: npt.NDArray[np.bool_], tokenizer: Tokenizer | None
) -> list[tuple[str, bool]]:
    """The document as runs of (text, trained): each run's tokens decoded together (or their
    ids, without a tokenizer)."""
    spans: list[tuple[str, bool]] = []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    for run in np.split(np.arange(len(tokens)), edges):
        if run.size == 0:
            continue
        if tokenizer is None:
            text = " ".join(str(int(t)) for t in tokens[run]) + " "
        else:
            text = decoded_in_place(tokenizer, tokens, run[0], run[-1] + 1)
        spans.append((text, bool(mask[run[0]])))
    return spans


def decoded_in_place(
    tokenizer: Tokenizer, tokens: npt.NDArray[np.uint32], start: int, end: int
) -> str:
    """``tokens[start:end]`` as they read within the document: decoded after the token
    before them, since a decoder treats a text's first token apart (SentencePiece drops the
    space that its ``▁`` stands for)."""
    text = tokenizer.decode_bytes(tokens[start:end])
    if start > 0:
        before = tokenizer.decode_bytes(tokens[start - 1 : start])
        both = tokenizer.decode_bytes(tokens[start - 1 : end])
        if both.startswith(before):
            text = both[len(before) :]
    return text.decode("utf-8", errors="replace")


def write_terminal(spans: list[tuple[str, bool]], out: TextIO, *, color: bool) -> None:
    for text, trained in spans:
        if color:
            out.write((ANSI_TRAINED if trained else ANSI_CONTEXT) + text + ANSI_RESET)
        else:
            out.write(f"{PLAIN_OPEN}{text}{PLAIN_CLOSE}" if trained else text)
    out.write("\n")


def html_page(spans: list[tuple[str, bool]], title: str) -> str:
    """A standalone page: trained text on a green background, the rest grey."""
    body = "".join(
        f'<span class="{"trained" if trained else "context"}">{html.escape(text)}</span>'
        for text, trained in spans
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>"
        "pre{white-space:pre-wrap;font-family:monospace}"
        ".trained{background:#c8f0c8;color:#000}.context{color:#888}"
        "</style></head><body>"
        f"<p>{html.escape(title)}</p>"
        '<p><span class="trained">trained</span> <span class="context">not trained</span></p>'
        f"<pre>{body}</pre></body></html>\n"
    )

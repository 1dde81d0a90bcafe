"""AST-BPE: byte-pair encoding whose merges never cut across a syntax subtree (a symbol is
always a run of consecutive sibling subtrees of one parent).

:func:`train_ast_bpe` makes a byte-level :class:`seqpack.Tokenizer` for source code (Python
through tree-sitter, SQL through seqpack's parser): merges inside a leaf token are free,
merges across leaves follow the parse. Documents that do not parse are merged and encoded as
plain byte-level BPE, and counted. The text2sql reproduction (BPE over whole SQL tokens) is
:mod:`seqpack.sql`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from seqpack import _core
from seqpack.errors import InvalidInputError
from seqpack.tokenizer import StrPath, Tokenizer, _as_ids

__all__ = [
    "LANGUAGES",
    "AstBpeTraining",
    "syntax_crossing",
    "train_ast_bpe",
    "train_ast_bpe_files",
]

LANGUAGES = tuple(_core.AST_LANGUAGES)
"""The languages :func:`train_ast_bpe` parses."""


class AstBpeTraining(NamedTuple):
    tokenizer: Tokenizer
    documents: int
    unparsed: int
    """Documents that did not parse, merged as plain byte-level BPE."""


def train_ast_bpe(
    texts: Iterable[str],
    vocab_size: int,
    language: str,
    *,
    special_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    out: StrPath | None = None,
) -> AstBpeTraining:
    """Trains a byte-level AST-BPE tokenizer for ``language`` (one of :data:`LANGUAGES`).

    The vocabulary has the 256 bytes, then one id per merge, then ``special_tokens`` (ids for
    ``append_eos`` and the like; they are not looked for in the text). There is no
    pre-tokenizer: the parse decides where merges may happen. ``out`` saves the file, which
    :meth:`seqpack.Tokenizer.from_file` and :func:`seqpack.preprocess` read.
    """
    if language not in LANGUAGES:
        raise InvalidInputError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    _count("vocab_size", vocab_size)
    _count("min_frequency", min_frequency)
    if vocab_size >= 2**32:
        raise InvalidInputError(f"vocab_size must be below 2**32, got {vocab_size}")
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a sequence of strings, not one string")
    specials = _texts(special_tokens, "special_tokens")
    trained = _core.train_ast_bpe(
        _texts(texts, "texts"),
        language=language,
        vocab_size=vocab_size,
        special_tokens=specials,
        min_frequency=min_frequency,
    )
    tokenizer = Tokenizer(trained.tokenizer)
    if out is not None:
        tokenizer.save(out)
    return AstBpeTraining(tokenizer, trained.documents, trained.unparsed)


def train_ast_bpe_files(
    paths: Iterable[StrPath],
    vocab_size: int,
    language: str,
    *,
    special_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    out: StrPath | None = None,
) -> AstBpeTraining:
    """:func:`train_ast_bpe` on files: ``.jsonl``/``.ndjson`` (one document per line, its
    ``"text"`` field) or UTF-8 text (the whole file is one document). Bad records raise
    :class:`seqpack.InvalidInputError` naming the file and line."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    texts = [text for path in paths for text in _core.read_documents(path)]
    return train_ast_bpe(
        texts,
        vocab_size,
        language,
        special_tokens=special_tokens,
        min_frequency=min_frequency,
        out=out,
    )


def syntax_crossing(language: str, text: str, lengths: npt.ArrayLike) -> int | None:
    """How many of ``text``'s tokens, consecutive with these byte ``lengths``, cut across the
    parse of ``text`` in ``language`` (are not a run of sibling subtrees); ``None`` when it
    does not parse. Measures any tokenizer against the rule AST-BPE keeps."""
    return _core.syntax_crossing(language, _text(text, "text"), _as_ids(lengths))


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _texts(values: Iterable[str], name: str) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be an iterable of strings, not one string")
    out = list(values)
    for i, value in enumerate(out):
        if not isinstance(value, str):
            raise TypeError(f"{name}[{i}] is {type(value).__name__}, expected str")
    return out


def _count(name: str, value: object) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")

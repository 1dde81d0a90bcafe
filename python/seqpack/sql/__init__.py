"""The text2sql research reproduction: BPE over whole SQL tokens as in "Byte-Pair Encoding for
Text-to-SQL Generation" (Müller & Vlachos, 2019), plain or along each query's parse (AST-BPE),
with the paper's stopping criterion. Kept for its benchmark (``benches/bench_ast_bpe.py``);
the product's tokenizers are :class:`seqpack.Tokenizer` and :func:`seqpack.train_ast_bpe`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from seqpack import _core
from seqpack._forwarding import CoreAttribute
from seqpack.ast_bpe import _count, _text, _texts
from seqpack.errors import InvalidInputError
from seqpack.tokenizer import _as_ids

__all__ = ["SqlBpe", "Step", "query_splits", "sql_parse", "sql_tokens", "train_sql_bpe"]


@dataclass(frozen=True)
class Step:
    """One candidate merge the stopping criterion looked at, in order."""

    left: int
    right: int
    count: int
    """Non-overlapping occurrences in the training queries."""
    accepted: bool
    rare_types: int
    """Rare validation types after the merge (for a rejected one: had it been applied)."""


class SqlBpe:
    """BPE over whole SQL tokens (plain, or AST-BPE when :attr:`syntax`).

    Ids below 256 are bytes (a token never seen in training is spelled by them), then the
    base tokens, then one id per merge. ``decode(encode(q)) == q`` for every string ``q``.
    """

    __slots__ = ("_core",)

    def __init__(self, core: _core.SqlBpe) -> None:
        self._core = core

    def encode(self, query: str, *, merges: int | None = None) -> npt.NDArray[np.uint32]:
        """The ids of ``query`` under the first ``merges`` merges (all by default)."""
        if merges is not None and merges < 0:
            raise InvalidInputError(f"merges must be non-negative, got {merges}")
        return self._core.encode(_text(query, "query"), merges)

    def encode_batch(self, queries: Sequence[str]) -> list[npt.NDArray[np.uint32]]:
        return self._core.encode_batch(_texts(queries, "queries"))

    def decode(self, ids: npt.ArrayLike) -> str:
        """The query of the ids :meth:`encode` made from a whole query."""
        return self._core.decode(_as_ids(ids))

    def symbols(self, query: str) -> list[str]:
        """The spelling of each symbol of ``query``'s encoding (whitespace before a token
        included; bytes of an unseen token that are not UTF-8 on their own show as U+FFFD)."""
        return [self.spelling(int(i)) for i in self.encode(query)]

    def spelling(self, id: int) -> str:
        bytes_ = self._core.spelling(id) if 0 <= id < 2**32 else None
        if bytes_ is None:
            raise InvalidInputError(f"{id} is not an id (the vocabulary has {self.vocab_size})")
        return bytes_.decode("utf-8", errors="replace")

    def crossing(self, query: str) -> tuple[int, int]:
        """(symbols of ``query``'s encoding that cut across its parse, symbols)."""
        return self._core.crossing(_text(query, "query"))

    syntax = CoreAttribute[bool]()
    vocab_size = CoreAttribute[int]()
    base_size = CoreAttribute[int](
        "256 bytes plus the base SQL tokens of the training and validation queries."
    )

    @property
    def num_merges(self) -> int:
        return self.vocab_size - self.base_size

    merges = CoreAttribute[list[tuple[int, int]]]()

    @property
    def steps(self) -> list[Step]:
        """Every candidate the stopping criterion judged (empty for a fixed number of
        merges)."""
        return [Step(*s) for s in self._core.steps]

    @property
    def rejections(self) -> int:
        return sum(not s.accepted for s in self.steps)

    rare_types_before = CoreAttribute[int](
        "Rare validation types before any merge: what every accepted merge kept."
    )
    unparsed = CoreAttribute[int](
        """Training queries whose quotes or parentheses do not balance (merged as plain
        BPE)."""
    )

    def __repr__(self) -> str:
        kind = "AST-BPE" if self.syntax else "BPE"
        return f"SqlBpe({kind}, base={self.base_size}, merges={self.num_merges})"


def train_sql_bpe(
    train: Sequence[str],
    valid: Sequence[str] = (),
    *,
    syntax: bool = True,
    merges: int | None = None,
    max_rejections: int = 20,
    rare_below: int = 100,
) -> SqlBpe:
    """Learns SQL BPE on the ``train`` queries.

    Without ``merges``, the paper's stopping criterion runs on ``valid``: a validation type
    seen fewer than ``rare_below`` times in training is rare; the most frequent admissible
    pair is merged unless that changes the number of rare types, in which case it is rejected
    for good, and training stops at the ``max_rejections``-th rejection (or when no pair
    occurs twice). With ``merges``, exactly that many merges are made (fewer if pairs run
    out) and ``valid`` only adds base types. ``syntax`` makes it AST-BPE.
    """
    for name, value in (("max_rejections", max_rejections), ("rare_below", rare_below)):
        _count(name, value)
    if merges is not None:
        _count("merges", merges)
    core = _core.SqlBpe.train(
        _texts(train, "train"),
        _texts(valid, "valid"),
        syntax=bool(syntax),
        max_merges=merges,
        max_rejections=None if merges is not None else max_rejections,
        rare_below=rare_below,
    )
    return SqlBpe(core)


def sql_tokens(query: str) -> list[str]:
    """The base SQL tokens of ``query``, each with the whitespace written before it (the
    first with the one space a query is read with)."""
    return _core.sql_tokens(_text(query, "query"))


def sql_parse(query: str) -> tuple[list[tuple[int, int]], bool]:
    """The groups of ``query``'s parse as ``[start, end)`` over :func:`sql_tokens`, and
    whether its quotes and parentheses balance."""
    return _core.sql_parse(_text(query, "query"))


def query_splits(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The first query of each entry of a text2sql-data JSON file, by its query split.
    Datasets without one (numbered cross-validation folds) use fold 0 as test, fold 1 as dev
    and the rest as train."""
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    with open(path, encoding="utf-8") as file:
        entries = json.load(file)
    for entry in entries:
        split = entry["query-split"]
        split = {"0": "test", "1": "dev"}.get(split, "train" if split.isdigit() else split)
        splits[split].append(entry["sql"][0])
    return splits

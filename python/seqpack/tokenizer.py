"""Tokenizers: read a HuggingFace ``tokenizer.json`` and encode exactly as HF ``tokenizers``
does; decode; train new byte-level BPE ones. One class for every implementation: seqpack's
byte-level BPE (GPT-2, Llama 3 and their kin), its AST-BPE (:mod:`seqpack.ast_bpe`), and the
HF ``tokenizers`` library for any other file; the Rust core picks it when the file is read.

Ids are numpy ``uint32`` arrays: what datasets store, made without a Python ``int`` per
token, and they convert to a list with ``.tolist()`` when one is wanted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from seqpack import _core
from seqpack._arrays import integer_array
from seqpack._forwarding import CoreAttribute
from seqpack.errors import InvalidInputError

__all__ = ["IMPLEMENTATIONS", "PATTERNS", "Tokenizer", "train_bpe", "train_bpe_files"]

IMPLEMENTATIONS = tuple(_core.TOKENIZER_IMPLEMENTATIONS)
"""What can encode: ``"bpe"`` (seqpack's byte-level BPE), ``"ast-bpe"`` (seqpack's AST-BPE)
and ``"hf"`` (the HF ``tokenizers`` library)."""

PATTERNS = ("gpt2", "llama3")
"""Pre-tokenizer patterns known by name; any other ``pattern`` string is a regex."""

# Text handed to the Rust trainer per call: enough to keep every core busy.
_BATCH_CHARS = 16 << 20
_BATCH_DOCS = 65_536

StrPath = str | os.PathLike[str]


class Tokenizer:
    """A tokenizer.

    ``encode`` gives the ids HF ``tokenizers`` gives for the same ``tokenizer.json`` and
    text (``Tokenizer.encode(text, add_special_tokens=...).ids``). Every call runs with the
    GIL released; ``encode_batch`` uses all cores. A tokenizer pickles (as its JSON), so it
    can go to DataLoader workers.
    """

    __slots__ = ("_core", "_path")

    def __init__(self, core: _core.Tokenizer, path: StrPath | None = None) -> None:
        self._core = core
        self._path = None if path is None else Path(path)

    @classmethod
    def from_file(cls, path: StrPath) -> Tokenizer:
        """Reads a ``tokenizer.json``. Byte-level BPE files use seqpack's own encoder; any
        other (WordPiece, Unigram, WordLevel, BPE with other normalizers or pre-tokenizers)
        runs through the HuggingFace ``tokenizers`` library, with the same ids as HF. An
        AST-BPE file (model type ``AstBPE``) is read as such. Raises
        :class:`seqpack.TokenizerError` for a malformed file."""
        return cls(_core.Tokenizer.from_file(os.fspath(path)), path)

    @classmethod
    def from_str(cls, json: str) -> Tokenizer:
        """Builds a tokenizer from the text of a ``tokenizer.json``."""
        return cls(_core.Tokenizer.from_str(json))

    @property
    def path(self) -> Path | None:
        """The file this tokenizer was read from or saved to at training; the model's chat
        template and ``tokenizer_config.json`` are looked for beside it. ``None`` for one
        built from text."""
        return self._path

    implementation = CoreAttribute[str](
        "Which of :data:`IMPLEMENTATIONS` encodes; dataset manifests record it."
    )
    native = CoreAttribute[bool]("Whether seqpack's own encoder runs this tokenizer (else HF's).")
    syntax = CoreAttribute[str | None](
        "The language an AST-BPE tokenizer parses; ``None`` for any other.", name="language"
    )
    fallbacks = CoreAttribute[int | None](
        """For AST-BPE: documents encoded so far that did not parse and were encoded as plain
        byte-level BPE. ``None`` for any other tokenizer."""
    )

    def encode(self, text: str, *, add_special_tokens: bool = False) -> npt.NDArray[np.uint32]:
        """The ids of ``text``. Added tokens written in the text (``<|endoftext|>``) always
        become their ids. ``add_special_tokens=True`` also adds what the file's
        ``TemplateProcessing`` post-processor puts around the text (Llama 3's
        ``<|begin_of_text|>``, for example), as HF does; nothing is added by default, since
        document boundaries are the packer's business."""
        return self._core.encode(text, add_special_tokens=add_special_tokens)

    def encode_batch(
        self, texts: Sequence[str], *, add_special_tokens: bool = False
    ) -> list[npt.NDArray[np.uint32]]:
        """:meth:`encode` over many texts, in parallel on all cores."""
        return self._core.encode_batch(
            texts if isinstance(texts, list) else list(texts),
            add_special_tokens=add_special_tokens,
        )

    def decode(self, ids: npt.ArrayLike) -> str:
        """The text of ``ids``; bytes that are not valid UTF-8 (a slice that cuts a
        character) become U+FFFD, as in HF. An id that stands for no token raises
        :class:`seqpack.InvalidInputError` naming its index, whatever the implementation
        (HF's own decoder would skip it silently)."""
        return self._core.decode(_as_ids(ids))

    def decode_bytes(self, ids: npt.ArrayLike) -> bytes:
        """The exact bytes of ``ids``: ``decode_bytes(encode(text)) == text.encode()``."""
        return self._core.decode_bytes(_as_ids(ids))

    vocab_size = CoreAttribute[int](
        "The number of ids (one more than the largest, added tokens included)."
    )
    fingerprint = CoreAttribute[str](
        """16 hex digits that change whenever the ids of some text could: a hash of the
        vocabulary, merges, pre-tokenizer, added tokens and template, not of the JSON."""
    )

    def token_to_id(self, token: str) -> int | None:
        """The id of a token spelled as in ``tokenizer.json`` (``"Ġthe"`` for " the"), or
        of an added token's content; ``None`` if there is none."""
        return self._core.token_to_id(token)

    def id_to_token(self, id: int) -> str | None:
        """The ``tokenizer.json`` spelling of an id; ``None`` if it is not used."""
        if not 0 <= id < 2**32:
            return None
        return self._core.id_to_token(id)

    def to_str(self) -> str:
        """The ``tokenizer.json`` text (as read, or as written by training)."""
        return self._core.to_str()

    def save(self, path: StrPath) -> None:
        """Writes the ``tokenizer.json`` (atomically: the old file or the new, never half)."""
        self._core.save(os.fspath(path))

    def __reduce__(self) -> tuple[Callable[[str], Tokenizer], tuple[str]]:
        return (Tokenizer.from_str, (self.to_str(),))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, fingerprint={self.fingerprint!r})"


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = (),
    pattern: str = "gpt2",
    min_frequency: int = 2,
    out: StrPath | None = None,
) -> Tokenizer:
    """Trains a byte-level BPE tokenizer on ``texts`` (any iterable, consumed once, in
    batches, so it may be a generator over a corpus larger than memory).

    The vocabulary has ``vocab_size`` ids: the 256 bytes, then one token per merge, then
    ``special_tokens`` (cut out of the training text, never merged into). ``pattern``
    pre-tokenizes: ``"gpt2"``, ``"llama3"`` or a regex. Pairs seen fewer than
    ``min_frequency`` times are not merged, so training may stop short of ``vocab_size``.
    Among pairs of equal count the one whose left then right token has the
    lexicographically smallest bytes is merged first, so the result depends on the corpus
    alone. The result loads in HF ``tokenizers`` and encodes identically there; ``out``
    saves it.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string")
    trainer = _trainer(vocab_size, special_tokens, pattern, min_frequency)
    batch: list[str] = []
    chars = 0
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, expected str")
        batch.append(text)
        chars += len(text)
        if chars >= _BATCH_CHARS or len(batch) >= _BATCH_DOCS:
            trainer.feed(batch)
            batch, chars = [], 0
    if batch:
        trainer.feed(batch)
    return _finish(trainer, out)


def train_bpe_files(
    paths: Iterable[StrPath],
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = (),
    pattern: str = "gpt2",
    min_frequency: int = 2,
    out: StrPath | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> Tokenizer:
    """:func:`train_bpe` on files, read in Rust: ``.jsonl``/``.ndjson`` (one document per
    line, its ``"text"`` field) or UTF-8 text under any other name (the whole file is one
    document). ``progress(bytes_read, bytes_total)`` is called as the files are read. Bad
    records raise :class:`seqpack.InvalidInputError` naming the file and line; unreadable
    files :class:`seqpack.SeqpackIOError`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = [os.fspath(p) for p in paths]
    total = sum(_size(f) for f in files)
    trainer = _trainer(vocab_size, special_tokens, pattern, min_frequency)
    done = 0
    for file in files:
        trainer.feed_file(file, None if progress is None else _shifted(progress, done, total))
        done += _size(file)
    return _finish(trainer, out)


def _trainer(
    vocab_size: int, special_tokens: Sequence[str], pattern: str, min_frequency: int
) -> _core.BpeTrainer:
    for name, value in (("vocab_size", vocab_size), ("min_frequency", min_frequency)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
    if vocab_size >= 2**32:
        raise InvalidInputError(f"vocab_size must be below 2**32, got {vocab_size}")
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a sequence of strings, not one string")
    specials = list(special_tokens)
    for i, token in enumerate(specials):
        if not isinstance(token, str):
            raise TypeError(f"special_tokens[{i}] is {type(token).__name__}, expected str")
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string, got {type(pattern).__name__}")
    return _core.BpeTrainer(
        vocab_size=int(vocab_size),
        special_tokens=specials,
        pattern=pattern,
        min_frequency=min(int(min_frequency), 2**64 - 1),
    )


def _shifted(
    progress: Callable[[int, int], object], before: int, total: int
) -> Callable[[int], object]:
    """``progress`` for one file: its bytes read, counted after those of the files before."""

    def report(read: int) -> object:
        return progress(before + read, total)

    return report


def _finish(trainer: _core.BpeTrainer, out: StrPath | None) -> Tokenizer:
    tokenizer = Tokenizer(trainer.train(), out)
    if out is not None:
        tokenizer.save(out)
    return tokenizer


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the Rust reader reports the file by name


def _as_ids(ids: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    """A contiguous uint32 view (or copy) of ``ids``, refusing what cannot be token ids."""
    return integer_array(ids, "ids", np.uint32, "is not a token id")

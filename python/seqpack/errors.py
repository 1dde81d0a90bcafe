"""The exceptions seqpack raises. Every one derives from :class:`SeqpackError`, which is a
:class:`ValueError`, so code that already catches ``ValueError`` keeps working."""

from __future__ import annotations

__all__ = [
    "CorruptDatasetError",
    "InvalidInputError",
    "SeqpackError",
    "SeqpackIOError",
    "TokenizerError",
    "UnsupportedTokenizerError",
]


class SeqpackError(ValueError):
    """Root of every error seqpack raises on purpose."""


class InvalidInputError(SeqpackError):
    """Bad input or options: the message names the offending index, option or file."""


class SeqpackIOError(SeqpackError, OSError):
    """A file or directory that could not be read or written; the message names it."""


class CorruptDatasetError(SeqpackError):
    """A dataset file that is not what its manifest says: truncated or corrupted shard,
    checksum mismatch, unknown format version, or a tokenizer that does not match."""


class TokenizerError(SeqpackError):
    """A malformed ``tokenizer.json``: not JSON, a missing or mistyped field, a merge of
    tokens that are not in the vocabulary. The message names the file and the field."""


class UnsupportedTokenizerError(TokenizerError):
    """A well-formed ``tokenizer.json`` that seqpack's byte-level BPE does not implement
    (another model type, a normalizer, another pre-tokenizer). The message names the field."""

"""The exceptions seqpack raises. Every one derives from :class:`SeqpackError`, which is a
:class:`ValueError`, so code that already catches ``ValueError`` keeps working."""

from __future__ import annotations

__all__ = ["InvalidInputError", "SeqpackError"]


class SeqpackError(ValueError):
    """Root of every error seqpack raises on purpose."""


class InvalidInputError(SeqpackError):
    """Bad input or options: the message names the offending index, option or file."""

"""Fixed-length rows of isolated segments to the batch contract, with numpy.

A row holds whole segments (a piece of one document, or several packed remainders) followed
by padding, which becomes a segment of its own so that ``cu_seqlens`` covers every token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["IGNORE_INDEX", "batch_arrays"]

#: The label HF losses skip.
IGNORE_INDEX = -100


def batch_arrays(
    tokens: Sequence[npt.NDArray[np.uint32]],
    seq_lengths: Sequence[npt.NDArray[np.uint32]],
    length: int,
    pad_id: int = 0,
) -> dict[str, npt.NDArray[np.int64] | npt.NDArray[np.int32] | int]:
    """``input_ids``, ``labels``, ``position_ids`` [B, length] int64, ``document_ids``
    [B, length] int32 (segment index within the row, -1 on padding), ``cu_seqlens`` int32
    over the flattened batch (leading 0, padding its own segment) and ``max_seqlen``.
    Labels are the inputs with -100 on each segment's first token and on padding (HF shifts
    labels inside the loss, so no token is predicted across a boundary)."""
    rows = len(tokens)
    input_ids = np.full((rows, length), pad_id, dtype=np.int64)
    segments: list[npt.NDArray[np.int64]] = []
    segment_ids: list[npt.NDArray[np.int32]] = []
    for r, (row, lengths) in enumerate(zip(tokens, seq_lengths, strict=True)):
        n = row.shape[0]
        if n > length or int(lengths.sum()) != n:
            raise ValueError(
                f"row {r}: {n} tokens with segments summing to {int(lengths.sum())} "
                f"do not fit a row of {length}"
            )
        input_ids[r, :n] = row
        seg = lengths.astype(np.int64)
        ids = np.arange(seg.shape[0], dtype=np.int32)
        if n < length:
            seg = np.append(seg, length - n)
            ids = np.append(ids, np.int32(-1))
        segments.append(seg)
        segment_ids.append(ids)
    seg = np.concatenate(segments) if segments else np.zeros(0, np.int64)
    ids = np.concatenate(segment_ids) if segment_ids else np.zeros(0, np.int32)
    ends = np.cumsum(seg)
    starts = ends - seg
    flat = rows * length
    position_ids = (np.arange(flat, dtype=np.int64) - np.repeat(starts, seg)).reshape(rows, length)
    document_ids = np.repeat(ids, seg).reshape(rows, length)
    labels = input_ids.copy()
    flat_labels = labels.reshape(-1)
    flat_labels[starts] = IGNORE_INDEX
    labels[document_ids < 0] = IGNORE_INDEX
    cu_seqlens = np.concatenate([[0], ends]).astype(np.int32)
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "document_ids": document_ids,
        "cu_seqlens": cu_seqlens,
        "max_seqlen": int(seg.max()) if seg.size else 0,
    }

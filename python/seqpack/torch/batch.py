"""The one batch type of the loaders: the dict of tensors made from the arrays that the Rust
batch stream assembles, with the masks asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from seqpack.errors import InvalidInputError
from seqpack.torch.masks import block_mask, dense_mask
from seqpack.torch.patch import PatchAlign, patch_batch

__all__ = ["MASKS", "Batch", "check_masks", "make_batch", "make_shard_batch", "seq_idx"]

#: What ``masks=`` may ask for: ``cu_seqlens``/``max_seqlen``, a dense ``attention_mask``
#: (``"sdpa"``), a FlexAttention ``block_mask`` (``"flex"``) and the ``seq_idx`` of
#: Mamba/linear-attention kernels (``"seq_idx"``).
MASKS = ("cu_seqlens", "sdpa", "flex", "seq_idx")

Batch = dict[str, Any]


def check_masks(masks: str | Sequence[str]) -> tuple[str, ...]:
    """``masks`` as a tuple, refused if it names an unknown mask."""
    masks = (masks,) if isinstance(masks, str) else tuple(masks)
    unknown = sorted(set(masks) - set(MASKS))
    if unknown:
        raise InvalidInputError(
            f"masks {unknown} are unknown; expected a subset of {', '.join(MASKS)}"
        )
    return masks


def make_batch(
    arrays: tuple[Any, ...],
    masks: tuple[str, ...],
    patch_size: int | None = None,
    patch_align: PatchAlign = "document",
) -> Batch:
    """The batch of one item of a ``_core.BatchStream``: ``input_ids``, ``labels``,
    ``position_ids``, ``document_ids``, the patch-level keys with a ``patch_size``, and the
    ``masks`` (over patches in patch mode, which the model attends over)."""
    input_ids, labels, position_ids, document_ids, cu_seqlens, max_seqlen, _ = arrays
    batch: Batch = {
        "input_ids": torch.from_numpy(input_ids),
        "labels": torch.from_numpy(labels),
        "position_ids": torch.from_numpy(position_ids),
        "document_ids": torch.from_numpy(document_ids),
    }
    segments = torch.from_numpy(cu_seqlens)
    if patch_size is not None:
        batch |= patch_batch(batch, segments, patch_size, patch_align)
    documents: torch.Tensor = batch[
        "patch_document_ids" if patch_size is not None else "document_ids"
    ]
    if "cu_seqlens" in masks:
        batch["cu_seqlens"] = segments
        batch["max_seqlen"] = int(max_seqlen)
    if "sdpa" in masks:
        batch["attention_mask"] = dense_mask(documents)
    if "flex" in masks:
        batch["block_mask"] = block_mask(documents)
    if "seq_idx" in masks:
        batch["seq_idx"] = seq_idx(batch["document_ids"])
    return batch


def seq_idx(document_ids: torch.Tensor) -> torch.Tensor:
    """The document index of every position (int32, like ``document_ids``), the padding at
    a row's end (``-1`` there) a segment of its own after the row's documents: the
    non-decreasing ``seq_idx`` that Mamba's and linear-attention kernels take."""
    after_last = document_ids.max(dim=-1, keepdim=True).values + 1
    return torch.where(document_ids < 0, after_last, document_ids).to(torch.int32)


def make_shard_batch(arrays: tuple[Any, ...], masks: tuple[str, ...]) -> Batch:
    """The batch of one item of a ``_core.ShardStream`` (a context-parallel shard)."""
    input_ids, labels, positions, documents, gather, cu, cu_padded, max_seqlen, _ = arrays
    batch: Batch = {
        "input_ids": torch.from_numpy(input_ids),
        "labels": torch.from_numpy(labels),
        "position_ids": torch.from_numpy(positions),
        "document_ids": torch.from_numpy(documents),
        "gather_indices": torch.from_numpy(gather),
        "cu_seqlens": torch.from_numpy(cu),
        "cu_seqlens_padded": torch.from_numpy(cu_padded),
        "max_seqlen": int(max_seqlen),
    }
    if "seq_idx" in masks:
        batch["seq_idx"] = seq_idx(batch["document_ids"])
    return batch

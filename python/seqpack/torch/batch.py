"""The one batch type of the loaders: the dict of tensors made from the arrays that the Rust
batch stream assembles, with the masks asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from seqpack.errors import InvalidInputError
from seqpack.torch.masks import block_mask, dense_mask
from seqpack.torch.patch import PatchAlign, patch_batch

__all__ = ["MASKS", "Batch", "check_masks", "make_batch"]

#: What ``masks=`` may ask for: ``cu_seqlens``/``max_seqlen``, a dense ``attention_mask``
#: (``"sdpa"``) and a FlexAttention ``block_mask`` (``"flex"``).
MASKS = ("cu_seqlens", "sdpa", "flex")

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
    return batch

"""PyTorch side of seqpack: loaders that yield packed batches with every document isolated
(of fixed length, or of a length that varies by step over a decomposition), GrowLength
schedules, the attention masks and keyword arguments their consumers expect, and loss
normalisation.

Needs the ``torch`` extra (``pip install seqpack[torch]``)."""

from __future__ import annotations

from seqpack.torch.adapters import flash_attn_kwargs, hf_kwargs, num_label_tokens, varlen_kwargs
from seqpack.torch.decomposed import DecomposedLoader
from seqpack.torch.grow_length import GrowLengthSchedule, Stage
from seqpack.torch.loader import PackedLoader
from seqpack.torch.masks import additive_mask, block_mask, dense_mask
from seqpack.torch.mixture import MixtureLoader
from seqpack.torch.patch import PatchSchedule, patch_batch, patch_embed, patch_loss

__all__ = [
    "DecomposedLoader",
    "GrowLengthSchedule",
    "MixtureLoader",
    "PackedLoader",
    "PatchSchedule",
    "Stage",
    "additive_mask",
    "block_mask",
    "dense_mask",
    "flash_attn_kwargs",
    "hf_kwargs",
    "num_label_tokens",
    "patch_batch",
    "patch_embed",
    "patch_loss",
    "varlen_kwargs",
]

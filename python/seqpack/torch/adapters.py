"""Keyword arguments for the consumers of packed batches, and loss normalisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["flash_attn_kwargs", "hf_kwargs", "num_label_tokens", "varlen_kwargs"]


def hf_kwargs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for a HF transformers causal LM: ``model(**hf_kwargs(batch))``.

    Documents are told apart by ``position_ids`` restarting at 0 (the sdpa, eager and flex
    implementations detect this) and by ``cu_seq_lens_q/k`` with ``max_length_q/k``
    (flash-attention-2). No 2-D ``attention_mask`` is passed, since any, even all ones,
    turns the detection off, and ``use_cache`` is off, since a cache turns it off too."""
    kwargs: dict[str, Any] = {
        "input_ids": batch["input_ids"],
        "labels": batch["labels"],
        "position_ids": batch["position_ids"],
        "use_cache": False,
    }
    if "cu_seqlens" in batch:
        kwargs |= {
            "cu_seq_lens_q": batch["cu_seqlens"],
            "cu_seq_lens_k": batch["cu_seqlens"],
            "max_length_q": batch["max_seqlen"],
            "max_length_k": batch["max_seqlen"],
        }
    return kwargs


def flash_attn_kwargs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The sequence arguments of ``flash_attn_varlen_func(q, k, v, **kwargs, causal=True)``,
    with q, k, v of the flattened batch ``[B·L, heads, dim]``."""
    return {
        "cu_seqlens_q": batch["cu_seqlens"],
        "cu_seqlens_k": batch["cu_seqlens"],
        "max_seqlen_q": batch["max_seqlen"],
        "max_seqlen_k": batch["max_seqlen"],
    }


def varlen_kwargs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The sequence arguments of ``torch.nn.attention.varlen.varlen_attn(q, k, v, **kwargs)``."""
    return {
        "cu_seq_q": batch["cu_seqlens"],
        "cu_seq_k": batch["cu_seqlens"],
        "max_q": batch["max_seqlen"],
        "max_k": batch["max_seqlen"],
    }


def num_label_tokens(batch: Mapping[str, Any]) -> int:
    """Tokens that carry a label (not -100) in a batch.

    With packing, a mean loss per micro-batch weights documents by how they happened to be
    packed. Normalise over the whole step instead: sum the token losses of every micro-batch
    (and rank) and divide by the step's total of this count, e.g. HF's
    ``model(**hf_kwargs(batch), num_items_in_batch=total)``."""
    labels: torch.Tensor = batch["labels"]
    return int((labels != -100).sum())

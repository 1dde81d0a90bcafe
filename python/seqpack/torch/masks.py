"""Attention masks from a batch's ``document_ids`` (the index of each token's document in its
row, -1 on padding): a token attends to the earlier tokens of its own document only, and a
padding token to the earlier padding of its row (so no query row is fully masked, which
backends disagree on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from torch.nn.attention.flex_attention import BlockMask

__all__ = ["additive_mask", "block_mask", "dense_mask"]

FLEX_BLOCK_SIZE = 128


def dense_mask(document_ids: torch.Tensor) -> torch.Tensor:
    """Boolean mask ``[B, 1, L, L]`` for SDPA (True = attend). It costs B·L² bytes: 128 MiB
    at B = 8, L = 4096; prefer ``cu_seqlens`` or :func:`block_mask` at long lengths."""
    length = document_ids.shape[-1]
    same = document_ids[:, :, None] == document_ids[:, None, :]
    causal = torch.ones(length, length, dtype=torch.bool, device=document_ids.device).tril()
    return (same & causal).unsqueeze(1)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A boolean mask as the additive float mask that eager attention implementations (HF
    ``attn_implementation="eager"``) need: 0 where attended, the dtype's minimum elsewhere.
    Passing the boolean mask to them silently lets every token attend everywhere."""
    zeros = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return zeros.masked_fill(~mask, torch.finfo(dtype).min)


def block_mask(document_ids: torch.Tensor, block_size: int = FLEX_BLOCK_SIZE) -> BlockMask:
    """A FlexAttention ``BlockMask`` for causal attention within each document. The block
    tables are computed from each block's first and last document, in O(B·(L/block)²), so
    no L×L mask is ever materialised; ``mask_mod`` decides only inside partial blocks.

    ``document_ids`` must be non-decreasing along each row before the padding (-1), as the
    loaders make them. The mask lives on their device: build it from ``document_ids`` on
    the GPU (``BlockMask.to`` would not move the tensor its ``mask_mod`` reads)."""
    from torch.nn.attention.flex_attention import BlockMask

    length = document_ids.shape[-1]
    device = document_ids.device
    blocks = -(-length // block_size)
    padded = blocks * block_size
    # Padding (-1) sorts last, so documents are non-decreasing along each row.
    segment = torch.where(document_ids < 0, torch.iinfo(torch.int32).max, document_ids)
    segment = torch.nn.functional.pad(segment, (0, padded - length), value=-2)
    first = segment[:, ::block_size][:, :blocks]
    block_starts = torch.arange(blocks, device=device) * block_size
    last_index = torch.clamp(block_starts + block_size - 1, max=length - 1)
    last = segment[:, last_index]
    q = torch.arange(blocks, device=device)[:, None]
    kv = torch.arange(blocks, device=device)[None, :]
    earlier = kv < q
    # A kv block before the query block shares a document with it only through its last one.
    touches = (kv == q) | (earlier & (last[:, None, :] == first[:, :, None]))
    # A block cut short by the end of the row is partial, as FlexAttention builds it: the
    # mask function must see its out-of-range positions.
    complete = block_starts + block_size <= length
    uniform = (first == last) & complete
    full = (
        earlier
        & uniform[:, :, None]
        & uniform[:, None, :]
        & (first[:, None, :] == first[:, :, None])
    )
    partial = touches & ~full

    def table(selected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        counts = selected.sum(-1, dtype=torch.int32)
        order = torch.argsort((~selected).to(torch.int8), dim=-1, stable=True).to(torch.int32)
        return counts[:, None], order[:, None]

    documents = torch.nn.functional.pad(document_ids, (0, padded - length), value=-2)

    def mask_mod(
        b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, kv: torch.Tensor
    ) -> torch.Tensor:
        return (documents[b, q] == documents[b, kv]) & (q >= kv)

    kv_num, kv_idx = table(partial)
    full_num, full_idx = table(full)
    return BlockMask.from_kv_blocks(
        kv_num,
        kv_idx,
        full_num,
        full_idx,
        BLOCK_SIZE=block_size,
        mask_mod=mask_mod,
        seq_lengths=(length, length),
    )

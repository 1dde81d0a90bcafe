"""Tiny randomly initialised HF causal LMs in float64, for equivalence tests on the CPU, and
the document segments of a packed batch their outputs are compared on. They are built in eval
mode (no dropout, so two runs can be compared; gradients still flow)."""

from __future__ import annotations

import itertools
from typing import Any


def segments(batch: dict[str, Any], seq_len: int) -> list[tuple[int, int, int]]:
    """(row, start, end) of every document segment of a batch of ``seq_len``-token rows
    (padding excluded)."""
    out = []
    for a, b in itertools.pairwise(batch["cu_seqlens"].tolist()):
        row, start = divmod(a, seq_len)
        if batch["document_ids"][row, start] >= 0:
            out.append((row, start, start + b - a))
    return out


def tiny_llama(vocab: int, attn: str, max_positions: int) -> Any:
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        pad_token_id=None,
    )
    return _build(transformers.LlamaForCausalLM, config, attn)


def tiny_gpt2(vocab: int, attn: str, max_positions: int) -> Any:
    import transformers

    config = transformers.GPT2Config(
        vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=max_positions
    )
    return _build(transformers.GPT2LMHeadModel, config, attn)


def _build(model_class: Any, config: Any, attn: str) -> Any:
    """The model of ``config`` with no cache and no special token ids (a packed row has its
    own boundaries), the attention backend ``attn`` and weights drawn from seed 0."""
    import torch

    config.use_cache = False
    config.bos_token_id = config.eos_token_id = None
    config.loss_type = "ForCausalLM"
    config._attn_implementation = attn
    torch.manual_seed(0)
    return model_class(config).double().eval()

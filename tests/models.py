"""Tiny randomly initialised HF causal LMs in float64, for equivalence tests on the CPU. They
are built in eval mode (no dropout, so two runs can be compared; gradients still flow)."""

from __future__ import annotations

from typing import Any


def tiny_llama(vocab: int, attn: str, max_positions: int) -> Any:
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        use_cache=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        loss_type="ForCausalLM",
    )
    config._attn_implementation = attn
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).double().eval()


def tiny_gpt2(vocab: int, attn: str, max_positions: int) -> Any:
    import torch
    import transformers

    config = transformers.GPT2Config(
        vocab_size=vocab,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=max_positions,
        use_cache=False,
        bos_token_id=None,
        eos_token_id=None,
        loss_type="ForCausalLM",
    )
    config._attn_implementation = attn
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).double().eval()

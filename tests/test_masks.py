"""Attention masks from document ids: the dense SDPA mask, the additive mask for eager
attention and the FlexAttention BlockMask built from block tables."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from seqpack.torch import additive_mask, block_mask, dense_mask  # noqa: E402


def document_ids(lengths: list[list[int]], seq_len: int) -> torch.Tensor:
    rows = []
    for row in lengths:
        ids = [i for i, n in enumerate(row) for _ in range(n)]
        rows.append(ids + [-1] * (seq_len - len(ids)))
    return torch.tensor(rows, dtype=torch.int32)


LAYOUTS = [
    ([[300]], 300),  # one document, not a multiple of the block size
    ([[5, 120, 3, 200], [128, 128, 100]], 512),  # blocks with and without boundaries
    ([[1] * 40 + [90], [256, 200]], 512),  # many tiny documents; padding spanning blocks
    ([[130, 10], [60]], 200),
]


@pytest.mark.parametrize(("lengths", "seq_len"), LAYOUTS)
def test_dense_mask_is_causal_within_documents(lengths: list[list[int]], seq_len: int) -> None:
    docs = document_ids(lengths, seq_len)
    mask = dense_mask(docs)
    assert mask.shape == (len(lengths), 1, seq_len, seq_len) and mask.dtype == torch.bool
    for b in range(len(lengths)):
        for q in range(0, seq_len, 7):
            for k in range(0, seq_len, 5):
                assert bool(mask[b, 0, q, k]) == (k <= q and bool(docs[b, q] == docs[b, k]))
        assert bool(mask[b, 0].diagonal().all()), "every query attends at least to itself"
    added = additive_mask(mask, torch.float64)
    assert bool((added[mask] == 0).all())
    assert bool((added[~mask] == torch.finfo(torch.float64).min).all())


@pytest.mark.parametrize(("lengths", "seq_len"), LAYOUTS)
def test_block_mask_equals_the_one_flex_builds_from_the_mask_function(
    lengths: list[list[int]], seq_len: int
) -> None:
    from torch.nn.attention.flex_attention import create_block_mask

    docs = document_ids(lengths, seq_len)

    def mask_mod(
        b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, k: torch.Tensor
    ) -> torch.Tensor:
        return (docs[b, q] == docs[b, k]) & (q >= k)

    ours = block_mask(docs)
    theirs = create_block_mask(mask_mod, len(lengths), None, seq_len, seq_len, device="cpu")
    assert torch.equal(ours.to_dense(), theirs.to_dense())
    # Full blocks are told apart from partial ones (the mask function is skipped in them).
    assert torch.equal(ours.full_kv_num_blocks, theirs.full_kv_num_blocks)
    assert torch.equal(ours.kv_num_blocks, theirs.kv_num_blocks)


# Eager (uncompiled) FlexAttention warns that it is slow; it is exact, which is what counts here.
@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_attention_with_the_block_mask_equals_attention_per_document() -> None:
    from torch.nn.attention.flex_attention import flex_attention

    lengths, seq_len = [[5, 120, 3, 200], [128, 128, 100]], 512
    docs = document_ids(lengths, seq_len)
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, seq_len, 16, dtype=torch.float64) for _ in range(3))
    out = flex_attention(q, k, v, block_mask=block_mask(docs))
    for b, row in enumerate(lengths):
        start = 0
        for n in row:
            s = slice(start, start + n)
            alone = torch.nn.functional.scaled_dot_product_attention(
                q[b : b + 1, :, s], k[b : b + 1, :, s], v[b : b + 1, :, s], is_causal=True
            )
            assert torch.allclose(out[b : b + 1, :, s], alone, atol=1e-10)
            start += n

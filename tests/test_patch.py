"""Patch-level training: batches of K-token patches aligned to documents (or, as in the
paper's reference, straddling them), the patch embedding and loss, and the schedule."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import seqpack
from seqpack.errors import InvalidInputError

torch = pytest.importorskip("torch")

from seqpack.torch import PackedLoader, PatchSchedule, patch_embed, patch_loss  # noqa: E402

from .models import tiny_llama  # noqa: E402

F = torch.nn.functional
SEQ_LEN = 512


def test_patch_embedding_of_one_hot_embeddings_is_the_mean_of_its_tokens() -> None:
    vocab, k = 11, 4
    ids = torch.randint(0, vocab, (3, 8 * k), generator=torch.Generator().manual_seed(0))
    one_hot = F.one_hot(ids, vocab).double()
    patches = patch_embed(one_hot, k)
    assert patches.shape == (3, 8, vocab)
    for p in range(8):
        counts = F.one_hot(ids[:, p * k : (p + 1) * k], vocab).sum(1).double()
        assert torch.equal(patches[:, p], counts / k)
    with pytest.raises(InvalidInputError, match="not a whole number of patches"):
        patch_embed(one_hot[:, :-1], k)


def test_reference_mode_labels_are_the_tokens_of_the_next_patch(loader_dataset: Path) -> None:
    k = 4
    loader = PackedLoader(loader_dataset, SEQ_LEN, 2, patch_size=k, patch_align="none")
    assert loader.stats()["alignment_padding_tokens"] == 0
    for batch in list(loader)[:5]:
        ids, labels = batch["input_ids"], batch["patch_labels"]
        rows, patches = ids.shape[0], SEQ_LEN // k
        assert labels.shape == (rows, patches, k)
        real = batch["document_ids"] >= 0
        for p in range(patches - 1):
            window = slice((p + 1) * k, (p + 2) * k)
            expected = torch.where(real[:, window], ids[:, window], -100)
            assert torch.equal(labels[:, p], expected)
        assert bool((labels[:, -1] == -100).all())
        assert torch.equal(batch["patch_position_ids"], torch.arange(patches).expand(rows, -1))


def test_with_k_1_the_patch_loss_is_the_next_token_loss(loader_dataset: Path) -> None:
    loader = PackedLoader(loader_dataset, SEQ_LEN, 2, patch_size=1)
    batch = next(iter(loader))
    torch.manual_seed(0)
    logits = torch.randn(2, SEQ_LEN, 600, dtype=torch.float64)
    expected = F.cross_entropy(
        logits[:, :-1].reshape(-1, 600), batch["labels"][:, 1:].reshape(-1), ignore_index=-100
    )
    assert torch.allclose(patch_loss(logits, batch["patch_labels"]), expected, atol=1e-12)
    assert torch.equal(batch["patch_position_ids"], batch["position_ids"])


@pytest.mark.parametrize("k", [2, 4, 8])
def test_document_aligned_patches_never_mix_documents(loader_dataset: Path, k: int) -> None:
    ds = seqpack.Dataset(loader_dataset)
    loader = PackedLoader(loader_dataset, SEQ_LEN, 4, patch_size=k, drop_last=False)
    offsets, doc, start, length = loader.planner.plan(0).arrays()
    assert loader.stats()["alignment_padding_tokens"] == int((-length % k).sum())
    for step, batch in enumerate(loader):
        documents = batch["document_ids"].view(4, -1, k)
        assert bool((documents == documents[..., :1]).all()), "a patch mixes two documents"
        assert torch.equal(batch["patch_document_ids"], documents[..., 0])
        # Patch positions restart at every document.
        starts = batch["position_ids"][:, ::k] == 0
        assert torch.equal(batch["patch_position_ids"] == 0, starts)
        cu = batch["patch_cu_seqlens"]
        assert batch["patch_max_seqlen"] == int((cu[1:] - cu[:-1]).max())
        assert torch.equal(cu[:-1], starts.reshape(-1).nonzero().flatten().to(torch.int32))
        ids = batch["input_ids"].view(4, -1, k)
        for i in range(4):
            p = step * 4 + i
            if p >= len(offsets) - 1:
                assert bool((batch["patch_labels"][i] == -100).all())
                continue
            at = 0  # in patches
            for e in range(offsets[p], offsets[p + 1]):
                d, s, n = int(doc[e]), int(start[e]), int(length[e])
                patches = -(-n // k)
                tokens = torch.from_numpy(ds[d][s : s + n].astype(np.int64))
                flat = ids[i, at : at + patches].reshape(-1)
                assert torch.equal(flat[:n], tokens) and bool((flat[n:] == 0).all())
                labels = batch["patch_labels"][i, at : at + patches].reshape(-1)
                # Patch q predicts the tokens of patch q + 1 of the same document only; the
                # last patch predicts nothing and padding is never a label.
                assert torch.equal(labels[: max(n - k, 0)], tokens[k:])
                assert bool((labels[max(n - k, 0) :] == -100).all()), "padding carries a label"
                at += patches
            assert bool((batch["patch_labels"][i, at:] == -100).all())


def llama(vocab: int) -> Any:
    pytest.importorskip("transformers")
    return tiny_llama(vocab, "sdpa", SEQ_LEN)


def test_a_packed_patch_batch_gives_each_documents_patch_losses(loader_dataset: Path) -> None:
    k = 4
    ds = seqpack.Dataset(loader_dataset)
    model = llama(int(ds.manifest["tokenizer"]["vocab_size"]))
    embed = model.get_input_embeddings()
    loader = PackedLoader(loader_dataset, SEQ_LEN, 2, patch_size=k, algorithm="nf", seed=1)

    def documents(b: dict[str, Any]) -> int:
        return int(((b["patch_position_ids"] == 0) & (b["patch_document_ids"] >= 0)).sum())

    batch = next(b for b in loader if documents(b) >= 4)
    with torch.no_grad():
        out = model(
            inputs_embeds=patch_embed(embed(batch["input_ids"]), k),
            position_ids=batch["patch_position_ids"],
            use_cache=False,
        )
        packed = patch_loss(out.logits, batch["patch_labels"], reduction="none")
        cu = batch["patch_cu_seqlens"].tolist()
        checked = 0
        for a, b in itertools.pairwise(cu):
            row, first = divmod(a, SEQ_LEN // k)
            if batch["patch_document_ids"][row, first] < 0:
                continue
            last = first + b - a
            ids = batch["input_ids"][row, first * k : last * k][None]
            alone = model(inputs_embeds=patch_embed(embed(ids), k), use_cache=False).logits
            labels = batch["patch_labels"][row, first:last][None]
            expected = patch_loss(alone, labels, reduction="none")
            assert torch.allclose(packed[row, first:last][None], expected, atol=1e-10)
            checked += 1
        assert checked == documents(batch)
        # The check bites: without restarted patch positions the documents mix.
        mixed = model(
            inputs_embeds=patch_embed(embed(batch["input_ids"]), k),
            position_ids=torch.arange(SEQ_LEN // k).expand(2, -1),
            use_cache=False,
        )
        assert not torch.allclose(
            patch_loss(mixed.logits, batch["patch_labels"], reduction="none"), packed, atol=1e-3
        )


def test_the_schedule_splits_the_budget_at_lambda() -> None:
    schedule = PatchSchedule(total_tokens=3_000_000, lam=2 / 3, K=4)
    assert schedule.patch_tokens == 2_000_000
    assert schedule.stage(1_999_999) == "patch" and schedule.stage(2_000_000) == "token"
    assert schedule.relative_cost == pytest.approx(0.5)
    assert schedule.switch_step(tokens_per_step=2**19) == -(-2_000_000 // 2**19)
    assert PatchSchedule(100, lam=0.0).stage(0) == "token"
    with pytest.raises(InvalidInputError, match="lam must be in"):
        PatchSchedule(100, lam=1.5)


def test_masks_in_patch_mode_are_over_patches(loader_dataset: Path) -> None:
    from seqpack.torch import dense_mask

    loader = PackedLoader(loader_dataset, SEQ_LEN, 2, patch_size=4, masks=("sdpa", "flex"))
    batch = next(iter(loader))
    assert torch.equal(batch["attention_mask"], dense_mask(batch["patch_document_ids"]))
    assert batch["block_mask"].shape == (2, 1, SEQ_LEN // 4, SEQ_LEN // 4)
    patches = torch.arange(SEQ_LEN // 4)
    for b in range(2):
        allowed = batch["block_mask"].mask_mod(
            torch.tensor(b), torch.tensor(0), patches[:, None], patches[None, :]
        )
        assert torch.equal(allowed, batch["attention_mask"][b, 0])


def test_bad_patch_options(loader_dataset: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a multiple of the patch size 3"):
        PackedLoader(loader_dataset, 512, 2, patch_size=3)
    with pytest.raises(InvalidInputError, match="patch_align must be"):
        PackedLoader(loader_dataset, 512, 2, patch_size=4, patch_align="row")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="patch_size must be a positive integer"):
        PackedLoader(loader_dataset, 512, 2, patch_size=0)

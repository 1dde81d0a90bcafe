"""No cross-contamination, shown on real models: tiny randomly initialised HF models in
float64 give, for a packed batch from PackedLoader, the logits, per-token losses and parameter
gradients of each document run on its own. Negative controls show that the checks bite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import seqpack

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from seqpack.torch import (  # noqa: E402
    PackedLoader,
    additive_mask,
    block_mask,
    dense_mask,
    hf_kwargs,
    num_label_tokens,
)

from .models import segments, tiny_gpt2, tiny_llama  # noqa: E402

SEQ_LEN = 1024
F = torch.nn.functional


def llama(vocab: int, attn: str) -> Any:
    return tiny_llama(vocab, attn, SEQ_LEN)


def gpt2(vocab: int, attn: str) -> Any:
    return tiny_gpt2(vocab, attn, SEQ_LEN)


MODELS: dict[str, Callable[[int, str], Any]] = {"llama": llama, "gpt2": gpt2}


@pytest.fixture(scope="module")
def packed(loader_dataset: Path) -> tuple[list[dict[str, Any]], int]:
    """Two packed batches with several documents per row, and the vocabulary size."""
    vocab = int(seqpack.Dataset(loader_dataset).manifest["tokenizer"]["vocab_size"])
    # Next-fit over a shuffled order mixes short and long documents in each row.
    loader = PackedLoader(loader_dataset, SEQ_LEN, 2, algorithm="nf", seed=3, drop_last=False)
    many = [b for b in loader if int((b["position_ids"] == 0).sum()) >= 6]
    assert len(many) >= 2, "the dataset should give rows of several documents"
    return many[:2], vocab


def reference(model: Any, batch: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Logits and per-token losses of every document run on its own."""
    logits, losses = [], []
    for row, a, b in segments(batch, SEQ_LEN):
        ids = batch["input_ids"][row, a:b][None]
        out = model(input_ids=ids, use_cache=False).logits[0]
        logits.append(out)
        losses.append(F.cross_entropy(out[:-1], ids[0, 1:], reduction="none"))
    return logits, losses


def packed_losses(logits: Any, batch: dict[str, Any]) -> list[Any]:
    return [
        F.cross_entropy(
            logits[row, a : b - 1], batch["input_ids"][row, a + 1 : b], reduction="none"
        )
        for row, a, b in segments(batch, SEQ_LEN)
    ]


def max_diff(xs: list[Any], ys: list[Any]) -> float:
    diffs = [float((x - y).detach().abs().max()) for x, y in zip(xs, ys, strict=True) if x.numel()]
    return max(diffs)


def gradients(model: Any) -> dict[str, Any]:
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def with_mask(batch: dict[str, Any], attn: str) -> dict[str, Any]:
    mask = dense_mask(batch["document_ids"])
    if attn == "eager":  # eager attention adds the mask: a boolean one would be ignored
        mask = additive_mask(mask, torch.float64)
    return {
        "input_ids": batch["input_ids"],
        "position_ids": batch["position_ids"],
        "attention_mask": mask,
        "labels": batch["labels"],
        "use_cache": False,
    }


# eager attention takes its softmax in float32 even for a float64 model.
TOLERANCE = {"sdpa": 1e-10, "eager": 1e-5}


@pytest.mark.parametrize("name", ["llama", "gpt2"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("how", ["positions", "dense_mask"])
def test_packed_batch_equals_documents_run_one_by_one(
    packed: tuple[list[dict[str, Any]], int], name: str, attn: str, how: str
) -> None:
    batches, vocab = packed
    batch = batches[0]
    model = MODELS[name](vocab, attn)
    tol = TOLERANCE[attn]
    ref_logits, ref_losses = reference(model, batch)
    total = num_label_tokens(batch)
    assert total == sum(len(loss) for loss in ref_losses)
    (sum(loss.sum() for loss in ref_losses) / total).backward()
    ref_grads = gradients(model)

    kwargs = hf_kwargs(batch) if how == "positions" else with_mask(batch, attn)
    out = model(**kwargs, num_items_in_batch=total)
    logits = [out.logits[row, a:b] for row, a, b in segments(batch, SEQ_LEN)]
    assert max_diff(logits, ref_logits) < tol
    assert max_diff(packed_losses(out.logits, batch), ref_losses) < tol
    # The loss over our labels, shifted as HF shifts them, is the token-weighted mean over
    # every document's tokens; HF computes it in float32.
    expected = float(torch.cat(ref_losses).mean().detach())
    assert abs(float(out.loss.detach()) - expected) < 1e-6 * expected
    vocab_size = out.logits.shape[-1]
    loss = F.cross_entropy(
        out.logits[:, :-1].reshape(-1, vocab_size),
        batch["labels"][:, 1:].reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    assert abs(float(loss.detach() / total) - expected) < tol
    (loss / total).backward()
    grads = gradients(model)
    assert grads.keys() == ref_grads.keys()
    worst = max(float((grads[n] - ref_grads[n]).abs().max()) for n in grads)
    assert worst < tol


# Eager (uncompiled) FlexAttention warns that it is slow; it is exact, which is what counts here.
@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_attention_forward_equals_documents_run_one_by_one(
    packed: tuple[list[dict[str, Any]], int],
) -> None:
    batches, vocab = packed
    batch = batches[0]
    # HF compiles FlexAttention, whose CPU kernels take float32 at most.
    model = llama(vocab, "flex_attention").float()
    with torch.no_grad():  # FlexAttention has no backward on the CPU
        ref_logits, _ = reference(llama(vocab, "sdpa").float(), batch)
        out = model(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            attention_mask=block_mask(batch["document_ids"]),
            use_cache=False,
        )
    logits = [out.logits[row, a:b] for row, a, b in segments(batch, SEQ_LEN)]
    assert max_diff(logits, ref_logits) < 1e-4
    # The check bites: with a causal mask over whole rows the documents see each other.
    with torch.no_grad():
        mixed = model(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            attention_mask=block_mask(torch.zeros_like(batch["document_ids"])),
            use_cache=False,
        )
    logits = [mixed.logits[row, a:b] for row, a, b in segments(batch, SEQ_LEN)]
    assert max_diff(logits, ref_logits) > 1e-2


def test_negative_controls_show_contamination(packed: tuple[list[dict[str, Any]], int]) -> None:
    batches, vocab = packed
    batch = batches[0]
    continuous = torch.arange(SEQ_LEN).expand(batch["input_ids"].shape[0], -1)
    with torch.no_grad():
        # Absolute positions: the right mask alone is not enough without restarted positions.
        model = gpt2(vocab, "sdpa")
        ref_logits, ref_losses = reference(model, batch)
        out = model(**{**with_mask(batch, "sdpa"), "position_ids": continuous})
        logits = [out.logits[row, a:b] for row, a, b in segments(batch, SEQ_LEN)]
        assert max_diff(logits, ref_logits) > 1e-3
        # Without restarted positions HF sees one long sequence and mixes the documents.
        model = llama(vocab, "sdpa")
        ref_logits, ref_losses = reference(model, batch)
        out = model(**{**hf_kwargs(batch), "position_ids": continuous})
        logits = [out.logits[row, a:b] for row, a, b in segments(batch, SEQ_LEN)]
        assert max_diff(logits, ref_logits) > 1e-3
        # Without -100 on each document's first token, the loss scores predictions across
        # document boundaries.
        # document boundaries (HF computes the loss in float32: relative tolerances).
        total = float(torch.cat(ref_losses).sum())
        labels = batch["input_ids"].masked_fill(batch["document_ids"] < 0, -100)
        out = model(**{**hf_kwargs(batch), "labels": labels}, num_items_in_batch=1)
        assert abs(float(out.loss) - total) > 1e-4 * total
        out = model(**hf_kwargs(batch), num_items_in_batch=1)
        assert abs(float(out.loss) - total) < 1e-6 * total


def test_loss_over_micro_batches_is_a_token_weighted_mean_over_the_step(
    packed: tuple[list[dict[str, Any]], int],
) -> None:
    batches, vocab = packed
    model = llama(vocab, "sdpa")
    with torch.no_grad():
        # Sharpen the random model's predictions so that token losses differ widely.
        model.lm_head.weight.mul_(50)
        losses = [torch.cat(reference(model, b)[1]) for b in batches]
        every = torch.cat(losses)
        total = sum(num_label_tokens(b) for b in batches)
        assert total == every.numel()
        mean = float(every.mean())
        step = sum(float(model(**hf_kwargs(b), num_items_in_batch=total).loss) for b in batches)
        assert abs(step - mean) < 1e-6 * mean  # HF's loss is float32
        # Without num_items_in_batch, HF takes each micro-batch's own mean, and averaging those
        # weights a token by how many others were packed with it.
        naive = sum(float(model(**hf_kwargs(b)).loss) for b in batches) / len(batches)
        per_batch = sum(float(loss.mean()) for loss in losses) / len(losses)
        assert abs(naive - per_batch) < 1e-6 * per_batch
        assert len(losses[0]) != len(losses[1])

#!/usr/bin/env python3
"""Packed against padded training on one GPU, every attention backend, one prepared run.

    python benches/bench_gpu.py [--device cuda] [--seq-len 2048] [--batch-size 16]
        [--budget-tokens 4000000] [--out benches/results] [--work DIR]
    python benches/bench_gpu.py --device cpu --smoke --out DIR      # what the tests run

The data is made on the spot from a real corpus every Python install has: the standard
library's ``.py`` files, a byte-level BPE trained on them by seqpack, tokenized with
``seqpack.preprocess`` (every 20th file held out for evaluation). A Llama-style model of about
135M parameters (12 layers, 768 wide, 12 heads, random init from a config, no download) then
trains for the same budget of real (non-padding) tokens in each of these ways, from the same
initial weights:

- ``padded``: one document per row (``PackedLoader(max_docs_per_pack=1)``), padded to L, HF
  model with sdpa and the usual 2-D ``attention_mask``: the baseline most training code runs;
- ``packed-sdpa``: packed rows, HF model with ``hf_kwargs`` (position ids restart per
  document, which HF's sdpa path turns into a document-causal mask);
- ``packed-fa2``: the same through flash-attention-2 (``cu_seq_lens``), when ``flash_attn``
  is installed;
- ``packed-flex``: packed rows, HF's flex_attention with seqpack's ``block_mask``;
- ``packed-varlen``: packed rows flattened for ``torch.nn.attention.varlen.varlen_attn`` with
  the batch's ``cu_seqlens`` (registered as an HF attention function; on the CPU, where the
  varlen kernel does not run, the same function attends per segment with sdpa, so the
  plumbing is still exercised).

Every way uses ``long_docs="truncate"``, so each trains on exactly the same tokens (documents
cut at L) and only the arrangement differs. Reported per way: real tokens/s and step time
(after warm-up steps), peak GPU memory, the time the loop waited for the loader (as a share
of step time), and the evaluation loss, per token, over the same held-out tokens at the same
points of the token budget, so the curves are comparable. Then an isolation check per packed
way on its trained model: the logits of every document of a packed batch against the same
document run alone through the same backend, with a contaminated control (the same rows with
one causal mask over the whole row) that the check must flag.

Results: ``OUT/gpu.json`` and ``OUT/gpu.md`` (``gpu-smoke.*`` with ``--smoke``).
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import math
import platform
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import seqpack
import torch
import transformers
from seqpack.cli.demo import write_stdlib_corpus
from seqpack.torch import PackedLoader, block_mask, hf_kwargs
from torch.nn import functional as F

REPO = Path(__file__).resolve().parent.parent
EOS = "<|endoftext|>"
VARLEN = "seqpack_varlen"
WAYS = ("padded", "packed-sdpa", "packed-fa2", "packed-flex", "packed-varlen")
# bf16 keeps 8 significant bits: one rounding moves a value by up to 2^-9 of it, and a
# 12-layer forward pass rounds each activation dozens of times, in an order that depends on
# the kernel's tiling (which differs between a row of several documents and a row of one).
# Differences of a few percent of the logits' spread are that noise; contamination shifts
# whole logit vectors by tens of percent (the control below measures it). In float32 the same
# noise is below 1e-4.
ISOLATION_TOLERANCE = {torch.bfloat16: 5e-2, torch.float32: 1e-3}


@dataclass
class Setup:
    """What every way shares: the data, the model's shape and the training budget."""

    device: torch.device
    dtype: torch.dtype
    train_dir: Path
    eval_dir: Path
    vocab_size: int
    seq_len: int
    batch_size: int
    budget_tokens: int
    evals: int
    warmup_steps: int
    model_config: dict[str, int] = field(default_factory=dict)


def make_data(work: Path, smoke: bool, vocab_size: int) -> tuple[Path, Path, int]:
    """Standard-library corpus → BPE → train and held-out datasets (made once under work)."""
    train_dir, eval_dir = work / "train", work / "eval"
    if (train_dir / "manifest.json").exists() and (eval_dir / "manifest.json").exists():
        return train_dir, eval_dir, seqpack.Tokenizer.from_file(work / "tokenizer.json").vocab_size
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "stdlib.jsonl"
    write_stdlib_corpus(corpus)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    if smoke:  # the shortest files: small and fast, and rows of several documents
        lines = sorted(lines, key=len)[:400]
    (work / "train.jsonl").write_text("".join(f"{x}\n" for i, x in enumerate(lines) if i % 20))
    (work / "eval.jsonl").write_text("".join(f"{x}\n" for i, x in enumerate(lines) if i % 20 == 0))
    tokenizer = seqpack.train_bpe_files(
        [work / "train.jsonl"], vocab_size, special_tokens=[EOS], out=work / "tokenizer.json"
    )
    for name, out in (("train", train_dir), ("eval", eval_dir)):
        seqpack.preprocess([work / f"{name}.jsonl"], tokenizer, out, append_eos=EOS)
    return train_dir, eval_dir, tokenizer.vocab_size


def varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """An HF attention function over the flattened batch: ``[B, H, L, D]`` → ``[B·L, H, D]``,
    causal within each ``cu_seq_lens_q`` segment, back to ``[B, L, H, D]``."""
    batch, heads, length, dim = query.shape
    groups = heads // key.shape[1]
    if groups > 1:
        key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    q, k, v = (t.transpose(1, 2).reshape(batch * length, heads, dim) for t in (query, key, value))
    cu, max_len = kwargs["cu_seq_lens_q"], int(kwargs["max_length_q"])
    if q.is_cuda:
        from torch.nn.attention.varlen import varlen_attn

        causal: dict[str, Any] = (
            {"is_causal": True}
            if "is_causal" in inspect.signature(varlen_attn).parameters
            else {"window_size": (-1, 0)}
        )
        out = varlen_attn(q, k, v, cu, cu, max_len, max_len, scale=scaling, **causal)
    else:
        out = torch.empty_like(q)
        bounds = cu.tolist()
        for a, b in itertools.pairwise(bounds):
            seg = [t[a:b].transpose(0, 1) for t in (q, k, v)]
            out[a:b] = F.scaled_dot_product_attention(
                *seg, is_causal=True, scale=scaling
            ).transpose(0, 1)
    return out.reshape(batch, length, heads, dim), None


def register_varlen() -> None:
    transformers.AttentionInterface.register(VARLEN, varlen_attention)
    # The segments come from cu_seqlens: no mask is built.
    transformers.AttentionMaskInterface.register(VARLEN, lambda *args, **kwargs: None)


def available_ways(device: torch.device) -> list[str]:
    ways = list(WAYS)
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        ways.remove("packed-fa2")
    if device.type != "cuda" and "packed-fa2" in ways:
        ways.remove("packed-fa2")
    return ways


ATTENTION = {
    "padded": "sdpa",
    "packed-sdpa": "sdpa",
    "packed-fa2": "flash_attention_2",
    "packed-flex": "flex_attention",
    "packed-varlen": VARLEN,
}


def make_model(setup: Setup, way: str) -> torch.nn.Module:
    config = transformers.LlamaConfig(
        vocab_size=setup.vocab_size,
        max_position_embeddings=setup.seq_len,
        use_cache=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        tie_word_embeddings=False,
        **setup.model_config,
    )
    config._attn_implementation = ATTENTION[way]
    torch.manual_seed(0)  # the same initial weights for every way
    return transformers.LlamaForCausalLM(config).to(setup.device)


def model_inputs(way: str, batch: dict[str, Any]) -> dict[str, Any]:
    """What each way hands the model for a batch (labels included)."""
    if way == "padded":
        return {
            "input_ids": batch["input_ids"],
            "attention_mask": (batch["document_ids"] >= 0).long(),
            "labels": batch["labels"],
            "use_cache": False,
        }
    if way == "packed-flex":
        return {
            "input_ids": batch["input_ids"],
            "position_ids": batch["position_ids"],
            "attention_mask": block_mask(batch["document_ids"]),
            "labels": batch["labels"],
            "use_cache": False,
        }
    return hf_kwargs(batch)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def loader(setup: Setup, data: Path, way: str, shuffle: bool = True) -> PackedLoader:
    return PackedLoader(
        data,
        setup.seq_len,
        setup.batch_size,
        long_docs="truncate",
        max_docs_per_pack=1 if way == "padded" else None,
        shuffle=shuffle,
        seed=0,
        drop_last=False,
        rank=0,
        world_size=1,
    )


def autocast(setup: Setup) -> Any:
    return torch.autocast(
        setup.device.type, dtype=setup.dtype, enabled=setup.dtype != torch.float32
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def eval_loss(setup: Setup, model: torch.nn.Module, way: str) -> float:
    """Mean loss per token over every held-out document (the same tokens for every way)."""
    total, count = 0.0, 0
    for batch in loader(setup, setup.eval_dir, "packed-sdpa" if way == "padded" else way, False):
        batch = to_device(batch, setup.device)
        kwargs = model_inputs("packed-sdpa" if way == "padded" else way, batch)
        labels = kwargs.pop("labels")
        with autocast(setup):
            logits = model(**kwargs).logits.float()
        loss = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), reduction="sum"
        )
        total += float(loss)
        count += int((labels[:, 1:] != -100).sum())
    return total / count


def batches(source: PackedLoader) -> Iterator[dict[str, Any]]:
    while True:  # epoch after epoch until the budget is spent
        yield from source


def train(setup: Setup, way: str) -> tuple[dict[str, Any], torch.nn.Module]:
    model = make_model(setup, way)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)
    if setup.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(setup.device)
    stream = batches(loader(setup, setup.train_dir, way))
    milestones = [setup.budget_tokens * (i + 1) // setup.evals for i in range(setup.evals)]
    curve: list[tuple[int, float]] = [(0, eval_loss(setup, model, way))]
    model.train()
    real = step = 0
    step_times: list[float] = []
    waits: list[float] = []
    timed_tokens = 0
    while real < setup.budget_tokens:
        start = time.perf_counter()
        batch = to_device(next(stream), setup.device)
        waited = time.perf_counter() - start
        with autocast(setup):
            loss = model(**model_inputs(way, batch)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(setup.device)
        elapsed = time.perf_counter() - start
        tokens = int((batch["document_ids"] >= 0).sum())
        real += tokens
        step += 1
        if step > setup.warmup_steps:
            step_times.append(elapsed)
            waits.append(waited)
            timed_tokens += tokens
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"{way}: loss is {loss.item()} at step {step}")
        while milestones and real >= milestones[0]:
            curve.append((real, eval_loss(setup, model, way)))
            model.train()
            milestones.pop(0)
    peak = torch.cuda.max_memory_allocated(setup.device) if setup.device.type == "cuda" else None
    timed = sum(step_times)
    result = {
        "way": way,
        "attention": ATTENTION[way],
        "trained": True,
        "steps": step,
        "real_tokens": real,
        "real_tokens_per_s": timed_tokens / timed if timed else None,
        "median_step_s": statistics.median(step_times) if step_times else None,
        "loader_wait_share": sum(waits) / timed if timed else None,
        "peak_gpu_bytes": peak,
        "eval_curve": curve,
        "final_eval_loss": curve[-1][1],
    }
    return result, model


def alone(ids: torch.Tensor, seq_len: int) -> dict[str, Any]:
    """A batch of one row holding one document, then padding: the document run on its own."""
    n = len(ids)
    row = torch.zeros(1, seq_len, dtype=ids.dtype, device=ids.device)
    row[0, :n] = ids
    positions = torch.zeros_like(row)
    positions[0, :n] = torch.arange(n, device=ids.device)
    documents = torch.full((1, seq_len), -1, dtype=torch.int32, device=ids.device)
    documents[0, :n] = 0
    labels = row.clone()
    labels[0, 0], labels[0, n:] = -100, -100
    cu = torch.tensor([0, n, seq_len] if n < seq_len else [0, n], dtype=torch.int32)
    return {
        "input_ids": row,
        "labels": labels,
        "position_ids": positions,
        "document_ids": documents,
        "cu_seqlens": cu.to(ids.device),
        "max_seqlen": max(n, seq_len - n),
    }


def crowded_batch(setup: Setup, way: str, look_at: int = 64) -> dict[str, Any]:
    """Of the first batches of the training data, the one whose rows hold the most
    documents: those after the first of a row are the ones contamination would reach."""

    def later_documents(batch: dict[str, Any]) -> int:
        return int(batch["document_ids"].amax(dim=1).clamp(min=0).sum())

    first = itertools.islice(loader(setup, setup.train_dir, way, False), look_at)
    return max(first, key=later_documents)


def one_document_per_row(batch: dict[str, Any]) -> dict[str, Any]:
    """The same rows described as if each held one document: every way then attends
    causally across the whole row, documents into each other (the contaminated control)."""
    rows, length = batch["input_ids"].shape
    device = batch["input_ids"].device
    return {
        **batch,
        "position_ids": torch.arange(length, device=device).expand(rows, length),
        "document_ids": torch.zeros_like(batch["document_ids"]),
        "cu_seqlens": torch.arange(0, rows * length + 1, length, dtype=torch.int32, device=device),
        "max_seqlen": length,
    }


@torch.no_grad()
def isolation(setup: Setup, model: torch.nn.Module, way: str) -> dict[str, Any]:
    """Largest difference, over the documents of a packed batch, between their logits in the
    batch and alone, relative to the logits' RMS; and the same for a contaminated control."""
    model.eval()
    batch = to_device(crowded_batch(setup, way), setup.device)
    with autocast(setup):
        packed = model(**{**model_inputs(way, batch), "labels": None}).logits.float()
        causal = model(**{**model_inputs(way, one_document_per_row(batch)), "labels": None})
        causal = causal.logits.float()
    worst = control = 0.0
    documents = 0
    for row in range(batch["input_ids"].shape[0]):
        ids = batch["document_ids"][row]
        for doc in range(int(ids.max()) + 1):
            where = (ids == doc).nonzero().flatten()
            a, b = int(where[0]), int(where[-1]) + 1
            single = alone(batch["input_ids"][row, a:b], setup.seq_len)
            with autocast(setup):
                ref = model(**{**model_inputs(way, single), "labels": None}).logits.float()
            ref = ref[0, : b - a]
            scale = float(ref.pow(2).mean().sqrt())
            worst = max(worst, float((packed[row, a:b] - ref).abs().max()) / scale)
            if a > 0:  # only documents after the first of a row can be contaminated
                control = max(control, float((causal[row, a:b] - ref).abs().max()) / scale)
            documents += 1
    tolerance = ISOLATION_TOLERANCE[setup.dtype]
    return {
        "documents": documents,
        "max_rel_diff": worst,
        "control_rel_diff": control,
        "tolerance": tolerance,
        "isolated": worst <= tolerance < control,
    }


def table(results: dict[str, Any]) -> str:
    rows = results["ways"]
    padded = next((r for r in rows if r["way"] == "padded"), None)
    lines = [
        "| way | attention | real tokens/s | vs padded | median step (ms) | loader wait "
        "| peak GPU (GiB) | final eval loss | isolation (max rel. diff / control) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["trained"]:
            iso = r["isolation"]
            lines.append(
                f"| {r['way']} | {r['attention']} | not trained on this device | | | | | | "
                f"{'ok' if iso['isolated'] else 'FAILED'} {iso['max_rel_diff']:.1e} / "
                f"{iso['control_rel_diff']:.1e} |"
            )
            continue
        speed = r["real_tokens_per_s"]
        ratio = speed / padded["real_tokens_per_s"] if padded and speed else None
        iso = r.get("isolation")
        iso_text = (
            f"{'ok' if iso['isolated'] else 'FAILED'} {iso['max_rel_diff']:.1e} / "
            f"{iso['control_rel_diff']:.1e}"
            if iso
            else "n/a"
        )
        peak = f"{r['peak_gpu_bytes'] / 2**30:.1f}" if r["peak_gpu_bytes"] else "n/a"
        lines.append(
            f"| {r['way']} | {r['attention']} | {speed:,.0f} | "
            f"{f'{ratio:.2f}×' if ratio else 'n/a'} | {r['median_step_s'] * 1e3:.1f} | "
            f"{r['loader_wait_share']:.2%} | {peak} | {r['final_eval_loss']:.4f} | {iso_text} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="tiny model, a few steps (CPU)")
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--budget-tokens", type=int, help="real tokens trained per way")
    parser.add_argument("--vocab-size", type=int)
    parser.add_argument(
        "--dtype", choices=("bfloat16", "float32"), help="autocast (bfloat16 on cuda by default)"
    )
    parser.add_argument("--ways", nargs="*", choices=WAYS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/seqpack-bench-gpu"))
    parser.add_argument("--out", type=Path, default=REPO / "benches" / "results")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    smoke = args.smoke
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --device cpu --smoke")
    start = time.perf_counter()
    work = args.work / ("smoke" if smoke else "full")
    vocab = args.vocab_size or (1024 if smoke else 32768)
    train_dir, eval_dir, vocab = make_data(work, smoke, vocab)
    data_s = time.perf_counter() - start
    setup = Setup(
        device=device,
        dtype=getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32")),
        train_dir=train_dir,
        eval_dir=eval_dir,
        vocab_size=vocab,
        seq_len=args.seq_len or (256 if smoke else 2048),
        batch_size=args.batch_size or (2 if smoke else 16),
        budget_tokens=args.budget_tokens or (2000 if smoke else 4_000_000),
        evals=2 if smoke else 8,
        warmup_steps=1 if smoke else 10,
        model_config=(
            {
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 4,
            }
            if smoke
            else {
                "hidden_size": 768,
                "intermediate_size": 2048,
                "num_hidden_layers": 12,
                "num_attention_heads": 12,
                "num_key_value_heads": 12,
            }
        ),
    )
    register_varlen()
    ways = args.ways or available_ways(device)
    rows = []
    parameters = 0
    for way in ways:
        if way == "packed-flex" and device.type == "cpu":
            # FlexAttention has no backward on the CPU: check its forward pass only.
            model = make_model(setup, way)
            result = {"way": way, "attention": ATTENTION[way], "trained": False}
        else:
            result, model = train(setup, way)
        if way != "padded":
            result["isolation"] = isolation(setup, model, way)
        rows.append(result)
        parameters = sum(p.numel() for p in model.parameters())
        print(json.dumps({k: v for k, v in result.items() if k != "eval_curve"}), flush=True)
        del model
    results = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seqpack": seqpack.__version__,
        "smoke": smoke,
        "setup": {
            "seq_len": setup.seq_len,
            "batch_size": setup.batch_size,
            "budget_tokens": setup.budget_tokens,
            "vocab_size": setup.vocab_size,
            "dtype": str(setup.dtype),
            "model": setup.model_config,
            "parameters": parameters,
        },
        "data_seconds": data_s,
        "total_seconds": time.perf_counter() - start,
        "ways": rows,
    }
    name = "gpu-smoke" if smoke else "gpu"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    text = table(results)
    setup_line = json.dumps({k: results[k] for k in ("device", "torch", "transformers", "setup")})
    (args.out / f"{name}.md").write_text(f"{text}\n\n{setup_line}\n")
    print(text)
    return results


if __name__ == "__main__":
    main()

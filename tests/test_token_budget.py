"""Token-budget batches (`PackedLoader(..., batch_tokens=N)`): one flattened batch of at most
N tokens per rank and step, every token of the epoch once, the same steps on every rank,
exact resume, documents isolated (also on a real model), and bad options."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import seqpack
from seqpack.errors import InvalidInputError

torch = pytest.importorskip("torch")

from seqpack.torch import PackedLoader, hf_kwargs  # noqa: E402

SEQ_LEN = 256
BUDGET = 700


def budget_loaders(data: Path, world: int, **options: Any) -> list[PackedLoader]:
    return [
        PackedLoader(data, SEQ_LEN, batch_tokens=BUDGET, rank=r, world_size=world, **options)
        for r in range(world)
    ]


def documents(batch: dict[str, Any]) -> list[tuple[int, ...]]:
    """The token sequence of every document segment of a batch (padding left out)."""
    ids, cu = batch["input_ids"].reshape(-1), batch["cu_seqlens"].tolist()
    found = batch["document_ids"].reshape(-1)
    return [tuple(ids[a:b].tolist()) for a, b in itertools.pairwise(cu) if found[a] >= 0]


def test_every_token_of_the_epoch_once_within_the_budget_on_every_rank(
    loader_dataset: Path,
) -> None:
    world = 3
    ranks = [list(loader) for loader in budget_loaders(loader_dataset, world, drop_last=False)]
    # The same number of steps everywhere: no collective can wait for a rank that ran out.
    assert len({len(batches) for batches in ranks}) == 1
    assert len(ranks[0]) == len(budget_loaders(loader_dataset, world, drop_last=False)[0])
    got = []
    for batches in ranks:
        for batch in batches:
            tokens = batch["input_ids"].shape[1]
            assert batch["input_ids"].shape == (1, tokens) and tokens <= BUDGET
            got.extend(documents(batch))
    # The reference: the same epoch in rows of seq_len tokens, on one rank.
    rows = PackedLoader(loader_dataset, SEQ_LEN, 4, drop_last=False)
    expected = [d for batch in rows for d in documents(batch)]
    assert sorted(got) == sorted(expected)
    assert sum(map(len, got)) == rows.stats()["real_tokens"]


def test_a_flattened_batch_isolates_its_documents(loader_dataset: Path) -> None:
    loader = PackedLoader(
        loader_dataset, SEQ_LEN, batch_tokens=BUDGET, masks=("cu_seqlens", "seq_idx")
    )
    for batch in itertools.islice(loader, 6):
        positions, documents_ = batch["position_ids"][0], batch["document_ids"][0]
        cu = batch["cu_seqlens"]
        assert cu.dtype == torch.int32 and int(cu[0]) == 0
        assert int(cu[-1]) == positions.numel()
        # Boundaries exactly where a document starts: positions restart, ids move on.
        starts = torch.nonzero(positions == 0).reshape(-1)
        assert torch.equal(starts.to(torch.int32), cu[:-1])
        assert torch.equal(documents_[cu[:-1].long()], torch.arange(len(cu) - 1, dtype=torch.int32))
        assert (documents_ >= 0).all(), "no padding in a flattened batch"
        assert batch["max_seqlen"] == int((cu[1:] - cu[:-1]).max())
        # No label crosses a boundary: each document's first token has none.
        labels = batch["labels"][0]
        assert (labels[cu[:-1].long()] == -100).all()
        inner = torch.ones_like(labels, dtype=torch.bool)
        inner[cu[:-1].long()] = False
        assert torch.equal(labels[inner], batch["input_ids"][0][inner])
        assert torch.equal(batch["seq_idx"], documents_[None])


@pytest.mark.parametrize("balance", ["none", "attention"])
def test_a_token_budget_run_resumes_exactly(loader_dataset: Path, balance: str) -> None:
    options: dict[str, Any] = {"rank": 1, "world_size": 2, "balance": balance}
    whole = list(PackedLoader(loader_dataset, SEQ_LEN, batch_tokens=BUDGET, **options))
    first = PackedLoader(loader_dataset, SEQ_LEN, batch_tokens=BUDGET, **options)
    taken = list(itertools.islice(iter(first), 3))
    resumed = PackedLoader(loader_dataset, SEQ_LEN, batch_tokens=BUDGET, **options)
    resumed.load_state_dict(first.state_dict())
    rest = list(resumed)
    assert len(taken) + len(rest) == len(whole) > 4
    for got, expected in zip(taken + rest, whole, strict=True):
        assert torch.equal(got["input_ids"], expected["input_ids"])
    # The next epoch follows.
    assert resumed.epoch == 1


def attention(batch: dict[str, Any]) -> float:
    lengths = batch["cu_seqlens"][1:] - batch["cu_seqlens"][:-1]
    return float((lengths.double() ** 2).sum())


def test_balanced_budget_steps_keep_each_step_s_rows_and_even_out_the_ranks(
    loader_dataset: Path,
) -> None:
    world = 4
    plain = [list(loader) for loader in budget_loaders(loader_dataset, world)]
    balanced = [
        list(loader)
        for loader in budget_loaders(
            loader_dataset, world, balance="attention", balance_cost=(1.0, 0.0)
        )
    ]
    assert len(balanced[0]) == len(plain[0])
    slowest = {"none": 0.0, "attention": 0.0}
    for step in range(len(plain[0])):
        before = sorted(d for rank in plain for d in documents(rank[step]))
        after = sorted(d for rank in balanced for d in documents(rank[step]))
        assert after == before
        for name, run in (("none", plain), ("attention", balanced)):
            costs = [attention(rank[step]) for rank in run]
            slowest[name] += max(costs) / (sum(costs) / world)
    assert slowest["attention"] < slowest["none"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_tokens": SEQ_LEN - 1}, "batch_tokens = 255 is below seq_len = 256"),
        ({"batch_tokens": BUDGET, "batch_size": 2}, "cannot be combined with batch_size"),
        ({"batch_tokens": BUDGET, "cp_size": 2}, "cannot be combined with cp_size"),
        ({"batch_tokens": BUDGET, "micro_batches": 2}, "cannot be combined with micro_batches"),
        ({"batch_tokens": True}, "batch_tokens must be a positive integer"),
        ({}, "give batch_size"),
    ],
)
def test_bad_token_budgets_raise_clear_errors(
    loader_dataset: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        PackedLoader(loader_dataset, SEQ_LEN, **options)


def test_a_flattened_batch_s_losses_equal_its_documents_run_alone(loader_dataset: Path) -> None:
    transformers = pytest.importorskip("transformers")
    del transformers
    from .models import tiny_llama

    vocab = int(seqpack.Dataset(loader_dataset).manifest["tokenizer"]["vocab_size"])
    loader = PackedLoader(loader_dataset, SEQ_LEN, batch_tokens=1024, algorithm="nf", seed=3)
    batch = next(b for b in loader if len(b["cu_seqlens"]) >= 6)
    model = tiny_llama(vocab, "sdpa", 1024)
    torch.set_grad_enabled(False)
    try:
        check_documents_alone(model, batch)
    finally:
        torch.set_grad_enabled(True)


def check_documents_alone(model: Any, batch: dict[str, Any]) -> None:
    """The logits and per-token losses of every document of a flattened batch equal those
    of the document run alone; without the boundaries they would not."""
    out = model(**hf_kwargs(batch)).logits[0]
    ids = batch["input_ids"][0]
    cu = batch["cu_seqlens"].tolist()
    F = torch.nn.functional
    for a, b in itertools.pairwise(cu):
        alone = model(input_ids=ids[a:b][None], use_cache=False).logits[0]
        torch.testing.assert_close(out[a:b], alone, rtol=0, atol=1e-10)
        loss = F.cross_entropy(out[a : b - 1], ids[a + 1 : b], reduction="none")
        expected = F.cross_entropy(alone[:-1], ids[a + 1 : b], reduction="none")
        torch.testing.assert_close(loss, expected, rtol=0, atol=1e-10)
    # Negative control: the same tokens without document boundaries differ.
    joined = model(input_ids=ids[None], use_cache=False).logits[0]
    assert float((joined - out).abs().max()) > 1e-3

"""Long-context training with `PackedLoader`: steps balanced by attention cost across ranks
(every row once, exact resume), context-parallel shards against torch's head-tail load
balancers and against the attention of the whole row, `seq_idx`, and bad options."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqpack import _core
from seqpack.errors import InvalidInputError

torch = pytest.importorskip("torch")

from seqpack.torch import PackedLoader  # noqa: E402

SEQ_LEN = 256
ATTENTION = (1.0, 0.0)


def row_keys(batch: dict[str, Any]) -> list[tuple[int, ...]]:
    """Each row of a batch as its tokens (rows of one epoch are told apart by them)."""
    return [tuple(row.tolist()) for row in batch["input_ids"]]


def row_costs(batch: dict[str, Any]) -> list[float]:
    """Σ l² over the documents of each row (a row's document ids are its segments)."""
    costs = []
    for documents in batch["document_ids"]:
        counts = torch.bincount(documents[documents >= 0].long())
        costs.append(float((counts.double() ** 2).sum()))
    return costs


def test_balanced_steps_keep_each_step_s_rows_and_even_out_the_ranks(
    loader_dataset: Path,
) -> None:
    world, batch_size = 2, 4

    def run(balance: str, **options: Any) -> list[list[dict[str, Any]]]:
        loaders = [
            PackedLoader(
                loader_dataset,
                SEQ_LEN,
                batch_size,
                rank=r,
                world_size=world,
                balance=balance,  # type: ignore[arg-type]
                **options,
            )
            for r in range(world)
        ]
        return [list(loader) for loader in loaders]

    in_turn = run("none")
    balanced = run("attention", balance_cost=ATTENTION, micro_batches=2)
    assert [len(b) for b in balanced] == [len(b) for b in in_turn]
    worst_in_turn = worst_balanced = 1.0
    slowest_in_turn = slowest_balanced = 0.0
    for step in range(len(in_turn[0])):
        # The same rows make the step, each on exactly one rank.
        before = sorted(k for rank in in_turn for k in row_keys(rank[step]))
        after = [k for rank in balanced for k in row_keys(rank[step])]
        assert sorted(after) == before
        rows = [row_costs(rank[step]) for rank in balanced]
        costs = [sum(r) for r in rows]
        plain = [sum(row_costs(rank[step])) for rank in in_turn]
        slowest_in_turn += max(plain)
        slowest_balanced += max(costs)
        worst_in_turn = max(worst_in_turn, max(plain) / np.mean(plain))
        worst_balanced = max(worst_balanced, max(costs) / np.mean(costs))
        # Each rank's batch is two micro-batches (rows 0-1, 2-3), none beyond a rank's share
        # by more than its heaviest row.
        micro = [sum(r[m * 2 : m * 2 + 2]) for r in rows for m in range(2)]
        assert max(micro) - min(micro) <= max(max(r) for r in rows)
    assert worst_balanced < worst_in_turn
    assert slowest_balanced < slowest_in_turn


def test_a_balanced_run_resumes_exactly(loader_dataset: Path) -> None:
    options: dict[str, Any] = {"rank": 1, "world_size": 2, "balance": "attention"}
    whole = list(PackedLoader(loader_dataset, SEQ_LEN, 2, **options))
    first = PackedLoader(loader_dataset, SEQ_LEN, 2, **options)
    taken = list(itertools.islice(iter(first), 3))
    resumed = PackedLoader(loader_dataset, SEQ_LEN, 2, **options)
    resumed.load_state_dict(first.state_dict())
    rest = list(resumed)
    assert len(taken) + len(rest) == len(whole)
    for got, expected in zip(taken + rest, whole, strict=True):
        assert torch.equal(got["input_ids"], expected["input_ids"])
    # Balancing does not enter the state: it is round-robin's after as many batches.
    plain = PackedLoader(loader_dataset, SEQ_LEN, 2, rank=1, world_size=2)
    list(itertools.islice(iter(plain), 3))
    assert first.state_dict() == plain.state_dict()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=64),
    st.integers(1, 8),
    st.sampled_from(["kk", "lpt"]),
)
def test_partitions_hold_every_cost_once_in_equal_groups(
    costs: list[int], groups: int, method: str
) -> None:
    costs = costs + [0] * (-len(costs) % groups)
    group_of = _core.balance_partition([float(c) for c in costs], groups, method)
    assert (
        sorted(np.bincount(group_of, minlength=groups).tolist()) == [len(costs) // groups] * groups
    )
    assert group_of == _core.balance_partition([float(c) for c in costs], groups, method)
    loads = np.bincount(group_of, weights=costs, minlength=groups)
    # No single cost exceeds the spread it leaves: the heaviest group is within one row of
    # the lightest once the row is moved (the refinement's swap would have found it).
    assert loads.max() - loads.min() <= max(costs) + 1e-6 * max(1, max(costs))


def cp_batches(
    loader_dataset: Path, cp_size: int, layout: str, **options: Any
) -> list[list[dict[str, Any]]]:
    """The batches of every rank of a context-parallel group (one data-parallel rank)."""
    return [
        list(
            PackedLoader(
                loader_dataset,
                SEQ_LEN,
                2,
                cp_size=cp_size,
                cp_rank=r,
                cp_layout=layout,  # type: ignore[arg-type]
                shuffle=False,
                **options,
            )
        )
        for r in range(cp_size)
    ]


@pytest.mark.parametrize("layout", ["per-document", "row"])
@pytest.mark.parametrize("cp_size", [2, 4])
def test_cp_gather_indices_are_torch_s_head_tail_layout(
    loader_dataset: Path, layout: str, cp_size: int
) -> None:
    from torch.distributed.tensor.experimental._context_parallel import _load_balancer

    ranks = cp_batches(loader_dataset, cp_size, layout)
    local = SEQ_LEN // cp_size
    for step in range(len(ranks[0])):
        cu = ranks[0][step]["cu_seqlens_padded"].tolist()
        for row in range(2):
            inside = [c - row * SEQ_LEN for c in cu if row * SEQ_LEN <= c <= (row + 1) * SEQ_LEN]
            lengths = [b - a for a, b in itertools.pairwise(inside)]
            balancer: Any = (
                _load_balancer._PerDocumentHeadTailLoadBalancer([lengths], cp_size, "cpu")
                if layout == "per-document"
                else _load_balancer._HeadTailLoadBalancer(SEQ_LEN, cp_size, "cpu")
            )
            expected = balancer._generate_indices().reshape(-1).tolist()
            ours = [r[step]["gather_indices"][row].tolist() for r in ranks]
            together = list(itertools.chain.from_iterable(ours))
            assert together == expected
            assert sorted(together) == list(range(SEQ_LEN))
            assert all(len(o) == local for o in ours)


@pytest.mark.parametrize("layout", ["per-document", "row"])
def test_cp_attention_rank_by_rank_equals_the_whole_row_s(
    loader_dataset: Path, layout: str
) -> None:
    cp_size, dim = 2, 8
    ranks = cp_batches(loader_dataset, cp_size, layout)
    generator = torch.Generator().manual_seed(0)
    for step in range(min(len(ranks[0]), 4)):
        for row in range(2):
            shards = [r[step] for r in ranks]
            full_documents = torch.empty(SEQ_LEN, dtype=torch.int32)
            full_positions = torch.empty(SEQ_LEN, dtype=torch.int64)
            for shard in shards:
                where = shard["gather_indices"][row]
                full_documents[where] = shard["document_ids"][row]
                full_positions[where] = shard["position_ids"][row]
            # The whole row's segments, from cu_seqlens_padded, agree with the shards' ids.
            cu = shards[0]["cu_seqlens_padded"].tolist()
            segment = torch.zeros(SEQ_LEN, dtype=torch.int64)
            for start in cu:
                if row * SEQ_LEN < start < (row + 1) * SEQ_LEN:
                    segment[start - row * SEQ_LEN :] += 1
            assert torch.equal(
                full_documents[1:] != full_documents[:-1], segment[1:] != segment[:-1]
            )
            assert torch.equal(full_positions, _row_positions(segment))
            index = torch.arange(SEQ_LEN)
            allowed = (segment[:, None] == segment[None, :]) & (index[None, :] <= index[:, None])
            q, k, v = (
                torch.randn(SEQ_LEN, dim, generator=generator, dtype=torch.float64)
                for _ in range(3)
            )
            scores = (q @ k.T / dim**0.5).masked_fill(~allowed, float("-inf"))
            reference = torch.softmax(scores, -1) @ v
            for shard in shards:
                # The rank's queries against all of the row's keys (as ring attention sees
                # them), masked by the shard's own document and position ids.
                where = shard["gather_indices"][row]
                documents, positions = shard["document_ids"][row], shard["position_ids"][row]
                mask = (documents[:, None] == full_documents[None, :]) & (
                    full_positions[None, :] <= positions[:, None]
                )
                scores = (q[where] @ k.T / dim**0.5).masked_fill(~mask, float("-inf"))
                out = torch.softmax(scores, -1) @ v
                torch.testing.assert_close(out, reference[where], rtol=1e-12, atol=1e-12)


def _row_positions(segment: Any) -> Any:
    """Each position's offset within its segment."""
    starts = torch.ones_like(segment, dtype=torch.bool)
    starts[1:] = segment[1:] != segment[:-1]
    index = torch.arange(segment.numel())
    first = torch.cummax(torch.where(starts, index, 0), 0).values
    return index - first


def test_cp_shards_hold_the_row_s_tokens_labels_and_positions(loader_dataset: Path) -> None:
    cp_size = 2
    ranks = cp_batches(loader_dataset, cp_size, "per-document")
    loader = PackedLoader(loader_dataset, SEQ_LEN, 2, cp_size=cp_size, cp_rank=0, shuffle=False)
    stats = loader.stats()
    assert stats["alignment_padding_tokens"] > 0
    for step in range(len(ranks[0])):
        full_ids = torch.full((2, SEQ_LEN), -1, dtype=torch.int64)
        targets = torch.full((2, SEQ_LEN), -1, dtype=torch.int64)
        for r in ranks:
            shard = r[step]
            assert shard["input_ids"].shape == (2, SEQ_LEN // cp_size)
            full_ids.scatter_(1, shard["gather_indices"], shard["input_ids"])
            targets.scatter_(1, shard["gather_indices"], shard["labels"])
            cu, padded = shard["cu_seqlens"], shard["cu_seqlens_padded"]
            assert cu[-1] <= padded[-1] == 2 * SEQ_LEN
            assert ((padded[1:] - padded[:-1]) % (2 * cp_size) == 0).all()
        assert (full_ids >= 0).all()
        # Labels are the next token, or -100: shifted once, in the full row.
        shifted = torch.cat([full_ids[:, 1:], torch.full((2, 1), -100)], dim=1)
        known = targets != -100
        assert torch.equal(targets[known], shifted[known])
        assert known.any()


def test_seq_idx_numbers_the_documents_of_each_row(loader_dataset: Path) -> None:
    batch = next(iter(PackedLoader(loader_dataset, SEQ_LEN, 3, masks=("cu_seqlens", "seq_idx"))))
    seq_idx, documents = batch["seq_idx"], batch["document_ids"]
    assert seq_idx.dtype == torch.int32 and seq_idx.shape == documents.shape
    assert (seq_idx[:, 1:] >= seq_idx[:, :-1]).all()
    real = documents >= 0
    assert torch.equal(seq_idx[real], documents[real])
    for row in range(3):
        padding = seq_idx[row][~real[row]]
        assert (padding == documents[row].max() + 1).all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cp_size": 2, "cp_rank": 2}, "cp_rank must be in 0..1, got 2"),
        ({"cp_size": 3}, "seq_len must be a multiple of 2·cp_size = 6"),
        ({"cp_size": 2, "cp_layout": "ring"}, "cp_layout"),
        ({"cp_size": 2, "masks": ("sdpa",)}, "cover whole rows"),
        ({"balance": "attention", "balance_cost": (-1.0, 0.0)}, "quadratic term must be"),
        ({"balance": "attention", "balance_cost": (0.0, 0.0)}, "both terms 0"),
        ({"balance": "attention", "micro_batches": 3}, "micro_batches must be a positive divisor"),
        ({"balance": "cost"}, "balance"),
        ({"micro_batches": 2}, 'must be "attention"'),
    ],
)
def test_bad_long_context_options_raise_clear_errors(
    loader_dataset: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        PackedLoader(loader_dataset, SEQ_LEN, 4, **options)


def test_spreading_costly_rows_keeps_the_epoch_s_rows_and_resumes(loader_dataset: Path) -> None:
    def rows(loader: PackedLoader) -> list[tuple[int, ...]]:
        return [k for batch in loader for k in row_keys(batch)]

    options: dict[str, Any] = {"drop_last": False, "balance": "attention"}
    plain = rows(PackedLoader(loader_dataset, SEQ_LEN, 2, **options))
    spread = PackedLoader(loader_dataset, SEQ_LEN, 2, spread_cost=True, **options)
    whole = rows(spread)
    # The rows of the same seed, reordered.
    assert sorted(whole) == sorted(plain) and whole != plain
    # The order is part of the state: a run without it cannot resume from it.
    spread.set_epoch(0)
    taken = [k for batch in itertools.islice(iter(spread), 3) for k in row_keys(batch)]
    state = spread.state_dict()
    assert state["options"]["spread_cost"] is True
    resumed = PackedLoader(loader_dataset, SEQ_LEN, 2, spread_cost=True, **options)
    resumed.load_state_dict(state)
    assert taken + rows(resumed) == whole
    with pytest.raises(InvalidInputError, match="spread_cost"):
        PackedLoader(loader_dataset, SEQ_LEN, 2, **options).load_state_dict(state)

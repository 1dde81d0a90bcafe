"""Curricula (Algorithm 1), the variable-sequence-length loader and GrowLength schedules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import seqpack
from hypothesis import given, settings
from hypothesis import strategies as st
from seqpack import InvalidInputError
from seqpack.curriculum import curriculum_odds, schedule

from .synthetic import STRIDE, write_dataset

torch = pytest.importorskip("torch")
from seqpack.torch import DecomposedLoader, GrowLengthSchedule, PackedLoader  # noqa: E402


def cycle_budgets(steps: np.ndarray, cycles: int) -> np.ndarray:
    """Steps of each bucket (rows) in each cycle (columns): as even as possible, the earlier
    cycles taking one more where the steps do not divide (the schedule's contract)."""
    base, extra = np.divmod(steps, cycles)
    return base[:, None] + (np.arange(cycles)[None, :] < extra[:, None])


def cycles_of(buckets: np.ndarray, steps: np.ndarray, cycles: int) -> list[np.ndarray]:
    sizes = cycle_budgets(steps, cycles).sum(axis=0)
    return np.split(buckets, np.cumsum(sizes)[:-1])


def test_odds_of_the_paper() -> None:
    assert curriculum_odds("uniform", 6).tolist() == [1] * 6
    assert curriculum_odds("grow-linear", 6).tolist() == [6, 5, 4, 3, 2, 1]
    assert curriculum_odds("grow-p2", 6).tolist() == [32, 16, 8, 4, 2, 1]
    with pytest.raises(InvalidInputError, match="unknown"):
        curriculum_odds("shrink", 6)
    with pytest.raises(InvalidInputError, match=r"odds\[1\] = 0.0"):
        curriculum_odds([1, 0, 1], 3)
    with pytest.raises(InvalidInputError, match="2 values for 3 buckets"):
        curriculum_odds([1, 1], 3)


def test_every_cycle_uses_exactly_its_budget() -> None:
    steps = np.array([37, 0, 91, 12, 5, 64])
    for odds in ("uniform", "grow-p2", [3, 1, 4, 1, 5, 9]):
        buckets = schedule(steps, curriculum_odds(odds, 6), 8, 0)
        assert np.bincount(buckets, minlength=6).tolist() == steps.tolist()
        budgets = cycle_budgets(steps, 8)
        for c, cycle in enumerate(cycles_of(buckets, steps, 8)):
            assert np.bincount(cycle, minlength=6).tolist() == budgets[:, c].tolist()


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.integers(0, 60), min_size=1, max_size=7),
    cycles=st.integers(1, 10),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_schedule_invariants(steps: list[int], cycles: int, seed: int, data: st.DataObject) -> None:
    odds = data.draw(st.lists(st.floats(0.01, 100), min_size=len(steps), max_size=len(steps)))
    buckets = schedule(steps, odds, cycles, seed)
    # Every bucket's steps, each cycle's budget, the same draws for the same seed.
    assert np.bincount(buckets, minlength=len(steps)).tolist() == steps
    budgets = cycle_budgets(np.array(steps), cycles)
    for c, cycle in enumerate(cycles_of(buckets, np.array(steps), cycles)):
        assert np.bincount(cycle, minlength=len(steps)).tolist() == budgets[:, c].tolist()
    assert np.array_equal(buckets, schedule(steps, odds, cycles, seed))


def test_grow_p2_lengthens_within_each_cycle() -> None:
    # Equal steps per bucket: the short buckets' higher odds drain them first, so within each
    # cycle sequence length rises from start to end (rank correlation, fixed seed).
    steps = np.full(6, 400)
    buckets = schedule(steps, curriculum_odds("grow-p2", 6), 8, 3)
    for cycle in cycles_of(buckets, steps, 8):
        length = np.exp2(cycle + 8)
        position = np.arange(cycle.size)
        rho = np.corrcoef(np.argsort(np.argsort(length)), position)[0, 1]
        assert rho > 0.6, rho
        quarter = cycle.size // 4
        assert length[:quarter].mean() * 4 < length[-quarter:].mean()


def test_uniform_odds_exhaust_all_buckets_together() -> None:
    # Odds weighted by token share: every bucket is drawn evenly through the cycle and runs
    # out near its end; under grow-p2 the smallest runs out far earlier than the largest.
    steps = np.full(6, 400)

    def last_draw(curriculum: str, seed: int) -> np.ndarray:
        buckets = schedule(steps, curriculum_odds(curriculum, 6), 4, seed)
        cycles = cycles_of(buckets, steps, 4)
        return np.array([[np.flatnonzero(c == i).max() / c.size for i in range(6)] for c in cycles])

    # Over several seeds: no single stream decides it.
    for seed in range(5):
        uniform = last_draw("uniform", seed)
        assert (uniform > 0.75).all() and np.median(uniform) > 0.95, seed
        p2 = last_draw("grow-p2", seed)
        assert (p2[:, 0] < 0.5).all() and (p2[:, 5] > 0.95).all(), seed


@pytest.fixture(scope="module")
def decomposition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("dd")
    lengths = np.random.default_rng(0).lognormal(6.5, 1.2, size=600).astype(int) + 1
    data = write_dataset(tmp / "in", lengths.tolist())
    seqpack.decompose(data, tmp / "out", min_log2=6, max_log2=10, seed=1)
    return tmp / "out"


def check_contract(batch: dict[str, Any], tokens_per_step: int) -> None:
    ids, labels = batch["input_ids"], batch["labels"]
    b, length = ids.shape
    assert b * length == tokens_per_step
    assert ids.dtype == labels.dtype == batch["position_ids"].dtype == torch.int64
    assert batch["document_ids"].dtype == batch["cu_seqlens"].dtype == torch.int32
    cu = batch["cu_seqlens"]
    assert cu[0] == 0 and cu[-1] == b * length
    seg = (cu[1:] - cu[:-1]).tolist()
    assert batch["max_seqlen"] == max(seg)
    flat_pos = batch["position_ids"].reshape(-1)
    flat_ids = ids.reshape(-1)
    flat_labels = labels.reshape(-1)
    for start, n in zip(cu[:-1].tolist(), seg, strict=True):
        assert flat_pos[start : start + n].tolist() == list(range(n))
        assert flat_labels[start] == -100
        assert (flat_labels[start + 1 : start + n] == flat_ids[start + 1 : start + n]).all() or (
            flat_labels[start : start + n] == -100
        ).all()
        # A segment is one slice of one document (or padding).
        doc = batch["document_ids"].reshape(-1)[start : start + n]
        assert (doc == doc[0]).all()
        if doc[0] >= 0:
            tokens = flat_ids[start : start + n]
            assert (tokens[1:] - tokens[:-1] == 1).all() and len(
                {int(t) // STRIDE for t in tokens}
            ) == 1


def test_batches_keep_the_contract_and_constant_tokens(decomposition: Path) -> None:
    loader = DecomposedLoader(decomposition, 4096, cycles=2, seed=0)
    lengths = set()
    n = 0
    for batch in loader:
        check_contract(batch, 4096)
        lengths.add(batch["input_ids"].shape[1])
        n += 1
    assert n == len(loader) and lengths == {64, 128, 256, 512, 1024}
    assert loader.state_dict()["epoch"] == 1
    assert loader.bucket_schedule().size == len(loader)


def test_ranks_draw_the_same_bucket_and_split_its_rows(decomposition: Path) -> None:
    whole = list(DecomposedLoader(decomposition, 4096, seed=4))
    parts = [
        list(DecomposedLoader(decomposition, 4096, seed=4, rank=r, world_size=4)) for r in range(4)
    ]
    assert all(len(p) == len(whole) for p in parts)
    for step, batch in enumerate(whole):
        shards = [p[step]["input_ids"] for p in parts]
        assert len({s.shape for s in shards}) == 1
        assert torch.equal(torch.cat(shards), batch["input_ids"])


def test_resume_is_exact_even_on_another_world_size(decomposition: Path) -> None:
    reference = list(DecomposedLoader(decomposition, 4096, seed=9))
    loader = DecomposedLoader(decomposition, 4096, seed=9)
    it = iter(loader)
    for _ in range(7):
        next(it)
    state = loader.state_dict()
    assert (state["version"], state["loader"], state["epoch"], state["consumed"]) == (
        2,
        "decomposed",
        0,
        7,
    )
    assert {k: state["options"][k] for k in ("seed", "cycles", "tokens_per_step")} == {
        "seed": 9,
        "cycles": 8,
        "tokens_per_step": 4096,
    }
    resumed = DecomposedLoader(decomposition, 4096, seed=9)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == len(reference) - 7
    for a, b in zip(rest, reference[7:], strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a if k != "max_seqlen")
    halves = []
    for rank in range(2):
        other = DecomposedLoader(decomposition, 4096, seed=9, rank=rank, world_size=2)
        other.load_state_dict(state)
        halves.append(next(iter(other))["input_ids"])
    assert torch.equal(torch.cat(halves), reference[7]["input_ids"])
    with pytest.raises(InvalidInputError, match="seed = 9 there, 1 here"):
        DecomposedLoader(decomposition, 4096, seed=1).load_state_dict(state)


def test_a_bucket_is_a_packed_dataset_for_packed_loader(decomposition: Path) -> None:
    d = seqpack.Decomposition(decomposition)
    loader = PackedLoader(decomposition / "D06", 64, 8, seed=0)
    batches = list(loader)
    assert len(batches) == d.summary(6)["sequences"] // 8
    for batch in batches:
        check_contract(batch, 8 * 64)


def test_epochs_reshuffle(decomposition: Path) -> None:
    loader = DecomposedLoader(decomposition, 4096, seed=2)
    first = loader.bucket_schedule()
    list(loader)
    assert not np.array_equal(first, loader.bucket_schedule())


def test_loader_bad_input(decomposition: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="multiple of 1024"):
        DecomposedLoader(decomposition, 1536)
    with pytest.raises(InvalidInputError, match="world_size 3"):
        DecomposedLoader(decomposition, 4096, world_size=3, rank=0)
    with pytest.raises(InvalidInputError, match=r"rank must be in 0\.\.1"):
        DecomposedLoader(decomposition, 4096, world_size=2, rank=2)
    with pytest.raises(InvalidInputError, match="cycles"):
        DecomposedLoader(decomposition, 4096, cycles=0)
    with pytest.raises(InvalidInputError, match="prefetch must be a positive integer, got 0"):
        DecomposedLoader(decomposition, 4096, prefetch=0)
    with pytest.raises(InvalidInputError, match="masks"):
        DecomposedLoader(decomposition, 4096, masks=("dense",))
    data = write_dataset(tmp_path / "in", [300, 20])
    seqpack.decompose(data, tmp_path / "shifted", shifted_targets=True)
    with pytest.raises(InvalidInputError, match="shifted target"):
        DecomposedLoader(tmp_path / "shifted", 4096)


def test_grow_length_schedule() -> None:
    s = GrowLengthSchedule([(128, 10 * 4096), (512, 4 * 4096 + 5), (4096, 4096)], 4096)
    assert [(st.seq_len, st.batch_size, st.first_step, st.steps) for st in s.stages] == [
        (128, 32, 0, 10),
        (512, 8, 10, 4),
        (4096, 1, 14, 1),
    ]
    assert s.total_steps == 15
    assert [s.stage_at(i).index for i in (0, 9, 10, 13, 14)] == [0, 0, 1, 1, 2]
    assert all(st.seq_len * st.batch_size == 4096 for st in s.stages)
    with pytest.raises(InvalidInputError, match="step 15"):
        s.stage_at(15)
    with pytest.raises(InvalidInputError, match=r"stages\[0\]: sequence length 100"):
        GrowLengthSchedule([(100, 4096)], 4096)
    with pytest.raises(InvalidInputError, match="less than one step"):
        GrowLengthSchedule([(128, 100)], 4096)


def test_grow_length_repacks_each_stage_and_resumes(tmp_path: Path) -> None:
    lengths = np.random.default_rng(1).integers(1, 300, size=200).tolist()
    data = write_dataset(tmp_path / "in", lengths)
    s = GrowLengthSchedule([(64, 40 * 1024), (256, 30 * 1024)], 1024)
    run = list(s.batches(data, seed=3))
    assert len(run) == s.total_steps == 70
    for step, (stage, batch) in enumerate(run):
        assert stage == s.stage_at(step)
        assert tuple(batch["input_ids"].shape) == (stage.batch_size, stage.seq_len)
        check_contract(batch, 1024)
    # Stage 0 (64-token rows) runs past one epoch of its packing.
    assert len(s.loader(s.stages[0], data, seed=3)) < 40
    resumed = list(s.batches(data, seed=3, start_step=33))
    assert len(resumed) == 70 - 33
    for (_, a), (_, b) in zip(resumed, run[33:], strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"])
    halves = [next(s.batches(data, seed=3, start_step=50, rank=r, world_size=2)) for r in (0, 1)]
    assert torch.equal(torch.cat([h[1]["input_ids"] for h in halves]), run[50][1]["input_ids"])
    with pytest.raises(InvalidInputError, match="world_size 3"):
        s.loader(s.stages[1], data, rank=0, world_size=3)


def test_import_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import seqpack, seqpack.curriculum, seqpack.decompose\n"
        "try:\n    import seqpack.torch\nexcept ImportError:\n    print('no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "no torch"

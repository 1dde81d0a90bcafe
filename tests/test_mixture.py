"""Data mixtures: token-exact shares at every step (the deficit rule's bound), repetition
with a new packing up to max_epochs, schedules, exact resume (also on another world
size), every token once per source epoch, and clear errors naming the source."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import seqpack
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from seqpack import Mixture, Source
from seqpack.errors import CorruptDatasetError, InvalidInputError, SeqpackIOError
from seqpack.torch import PackedLoader
from seqpack.torch.mixture import MixtureLoader

SEQ_LEN = 128
NAMES = ("code", "sql", "chat")


def _texts(path: Path, count: int) -> list[str]:
    """The first ``count`` documents (a conversation's turns joined by newlines)."""
    texts = []
    with path.open(encoding="utf-8") as f:
        for line in itertools.islice(f, count):
            record = json.loads(line)
            messages = record.get("messages", [])
            texts.append(record.get("text") or "\n".join(m["content"] for m in messages))
    return texts


@pytest.fixture(scope="session")
def sources(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three real datasets made with one tokenizer: standard-library files (long), SQL
    queries (short) and text-to-SQL conversations (medium); plus ``other``: the SQL
    queries made with another tokenizer."""
    root = tmp_path_factory.mktemp("mixture")
    texts = {
        "code": _texts(corpora / "pystdlib.jsonl", 12),
        "sql": _texts(corpora / "text2sql.jsonl", 300),
        "chat": _texts(corpora / "text2sql-chat.jsonl", 120),
    }
    everything = [t for group in texts.values() for t in group]
    tokenizer = seqpack.train_bpe(everything, 400, special_tokens=["<|endoftext|>"])
    other = seqpack.train_bpe(everything, 300, special_tokens=["<|endoftext|>"])
    out: dict[str, Path] = {}
    for name, group in [*texts.items(), ("other", texts["sql"])]:
        corpus = root / f"{name}.jsonl"
        corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in group))
        seqpack.preprocess(
            corpus,
            other if name == "other" else tokenizer,
            root / name,
            append_eos="<|endoftext|>",
            shard_size=20_000,
            progress=False,
        )
        out[name] = root / name
    return out


def _mixture(sources: dict[str, Path], weights: tuple[float, ...] = (0.5, 0.3, 0.2), **kw: Any):
    max_epochs = kw.pop("max_epochs", (None, None, None))
    return Mixture(
        [
            Source(sources[n], w, max_epochs=m, name=n)
            for n, w, m in zip(NAMES, weights, max_epochs, strict=True)
        ],
        **kw,
    )


def _rows(batch: dict[str, Any]) -> list[tuple[int, np.ndarray]]:
    """(source, real tokens) of each row of a batch."""
    ids, docs = batch["input_ids"].numpy(), batch["document_ids"].numpy()
    return [(int(s), ids[r][docs[r] >= 0]) for r, s in enumerate(batch["source_ids"].numpy())]


def _check_bound(tokens: np.ndarray, targets: np.ndarray, where: str) -> None:
    """The documented bound: no source a row ahead of its target, none behind it by more
    than a row per other source."""
    n = len(tokens)
    deficit = targets - tokens
    assert (deficit > -SEQ_LEN - 1e-6).all(), (where, deficit)
    assert (deficit < (n - 1) * SEQ_LEN + 1e-6).all(), (where, deficit)


def test_shares_stay_within_the_bound_on_two_ranks_with_workers(sources):
    weights = np.array([0.5, 0.3, 0.2])
    steps = 24
    per_rank = []
    for rank in range(2):
        loader = PackedLoader(_mixture(sources), SEQ_LEN, 3, rank=rank, world_size=2)
        assert isinstance(loader, MixtureLoader)
        data = torch.utils.data.DataLoader(loader, batch_size=None, num_workers=2)
        per_rank.append([_rows(b) for b in itertools.islice(data, steps)])
    # The same rows, in the same order, as one process taking 6 rows a step.
    single = PackedLoader(_mixture(sources), SEQ_LEN, 6)
    alone = [_rows(b) for b in itertools.islice(single, steps)]
    taken = np.zeros(3)
    for step in range(steps):
        rows = per_rank[0][step] + per_rank[1][step]
        assert [s for s, _ in rows] == [s for s, _ in alone[step]]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(rows, alone[step], strict=True))
        for source, tokens in rows:
            taken[source] += len(tokens)
        _check_bound(taken, weights * taken.sum(), f"step {step}")
    stats = single.stats()
    assert stats["step"] == steps
    assert [s["real_tokens"] for s in stats["sources"]] == taken.tolist()
    assert stats["max_deviation_rows"] < 2
    for source in stats["sources"]:
        assert source["padding_tokens"] == source["rows"] * SEQ_LEN - source["real_tokens"]
    # Shares after 24 steps of 6 rows are close to the weights.
    shares = np.array([s["share"] for s in stats["sources"]])
    assert np.abs(shares - weights).max() < 2 * SEQ_LEN / taken.sum()


def _dataset_tokens(path: Path) -> np.ndarray:
    return np.sort(np.concatenate(list(seqpack.Dataset(path))))


def test_every_token_once_per_source_epoch_and_repetitions_pack_anew(sources):
    mixture = _mixture(sources, (0.2, 0.3, 0.5), max_epochs=(1, 3, 1))
    loader = PackedLoader(mixture, SEQ_LEN, 4, drop_last=False)
    rows: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
    for batch in loader:  # the mixture ends: every source has a max_epochs
        for source, tokens in _rows(batch):
            if source >= 0:
                rows[source].append(tokens)
    report = loader.stats()
    assert report["ended"]
    planner = loader.core_mixture
    for source, name in enumerate(NAMES):
        epochs = report["sources"][source]["epoch"]
        assert epochs == (1, 3, 1)[source]
        expected = _dataset_tokens(sources[name])
        start = 0
        for epoch in range(epochs):
            n = planner.plan(source, epoch).num_packs
            got = np.sort(np.concatenate(rows[source][start : start + n]))
            assert np.array_equal(got, expected), (name, epoch)
            start += n
        assert start == len(rows[source])
    # The small source repeats with a new packing each time.
    first, second = planner.plan(1, 0).arrays(), planner.plan(1, 1).arrays()
    assert any(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_stop_ends_the_run_with_the_step_in_which_a_source_ran_out(sources):
    mixture = _mixture(sources, max_epochs=(None, 1, None), on_exhausted="stop")
    loader = PackedLoader(mixture, SEQ_LEN, 4)
    steps = sum(1 for _ in loader)
    report = loader.stats()
    assert report["ended"] and report["step"] == steps
    assert [s["epoch"] for s in report["sources"]][1] == 1
    assert report["sources"][1]["rows"] == loader.core_mixture.plan(1, 0).num_packs
    # One step earlier the SQL source still had rows.
    state, made = loader.core_mixture.advance(loader.core_mixture.start(), steps - 1, 4, True)
    assert made == steps - 1 and not loader.core_mixture.report(state)["ended"]
    assert list(loader) == []  # nothing after the end


def test_schedule_switches_weights_at_the_right_step(sources):
    mixture = Mixture(
        [Source(sources[n], w, name=n) for n, w in zip(NAMES, (1.0, 0.0, 0.0), strict=True)],
        schedule=[{"at": 5, "weights": {"sql": 1.0}}, {"at": 9, "weights": {"chat": 1}}],
    )
    loader = PackedLoader(mixture, SEQ_LEN, 4)
    ids = [b["source_ids"].tolist() for b in itertools.islice(loader, 12)]
    assert ids == [[0] * 4] * 5 + [[1] * 4] * 4 + [[2] * 4] * 3
    assert loader.stats()["stage"] == 2


def test_linear_schedule_by_tokens_moves_the_weights(sources):
    mixture = Mixture(
        [Source(sources[n], w, name=n) for n, w in zip(NAMES, (1.0, 1.0, 0.0), strict=True)],
        schedule=[{"at": 20_000, "weights": {"code": 1, "chat": 1}}],
        unit="tokens",
        interpolation="linear",
    )
    loader = PackedLoader(mixture, SEQ_LEN, 4)
    weights = []
    for _ in loader:  # until the schedule's end point in real (not padded) tokens
        weights.append([s["weight"] for s in loader.stats()["sources"]])
        if loader.stats()["real_tokens"] >= 20_000:
            break
    assert weights[0][2] > 0 and weights[-1] == [0.5, 0.0, 0.5]
    assert 0 < weights[len(weights) // 2][1] < 0.5
    assert all(a[2] <= b[2] for a, b in itertools.pairwise(weights))


def test_resume_at_random_steps_and_on_another_world_size(sources):
    def loader(**kw: Any) -> MixtureLoader:
        kw = {"batch_size": 4, **kw}
        made = PackedLoader(_mixture(sources, max_epochs=(None, 2, None)), SEQ_LEN, **kw)
        assert isinstance(made, MixtureLoader)
        return made

    whole = [_rows(b) for b in itertools.islice(loader(), 40)]
    flat = [row for step in whole for row in step]
    rng = random.Random(7)
    for at in sorted(rng.sample(range(1, 39), 4)):
        first = loader()
        for _ in itertools.islice(first, at):
            pass
        state = json.loads(json.dumps(first.state_dict()))  # survives a JSON file
        again = loader()
        again.load_state_dict(state)
        rest = [_rows(b) for b in itertools.islice(again, 40 - at)]
        for a, b in zip(rest, whole[at:], strict=True):
            assert [s for s, _ in a] == [s for s, _ in b]
            assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b, strict=True))
        # On 2 ranks of 4 rows (8 a step): the same rows follow, split between the ranks.
        ranks = []
        for rank in range(2):
            other = loader(rank=rank, world_size=2)
            other.load_state_dict(state)
            ranks.append([_rows(b) for b in itertools.islice(other, 5)])
        rows = [row for step in range(5) for r in range(2) for row in ranks[r][step]]
        expected = flat[at * 4 : at * 4 + 40]
        assert [s for s, _ in rows] == [s for s, _ in expected]
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(rows, expected, strict=True))


def test_a_state_of_another_mixture_or_loader_is_refused(sources):
    loader = PackedLoader(_mixture(sources), SEQ_LEN, 4)
    next(iter(loader))
    state = loader.state_dict()
    other = PackedLoader(_mixture(sources, (0.4, 0.4, 0.2)), SEQ_LEN, 4)
    with pytest.raises(InvalidInputError, match="another mixture"):
        other.load_state_dict(state)
    single = PackedLoader(sources["sql"], SEQ_LEN, 4)
    with pytest.raises(InvalidInputError, match="packed loader over one dataset"):
        loader.load_state_dict(single.state_dict())
    broken = {
        **state,
        "sources": [{**state["sources"][0], "consumed": 10**6}, *state["sources"][1:]],
    }
    with pytest.raises(
        InvalidInputError, match=r"source \"code\": key 'consumed' = 1000000 is beyond epoch 0"
    ):
        loader.load_state_dict(broken)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ((0.5, -0.1, 0.2), 'source "sql": weight must be a finite number ≥ 0, got -0.1'),
        ((0.0, 0.0, 0.0), "all weights are zero"),
        ((0.5, float("nan"), 0.2), "mixture source 'sql': weight must be a finite number"),
        ((0.5, float("inf"), 0.2), "mixture source 'sql': weight must be a finite number"),
    ],
)
def test_bad_weights_are_refused_naming_the_source(sources, weights, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        PackedLoader(_mixture(sources, weights), SEQ_LEN, 4)


def _step_rows(batches: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    """The rows of one step over its ranks' batches, as (source, tokens), in a fixed order."""
    return sorted((s, t.tobytes()) for batch in batches for s, t in _rows(batch))


@pytest.mark.parametrize("micro_batches", [None, 2])
def test_balancing_deals_each_steps_rows_by_cost(sources, micro_batches):
    steps, world = 6, 2
    options = {"balance": "attention", "micro_batches": micro_batches}
    dealt = [
        list(
            itertools.islice(
                PackedLoader(_mixture(sources), SEQ_LEN, 4, rank=r, world_size=world, **options),
                steps,
            )
        )
        for r in range(world)
    ]
    plain = [
        list(
            itertools.islice(
                PackedLoader(_mixture(sources), SEQ_LEN, 4, rank=r, world_size=world), steps
            )
        )
        for r in range(world)
    ]
    moved = False
    for step in range(steps):
        balanced_rows = _step_rows([dealt[r][step] for r in range(world)])
        assert balanced_rows == _step_rows([plain[r][step] for r in range(world)])
        moved |= any(
            not torch.equal(dealt[r][step]["input_ids"], plain[r][step]["input_ids"])
            for r in range(world)
        )
    assert moved  # the deal by cost changed some step


def test_balancing_token_budget_steps_keeps_their_rows(sources):
    steps, world, budget = 6, 2, 3 * SEQ_LEN
    runs = {}
    for balance in ("none", "attention"):
        runs[balance] = [
            list(
                itertools.islice(
                    PackedLoader(
                        _mixture(sources),
                        SEQ_LEN,
                        batch_tokens=budget,
                        rank=r,
                        world_size=world,
                        balance=balance,
                    ),
                    steps,
                )
            )
            for r in range(world)
        ]
    for step in range(steps):
        batches = {b: [runs[b][r][step] for r in range(world)] for b in runs}
        assert all(x["input_ids"].shape[1] <= budget for x in batches["attention"])
        tokens = {
            b: np.sort(np.concatenate([x["input_ids"].numpy()[0] for x in batches[b]]))
            for b in batches
        }
        assert np.array_equal(tokens["none"], tokens["attention"])


def test_missing_corrupt_and_foreign_sources_are_refused_naming_them(sources, tmp_path):
    with pytest.raises(SeqpackIOError, match="mixture source 'gone'"):
        PackedLoader(Mixture([Source(tmp_path / "nowhere", name="gone")]), SEQ_LEN, 4)
    broken = tmp_path / "broken"
    shutil.copytree(sources["sql"], broken)
    shard = sorted(broken.glob("*.arrow"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptDatasetError, match="mixture source 'broken'"):
        PackedLoader(Mixture([Source(broken, name="broken")]), SEQ_LEN, 4)
    foreign = {sources["code"]: 1.0, sources["other"]: 1.0}
    with pytest.raises(
        InvalidInputError, match=r"source \".*other\" was made with another tokenizer"
    ):
        PackedLoader(foreign, SEQ_LEN, 4)


def test_mixture_files_json_and_yaml(sources, tmp_path, monkeypatch):
    spec = {
        "sources": [
            {"path": str(sources["code"]), "weight": 0.5, "name": "code"},
            {"path": str(sources["sql"]), "weight": 0.5, "max_epochs": 2, "name": "sql"},
        ],
        "schedule": {"stages": [{"at": 3, "weights": {"sql": 1}}]},
        "on_exhausted": "stop",
    }
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(spec))
    mixture = Mixture.read(path)
    assert mixture.names == ["code", "sql"]
    assert mixture.on_exhausted == "stop" and mixture.sources[1].max_epochs == 2
    assert mixture.spec()["stages"][1] == {"at": 3, "weights": {"sql": 1}}
    # A dict of paths to weights, relative to the file.
    (tmp_path / "rel.json").write_text(json.dumps({"sources": {"data": 1.0}}))
    assert Mixture.read(tmp_path / "rel.json").sources[0].path == tmp_path / "data"
    yaml_path = tmp_path / "mix.yaml"
    yaml_path.write_text("sources:\n  " + str(sources["sql"]) + ": 1.0\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(InvalidInputError, match="needs PyYAML"):
        Mixture.read(yaml_path)
    monkeypatch.undo()
    pytest.importorskip("yaml")
    assert Path(Mixture.read(yaml_path).sources[0].path) == sources["sql"]
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidInputError, match=r"bad\.json: not valid JSON"):
        Mixture.read(tmp_path / "bad.json")


def test_loader_pickles_for_spawned_workers(sources):
    import pickle

    loader = PackedLoader(_mixture(sources), SEQ_LEN, 4)
    next(iter(loader))
    copy = pickle.loads(pickle.dumps(loader))
    assert isinstance(copy, MixtureLoader)
    assert copy.state_dict() == loader.state_dict()
    a, b = next(iter(copy)), next(iter(loader))
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert torch.equal(a["source_ids"], b["source_ids"])


@settings(max_examples=12, deadline=None)
@given(
    weights=st.lists(st.floats(0.05, 10.0), min_size=3, max_size=3),
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**32),
)
def test_deficit_rule_bound_holds_for_any_weights(sources, weights, batch, seed):
    loader = PackedLoader(_mixture(sources, tuple(weights)), SEQ_LEN, batch, seed=seed)
    planner = loader.core_mixture
    state = planner.read_state(loader.state_dict())
    for step in range(12):
        state, made = planner.advance(state, 1, batch, True)
        assert made == 1
        report = planner.report(state)
        tokens = np.array([s["real_tokens"] for s in report["sources"]], dtype=float)
        targets = np.array([s["target_tokens"] for s in report["sources"]])
        _check_bound(tokens, targets, f"step {step}")
        assert abs(targets.sum() - tokens.sum()) < 1e-6 * max(tokens.sum(), 1)


def test_cli_mix_prints_the_plan_per_stage_and_when_sources_run_out(sources, tmp_path, capsys):
    from seqpack.cli import main

    spec = {
        "sources": [
            {"path": str(sources["code"]), "weight": 0.7, "name": "code"},
            {"path": str(sources["sql"]), "weight": 0.3, "max_epochs": 1, "name": "sql"},
        ],
        "schedule": {"stages": [{"at": 10, "weights": {"code": 0.2, "sql": 0.8}}]},
    }
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(spec))
    args = ["mix", str(path), "--seq-len", str(SEQ_LEN), "--steps", "150", "--batch", "4"]
    assert main([*args, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    first, second = plan["stages"]
    assert (first["steps"], second["steps"]) == ([0, 10], [10, 150])
    # 40 rows, each source within one row of its 0.7/0.3 share of the stage's real tokens
    assert sum(s["rows"] for s in first["sources"]) == 40
    stage_tokens = sum(s["real_tokens"] for s in first["sources"])
    for source, weight in zip(first["sources"], (0.7, 0.3), strict=True):
        assert abs(source["real_tokens"] - weight * stage_tokens) <= SEQ_LEN
    assert second["sources"][1]["share"] > 0.5
    sql_rows = PackedLoader(Mixture([Source(sources["sql"])]), SEQ_LEN, 4).core_mixture.plan(0, 0)
    ran_out = [e for e in plan["events"] if "sql ran out (max_epochs 1)" in e]
    assert len(ran_out) == 1
    sql_rows_before = sum(stage["sources"][1]["rows"] for stage in plan["stages"][:-1])
    assert plan["stages"][-1]["sources"][1]["rows"] + sql_rows_before == sql_rows.num_packs
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "stage 1: steps 10.." in text and "sql ran out" in text
    assert main(["mix", str(tmp_path / "missing.json"), "--seq-len", "8", "--steps", "1"]) == 2
    assert "cannot read the mixture file" in capsys.readouterr().err


def _flat_tokens(batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The tokens of a flattened batch and the source of each (from its documents')."""
    ids = batch["input_ids"].numpy()[0]
    lengths = np.diff(batch["cu_seqlens"].numpy())
    assert len(batch["source_ids"]) == len(lengths)
    return ids, np.repeat(batch["source_ids"].numpy(), lengths)


def test_token_budget_batches_are_the_deficit_rule_rows_dealt_by_next_fit(sources):
    budget, steps = 3 * SEQ_LEN, 10
    per_rank = []
    for rank in range(2):
        loader = PackedLoader(
            _mixture(sources), SEQ_LEN, batch_tokens=budget, rank=rank, world_size=2
        )
        per_rank.append(list(itertools.islice(loader, steps)))
        assert loader.stats()["step"] == steps
    tokens, owners = [], []
    for step in range(steps):
        for rank in range(2):
            batch = per_rank[rank][step]
            assert batch["input_ids"].shape[0] == 1
            assert 0 < batch["input_ids"].shape[1] <= budget
            ids, source = _flat_tokens(batch)
            tokens.append(ids)
            owners.append(source)
    # Ranks take the rows in the order of the deficit rule, which no split changes: the
    # same tokens, from the same sources, as a run of one row per step.
    flat, flat_sources = np.concatenate(tokens), np.concatenate(owners)
    rows = PackedLoader(_mixture(sources), SEQ_LEN, 1)
    row_tokens, row_sources = [], []
    while sum(len(t) for t in row_tokens) < len(flat):
        [(source, ids)] = _rows(next(iter(rows)))
        row_tokens.append(ids)
        row_sources.append(np.full(len(ids), source))
    assert sum(len(t) for t in row_tokens) == len(flat)
    assert np.array_equal(np.concatenate(row_tokens), flat)
    assert np.array_equal(np.concatenate(row_sources), flat_sources)
    # The shares stay within the bound.
    stats = rows.stats()
    taken = np.array([s["real_tokens"] for s in stats["sources"]], dtype=float)
    assert taken.tolist() == [float((flat_sources == i).sum()) for i in range(3)]
    _check_bound(taken, np.array([s["target_tokens"] for s in stats["sources"]]), "budget")


def test_token_budget_resumes_exactly(sources):
    first = PackedLoader(_mixture(sources), SEQ_LEN, batch_tokens=2 * SEQ_LEN)
    it = iter(first)
    for _ in range(5):
        next(it)
    state = json.loads(json.dumps(first.state_dict()))
    expected = [next(it) for _ in range(4)]
    again = PackedLoader(_mixture(sources), SEQ_LEN, batch_tokens=2 * SEQ_LEN)
    again.load_state_dict(state)
    got = list(itertools.islice(again, 4))
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


def test_a_token_budget_below_seq_len_is_refused(sources):
    with pytest.raises(InvalidInputError, match="batch_tokens"):
        PackedLoader(_mixture(sources), SEQ_LEN, batch_tokens=SEQ_LEN - 1)


def test_patch_size_aligns_every_sources_documents_to_patches(sources):
    k = 4
    loader = PackedLoader(_mixture(sources), SEQ_LEN, 4, patch_size=k)
    for batch in itertools.islice(loader, 6):
        docs = batch["document_ids"].numpy()
        # Every document starts on a patch boundary, so no patch mixes documents.
        starts = np.argwhere(batch["position_ids"].numpy() == 0)
        assert (starts[:, 1] % k == 0).all()
        patches = docs.reshape(docs.shape[0], -1, k)
        assert (patches == patches[:, :, :1]).all()
        assert batch["patch_document_ids"].shape == (4, SEQ_LEN // k)
        assert batch["source_ids"].shape == (4,)
    # The alignment is part of the mixture: a state of an unaligned run is refused.
    with pytest.raises(InvalidInputError, match="another mixture"):
        loader.load_state_dict(PackedLoader(_mixture(sources), SEQ_LEN, 4).state_dict())


@pytest.mark.parametrize("layout", ["row", "per-document"])
def test_context_parallel_shards_of_a_mixture_make_its_rows(sources, layout):
    shards = [
        PackedLoader(_mixture(sources), SEQ_LEN, 2, cp_size=2, cp_rank=r, cp_layout=layout)
        for r in range(2)
    ]
    # "row" leaves the rows as they are; "per-document" pads documents to a multiple of 4.
    align = 1 if layout == "row" else 4
    whole = PackedLoader(_mixture(sources), SEQ_LEN, 2, patch_size=align)
    for first, second, full in itertools.islice(zip(*shards, whole, strict=True), 4):
        rebuilt = torch.full_like(full["input_ids"], -1)
        for part in (first, second):
            assert part["input_ids"].shape == (2, SEQ_LEN // 2)
            assert torch.equal(part["source_ids"], full["source_ids"])
            rebuilt.scatter_(1, part["gather_indices"], part["input_ids"])
        assert torch.equal(rebuilt, full["input_ids"])

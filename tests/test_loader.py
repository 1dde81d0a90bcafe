"""`seqpack.torch.PackedLoader` on a real dataset: the batch contract, every token once across
ranks and batches, epochs, exact resume (also on another world size), DataLoader workers and
fork, packed datasets, bad options."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import seqpack
from seqpack.cli import main
from seqpack.errors import CorruptDatasetError, InvalidInputError

torch = pytest.importorskip("torch")

from seqpack.torch import PackedLoader  # noqa: E402

SEQ_LEN = 256


def plan_rows(loader: PackedLoader, epoch: int) -> list[list[tuple[int, int, int]]]:
    """The plan of ``epoch`` as rows of (document, first token, tokens)."""
    offsets, doc, start, length = loader.planner.plan(epoch).arrays()
    return [
        list(zip(doc[a:b].tolist(), start[a:b].tolist(), length[a:b].tolist(), strict=True))
        for a, b in itertools.pairwise(offsets.tolist())
    ]


def check_row(batch: dict[str, Any], i: int, row: list[tuple[int, int, int]], ds: Any) -> None:
    """Row ``i`` of ``batch`` holds exactly the segments ``row`` under the batch contract."""
    ids, labels = batch["input_ids"][i].numpy(), batch["labels"][i].numpy()
    positions, documents = batch["position_ids"][i].numpy(), batch["document_ids"][i].numpy()
    at = 0
    for index, (d, s, n) in enumerate(row):
        tokens = ds[d][s : s + n].astype(np.int64)
        np.testing.assert_array_equal(ids[at : at + n], tokens)
        np.testing.assert_array_equal(labels[at : at + n], [-100, *tokens[1:]])
        np.testing.assert_array_equal(positions[at : at + n], np.arange(n))
        assert (documents[at : at + n] == index).all()
        at += n
    pad = ids.shape[0] - at
    assert (ids[at:] == 0).all() and (labels[at:] == -100).all()
    assert (documents[at:] == -1).all()
    np.testing.assert_array_equal(positions[at:], np.arange(pad))


def test_batches_keep_the_contract_and_cover_every_token_once_across_ranks(
    loader_dataset: Path,
) -> None:
    ds = seqpack.Dataset(loader_dataset)
    world, batch_size = 3, 4
    loaders = [
        PackedLoader(loader_dataset, SEQ_LEN, batch_size, rank=r, world_size=world, drop_last=False)
        for r in range(world)
    ]
    rows = plan_rows(loaders[0], 0)
    assert len({len(loader) for loader in loaders}) == 1, "ranks must get equal batch counts"
    assert len(loaders[0]) == -(-len(rows) // (world * batch_size))
    seen = [np.zeros(n, dtype=np.int32) for n in ds.lengths]
    for rank, loader in enumerate(loaders):
        for step, batch in enumerate(loader):
            assert batch["input_ids"].shape == (batch_size, SEQ_LEN)
            assert batch["input_ids"].dtype == torch.int64
            assert batch["document_ids"].dtype == torch.int32
            cu = batch["cu_seqlens"]
            assert cu.dtype == torch.int32 and cu[0] == 0 and cu[-1] == batch_size * SEQ_LEN
            starts = (batch["position_ids"].reshape(-1) == 0).nonzero().flatten()
            np.testing.assert_array_equal(cu[:-1].numpy(), starts.numpy())
            assert batch["max_seqlen"] == int((cu[1:] - cu[:-1]).max())
            for i in range(batch_size):
                p = step * world * batch_size + rank * batch_size + i
                row = rows[p] if p < len(rows) else []
                check_row(batch, i, row, ds)
                for d, s, n in row:
                    seen[d][s : s + n] += 1
    assert all((s == 1).all() for s in seen), "a token was dropped or repeated"


def test_drop_last_leaves_out_only_what_it_reports(loader_dataset: Path) -> None:
    ds = seqpack.Dataset(loader_dataset)
    loader = PackedLoader(loader_dataset, SEQ_LEN, 8, world_size=2, rank=1)
    stats = loader.stats()
    assert stats["rows_left_out"] == stats["rows"] % 16
    assert stats["real_tokens"] == ds.num_tokens and stats["truncated_tokens"] == 0
    steps = len(loader)
    assert steps == stats["rows"] // 16
    assert sum(1 for _ in loader) == steps


def test_epochs_and_seeds_change_the_rows_and_repeat_them(loader_dataset: Path) -> None:
    def fingerprint(epoch: int, seed: int) -> list[list[tuple[int, int, int]]]:
        return plan_rows(PackedLoader(loader_dataset, SEQ_LEN, 4, seed=seed), epoch)

    def composition(rows: list[list[tuple[int, int, int]]]) -> set[frozenset[tuple[int, int]]]:
        return {frozenset((d, s) for d, s, _ in row) for row in rows}

    assert fingerprint(0, 0) == fingerprint(0, 0)
    assert fingerprint(1, 0) != fingerprint(0, 0)
    assert fingerprint(0, 1) != fingerprint(0, 0)
    # Other rows, not only another order.
    assert composition(fingerprint(1, 0)) != composition(fingerprint(0, 0))
    unshuffled = PackedLoader(loader_dataset, SEQ_LEN, 4, shuffle=False)
    assert plan_rows(unshuffled, 0) == plan_rows(unshuffled, 3)


def batches(loader: PackedLoader, count: int | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if count == 0:
        return out
    for batch in loader:
        out.append(batch)
        if count is not None and len(out) == count:
            break
    return out


def assert_same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], torch.Tensor):
                assert torch.equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key


def test_resume_gives_exactly_the_batches_of_an_uninterrupted_run(loader_dataset: Path) -> None:
    def make() -> PackedLoader:
        return PackedLoader(loader_dataset, SEQ_LEN, 4, seed=7)

    reference = make()
    steps = len(reference)
    uninterrupted = batches(reference) + batches(reference)  # two epochs
    assert reference.epoch == 2
    rng = random.Random(0)
    for cut in sorted({0, steps - 1, steps, *rng.sample(range(1, 2 * steps), 4)}):
        first = make()
        head = batches(first, cut) if cut < steps else batches(first) + batches(first, cut - steps)
        assert len(head) == cut
        state = json.loads(json.dumps(first.state_dict()))  # a state survives JSON
        resumed = make()
        resumed.load_state_dict(state)
        tail = batches(resumed)
        if resumed.epoch == 1 and cut < steps:
            tail += batches(resumed)
        assert_same(head + tail, uninterrupted)
    # A state saved at the last batch of the epoch, the generator never resumed after it:
    # the resumed loader starts the next epoch.
    last = make()
    for i, _ in enumerate(last, start=1):
        if i == steps:
            state = last.state_dict()
            break
    assert (state["epoch"], state["consumed"]) == (1, 0)
    resumed = make()
    resumed.load_state_dict(state)
    assert_same(batches(resumed), uninterrupted[steps:])
    with pytest.raises(InvalidInputError, match="key 'consumed' must be a non-negative integer"):
        resumed.load_state_dict({**state, "consumed": -4})


def test_an_older_iterator_cannot_move_the_state(loader_dataset: Path) -> None:
    loader = PackedLoader(loader_dataset, SEQ_LEN, 4)
    reference = batches(PackedLoader(loader_dataset, SEQ_LEN, 4))
    first = iter(loader)
    peeked = next(first)  # a peek consumes its batch
    rest = batches(loader)
    assert_same([peeked, *rest], reference)
    with pytest.raises(RuntimeError, match="stale"):
        next(first)


def test_resume_on_another_world_size_loses_and_repeats_nothing(loader_dataset: Path) -> None:
    first = [PackedLoader(loader_dataset, SEQ_LEN, 4, rank=r, world_size=2) for r in range(2)]
    rows = plan_rows(first[0], 0)
    for loader in first:
        batches(loader, 5)
    state = first[0].state_dict()
    assert state == first[1].state_dict()
    assert state["consumed"] == 5 * 2 * 4
    seen = [0] * len(rows)
    for p in range(5 * 2 * 4):
        seen[p] += 1
    then = [PackedLoader(loader_dataset, SEQ_LEN, 4, rank=r, world_size=3) for r in range(3)]
    for rank, loader in enumerate(then):
        loader.load_state_dict(state)
        ds = loader.dataset
        for step, batch in enumerate(loader):
            for i in range(4):
                p = state["consumed"] + step * 12 + rank * 4 + i
                check_row(batch, i, rows[p], ds)
                seen[p] += 1
    assert max(seen) == 1, "a row was repeated"
    tail = len(rows) - state["consumed"]
    assert seen.count(0) == tail % 12, "only rows that fill no last step may wait"


def test_inside_a_dataloader_with_workers_the_order_is_unchanged(loader_dataset: Path) -> None:
    # Two persistent workers with unequal shares of an epoch.
    loader = next(
        candidate
        for batch_size in (8, 9, 10, 11)
        if len(candidate := PackedLoader(loader_dataset, SEQ_LEN, batch_size)) % 2
    )
    direct = [batches(loader), batches(loader)]  # epochs 0 and 1
    # Persistent workers keep their copies, which move to the next epoch on their own.
    loader.set_epoch(0)
    wrapped = torch.utils.data.DataLoader(
        loader, batch_size=None, num_workers=2, persistent_workers=True
    )
    assert_same(list(wrapped), direct[0])
    assert_same(list(wrapped), direct[1])
    # Other workers start from the main process's copy: set_epoch tells them the epoch.
    for context in ("fork", "spawn"):
        wrapped = torch.utils.data.DataLoader(
            loader, batch_size=None, num_workers=2, multiprocessing_context=context
        )
        for epoch in (0, 1):
            loader.set_epoch(epoch)
            assert_same(list(wrapped), direct[epoch])


def test_a_forked_child_continues_the_stream_without_hanging(loader_dataset: Path) -> None:
    loader = PackedLoader(loader_dataset, SEQ_LEN, 4, prefetch=2)
    expected = batches(PackedLoader(loader_dataset, SEQ_LEN, 4, prefetch=2), 4)
    stream = iter(loader)
    assert_same([next(stream)], expected[:1])  # the producer thread is running now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy of the stream has no producer thread
        signal.alarm(60)
        try:
            ok = all(torch.equal(next(stream)["input_ids"], e["input_ids"]) for e in expected[1:])
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1", "the forked child hung or got other batches"
    assert_same([next(stream) for _ in range(3)], expected[1:])  # the parent is unaffected


def test_offline_packing_writes_a_dataset_others_read_and_the_loader_trains_on(
    loader_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "packed"
    code = main(["pack", str(loader_dataset), "--seq-len", str(SEQ_LEN), "--out", str(out)])
    assert code == 0
    source = seqpack.Dataset(loader_dataset)
    packed = seqpack.Dataset(out)
    assert packed.packing is not None and packed.packing["seq_len"] == SEQ_LEN
    datasets = pytest.importorskip("datasets")
    files = [str(p) for p in packed.shard_paths]
    hf = datasets.load_dataset("arrow", data_files=files, split="train")
    assert len(hf) == len(packed)
    seen = [np.zeros(n, dtype=np.int32) for n in source.lengths]
    for row in hf:
        assert len(row["input_ids"]) == SEQ_LEN
        at = 0
        for d, s, n in zip(row["documents"], row["starts"], row["seq_lengths"], strict=True):
            np.testing.assert_array_equal(row["input_ids"][at : at + n], source[d][s : s + n])
            seen[d][s : s + n] += 1
            at += n
        assert all(t == 0 for t in row["input_ids"][at:])
    assert all((s == 1).all() for s in seen)

    loader = PackedLoader(out, SEQ_LEN, 4, drop_last=False)
    rows = plan_rows(loader, 0)
    assert len(rows) == len(packed)
    assert all(d == row[0][0] for row in rows for d, _, _ in row), "a stored row stays whole"
    for step, batch in enumerate(loader):
        for i in range(4):
            p = step * 4 + i
            check_row(batch, i, rows[p] if p < len(rows) else [], packed)
    with pytest.raises(InvalidInputError, match="rows of 256 tokens"):
        PackedLoader(out, 512, 4)


def test_masks_are_attached_on_request(loader_dataset: Path) -> None:
    loader = PackedLoader(loader_dataset, SEQ_LEN, 2, masks=("sdpa", "flex"))
    batch = next(iter(loader))
    assert "cu_seqlens" not in batch and "max_seqlen" not in batch
    assert batch["attention_mask"].shape == (2, 1, SEQ_LEN, SEQ_LEN)
    assert torch.equal(batch["block_mask"].to_dense().bool().any(-1), torch.ones(2, 1, 2).bool())


def test_bad_options_and_bad_datasets_raise_clear_errors(
    loader_dataset: Path, tmp_path: Path
) -> None:
    for kwargs, message in [
        ({"seq_len": 0}, "seq_len must be an integer"),
        ({"batch_size": 10_000}, "do not fill one step"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"masks": ("sdpa", "dense")}, "masks \\['dense'\\] are unknown"),
        ({"rank": 1}, "give both rank and world_size"),
        ({"rank": 2, "world_size": 2}, "rank must be in 0..1"),
        ({"algorithm": "best"}, 'algorithm "best" is unknown'),
        ({"prefetch": 0}, "prefetch must be a positive integer"),
    ]:
        args = {"seq_len": SEQ_LEN, "batch_size": 2, **kwargs}
        with pytest.raises(InvalidInputError, match=message):
            PackedLoader(loader_dataset, **args)
    loader = PackedLoader(loader_dataset, SEQ_LEN, 2)
    with pytest.raises(InvalidInputError, match="other options: seed = 0 there, 1 here"):
        PackedLoader(loader_dataset, SEQ_LEN, 2, seed=1).load_state_dict(loader.state_dict())

    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(loader_dataset, broken)
    shard = sorted(broken.glob("shard-*.arrow"))[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptDatasetError, match=f"{shard.name}: checksum"):
        PackedLoader(broken, SEQ_LEN, 2)
    with pytest.raises(InvalidInputError, match="state is of another dataset"):
        PackedLoader(loader_dataset, SEQ_LEN, 2).load_state_dict(
            {**loader.state_dict(), "dataset": "0" * 32}
        )

    mismatched = tmp_path / "mismatched"
    shutil.copytree(loader_dataset, mismatched)
    manifest = json.loads((mismatched / "manifest.json").read_text())
    manifest["shards"][0]["rows"] += 1
    (mismatched / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptDatasetError, match="rows, the manifest says"):
        PackedLoader(mismatched, SEQ_LEN, 2)


def _rank_worker(rank: int, store: str, data: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        loader = PackedLoader(data, SEQ_LEN, 4)
        first = next(iter(loader))["input_ids"]
        Path(out, f"rank{rank}.json").write_text(
            json.dumps({"rank": loader.rank, "world": loader.world_size, "ids": first.tolist()})
        )
    finally:
        dist.destroy_process_group()


def test_ranks_come_from_torch_distributed(loader_dataset: Path, tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(
        _rank_worker,
        args=(str(tmp_path / "store"), str(loader_dataset), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    for rank in range(2):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert (got["rank"], got["world"]) == (rank, 2)
        given = next(iter(PackedLoader(loader_dataset, SEQ_LEN, 4, rank=rank, world_size=2)))
        assert got["ids"] == given["input_ids"].tolist()

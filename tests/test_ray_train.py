"""Training on Ray: ``ray.train``'s ``TorchTrainer`` with two CPU workers (gloo) running
``PackedLoader`` on one dataset, each worker's rank taken from the process group Ray Train
sets up; together the workers see every packed row of an epoch exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import seqpack

# Ray and torch are in the `test` extra: a missing one fails the suite, it is not skipped.
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer
from seqpack.torch import PackedLoader

SEQ_LEN = 256
BATCH_SIZE = 4


def train_loop(config: dict[str, Any]) -> None:
    """One epoch on a worker: every batch row checked against the epoch's plan row it must
    be for this rank, and the plan rows seen written to ``{out}/rank-{rank}.json``."""
    import torch.distributed as dist

    loader = PackedLoader(config["data"], SEQ_LEN, BATCH_SIZE, drop_last=False)
    rank, world = dist.get_rank(), dist.get_world_size()
    assert (loader.rank, loader.world_size) == (rank, world)
    dataset = seqpack.Dataset(config["data"])
    offsets, doc, start, length = loader.planner.plan(0).arrays()
    seen = []
    for step, batch in enumerate(loader):
        for i in range(BATCH_SIZE):
            row = (step * world + rank) * BATCH_SIZE + i
            if row + 1 >= len(offsets):
                continue
            a, b = int(offsets[row]), int(offsets[row + 1])
            segments = zip(doc[a:b], start[a:b], length[a:b], strict=True)
            expected = np.concatenate([dataset[d][s : s + n] for d, s, n in segments])
            got = batch["input_ids"][i].numpy()
            np.testing.assert_array_equal(got[: len(expected)], expected)
            seen.append(row)
    Path(config["out"], f"rank-{rank}.json").write_text(json.dumps(seen))


@pytest.mark.usefixtures("ray_cluster")
def test_two_ray_train_workers_see_every_row_once(
    loader_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The controller polls its workers this often (2 s by default, most of it idle waiting
    # here); Ray Train passes the variable on to the controller.
    monkeypatch.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"data": str(loader_dataset), "out": str(tmp_path)},
        scaling_config=ScalingConfig(num_workers=2, use_gpu=False),
        torch_config=TorchConfig(backend="gloo"),
        run_config=RunConfig(storage_path=str(tmp_path / "runs"), name="loader"),
    )
    trainer.fit()
    rows = PackedLoader(loader_dataset, SEQ_LEN, BATCH_SIZE).planner.plan(0).num_packs
    seen = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in range(2)]
    assert all(seen), "both ranks trained"
    assert sorted(seen[0] + seen[1]) == list(range(rows)), "every row once"

"""Context-parallel options from a device mesh or a process group (`cp_mesh=`), on a real
gloo group of two CPU processes: each process gets the shards of its rank in the group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from seqpack.errors import InvalidInputError

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from seqpack.torch import PackedLoader  # noqa: E402

SEQ_LEN = 256
CP = 2


def _shards(rank: int, data: str, store: str, out: str) -> None:
    """One process of the group: the first batches' gather indices and tokens, with the
    group given as a DeviceMesh and as a process group."""
    from torch.distributed.device_mesh import init_device_mesh

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=CP)
    try:
        mesh = init_device_mesh("cpu", (CP,), mesh_dim_names=("cp",))
        got: dict[str, Any] = {}
        for name, group in (("mesh", mesh["cp"]), ("group", dist.group.WORLD)):
            loader = PackedLoader(data, SEQ_LEN, 2, cp_mesh=group, rank=0, world_size=1)
            batch = next(iter(loader))
            got[name] = {
                "cp": [loader.cp.size, loader.cp.rank] if loader.cp else None,
                "gather": batch["gather_indices"].tolist(),
                "ids": batch["input_ids"].tolist(),
            }
        Path(out, f"{rank}.json").write_text(json.dumps(got))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_cp_mesh_gives_each_process_its_rank_s_shards(loader_dataset: Path, tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(
        _shards,
        args=(str(loader_dataset), str(tmp_path / "store"), str(tmp_path)),
        nprocs=CP,
        join=True,
    )
    for rank in range(CP):
        got = json.loads((tmp_path / f"{rank}.json").read_text())
        expected = next(iter(PackedLoader(loader_dataset, SEQ_LEN, 2, cp_size=CP, cp_rank=rank)))
        for name in ("mesh", "group"):
            assert got[name]["cp"] == [CP, rank]
            assert got[name]["gather"] == expected["gather_indices"].tolist()
            assert got[name]["ids"] == expected["input_ids"].tolist()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cp_mesh": object()}, "cp_mesh must be a torch DeviceMesh or a torch.distributed"),
        ({"cp_mesh": object(), "cp_size": 2}, "not both"),
    ],
)
def test_bad_cp_meshes_raise_clear_errors(
    loader_dataset: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        PackedLoader(loader_dataset, SEQ_LEN, 2, **options)

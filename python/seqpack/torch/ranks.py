"""Where this process stands: its rank and world size, and its DataLoader worker."""

from __future__ import annotations

from typing import Any

import torch

from seqpack import _core
from seqpack.errors import InvalidInputError

__all__ = ["cp_ranks", "ranks", "worker"]


def ranks(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)`` as given (checked by the core's step split), or from
    ``torch.distributed`` when neither is (0 and 1 without it)."""
    if rank is None and world_size is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1
    if rank is None or world_size is None:
        raise InvalidInputError("give both rank and world_size, or neither")
    split = _core.StepSplit(
        batch_size=1, world_size=world_size, rank=rank, drop_last=True, pad_id=0, prefetch=1
    )
    return split.rank, split.world_size


def cp_ranks(cp_mesh: Any) -> tuple[int, int]:
    """``(cp_size, cp_rank)`` of a context-parallel group given as a one-dimensional torch
    ``DeviceMesh`` (``mesh["cp"]`` of a larger one) or a ``torch.distributed`` process group
    (of which this process must be a member)."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import DeviceMesh

    if isinstance(cp_mesh, DeviceMesh):
        if cp_mesh.ndim != 1:
            raise InvalidInputError(
                f"cp_mesh must be a one-dimensional DeviceMesh (the context-parallel dimension, "
                f"e.g. mesh['cp']), got one of {cp_mesh.ndim} dimensions"
            )
        return cp_mesh.size(), cp_mesh.get_local_rank()
    if isinstance(cp_mesh, dist.ProcessGroup):
        rank = dist.get_rank(cp_mesh)
        if rank < 0:
            raise InvalidInputError("cp_mesh is a process group this process is not a member of")
        return dist.get_world_size(cp_mesh), rank
    raise InvalidInputError(
        f"cp_mesh must be a torch DeviceMesh or a torch.distributed ProcessGroup, got a "
        f"{type(cp_mesh).__name__}"
    )


def worker() -> tuple[int, int]:
    """``(worker id, workers)`` of the DataLoader worker this runs in; ``(0, 1)`` outside."""
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)

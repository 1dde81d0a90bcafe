"""Where this process stands: its rank and world size, and its DataLoader worker."""

from __future__ import annotations

import torch

from seqpack import _core
from seqpack.errors import InvalidInputError

__all__ = ["ranks", "worker"]


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


def worker() -> tuple[int, int]:
    """``(worker id, workers)`` of the DataLoader worker this runs in; ``(0, 1)`` outside."""
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)

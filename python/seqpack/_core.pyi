"""Type stubs of the extension module (checked against it with ``mypy.stubtest``)."""

from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["Packing", "__version__", "lower_bound", "pack"]
__version__: str

@final
class Packing:
    """A CSR list of packs: pack ``p`` holds entries ``pack_offsets[p]:pack_offsets[p + 1]``;
    entry ``e`` is tokens ``start[e]:start[e] + length[e]`` of document ``doc[e]``."""

    @property
    def pack_offsets(self) -> npt.NDArray[np.int64]: ...
    @property
    def doc(self) -> npt.NDArray[np.int64]: ...
    @property
    def start(self) -> npt.NDArray[np.int64]: ...
    @property
    def length(self) -> npt.NDArray[np.int64]: ...
    @property
    def capacity(self) -> int: ...
    @property
    def num_packs(self) -> int: ...
    @property
    def efficiency(self) -> float: ...
    @property
    def placed_tokens(self) -> int: ...
    @property
    def truncated_tokens(self) -> int: ...
    @property
    def algorithm(self) -> str: ...
    def __len__(self) -> int: ...
    def stats(self) -> dict[str, int | float | str]: ...

def pack(
    lengths: npt.NDArray[np.int64],
    capacity: int,
    algorithm: str,
    max_docs_per_pack: int | None,
    long_docs: str,
    seed: int | None,
) -> Packing: ...
def lower_bound(
    lengths: npt.NDArray[np.int64], capacity: int, long_docs: str
) -> tuple[int, int]: ...

"""The one check of integer arrays handed to the core (lengths, token ids): 1-D, an integer
dtype, every value in the target dtype's range; returned contiguous in that dtype."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from seqpack.errors import InvalidInputError

Integer = TypeVar("Integer", np.int64, np.uint32)


def integer_array(
    values: npt.ArrayLike, name: str, dtype: type[Integer], out_of_range: str
) -> npt.NDArray[Integer]:
    """``values`` as a contiguous ``dtype`` array (a view where it already is one). Errors name
    ``name`` and the first bad index; ``out_of_range`` ends the message for a value outside
    ``dtype`` (e.g. ``"is not a token id"``)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:  # np.asarray([]) is float64; an empty input has no bad value
        return np.zeros(0, dtype=dtype)
    if array.dtype.kind == "f":
        bad = np.flatnonzero(np.isnan(array))
        if bad.size:
            raise InvalidInputError(f"{name}[{bad[0]}] is NaN; {name} must be integers")
        raise InvalidInputError(
            f"{name} must have an integer dtype, got {array.dtype}; convert with "
            f".astype(np.{np.dtype(dtype).name}) if the values are whole numbers"
        )
    if array.dtype.kind not in "iu":
        raise InvalidInputError(f"{name} must have an integer dtype, got {array.dtype}")
    if not np.can_cast(array.dtype, dtype):
        limits = np.iinfo(dtype)
        bad = np.flatnonzero((array < limits.min) | (array > limits.max))
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(f"{name}[{i}] = {array[i]} {out_of_range}")
    return np.ascontiguousarray(array, dtype=dtype)

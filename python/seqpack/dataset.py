"""Reading a dataset directory: memory-mapped Arrow shards described by ``manifest.json``.

The format, its checks and the dataset's identity belong to the core (``_core.Dataset``);
this module gives them a Python face: numpy views and a pyarrow table over the mapping."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seqpack import _core
from seqpack._forwarding import CoreAttribute

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Dataset", "default_long_docs"]

FORMAT_NAME: str = _core.DATASET_FORMAT
FORMAT_VERSION: int = _core.DATASET_FORMAT_VERSION


class Dataset:
    """A tokenized dataset directory, one row per document.

    Shards are memory-mapped: opening a dataset reads no token into memory, and
    ``dataset[i]`` is a read-only numpy view into the mapped file. Opening always checks
    the manifest, each shard's size and structure (offsets, ``length`` column) and the row
    and token counts; ``verify=True`` (the default) also checks every shard's checksum and
    that token ids are below the manifest's ``vocab_size``, and a ``tokenizer_fingerprint``
    (if given) is checked against the one the dataset was made with. Any mismatch raises
    :class:`seqpack.CorruptDatasetError` naming the file and the field.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        verify: bool = True,
        tokenizer_fingerprint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._core = _core.Dataset(
            self.path, verify=verify, tokenizer_fingerprint=tokenizer_fingerprint
        )
        self.manifest: dict[str, Any] = self._core.manifest
        # A preprocessed shard holds a record batch per 2^20 tokens: documents are found by
        # batch, each batch's columns being views of the mapping.
        self._batches = [pa.record_batch(batch) for batch in self._core.record_batches()]
        self._token_views: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]] = [
            (_zero_copy(ids.offsets), _zero_copy(ids.values))
            for ids in (batch.column("input_ids") for batch in self._batches)
        ]
        # Loss masks, in datasets that have them: uint8 views of the mapping, read as bool.
        self._mask_views: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]] | None = (
            [
                (_zero_copy(masks.offsets), _zero_copy(masks.values))
                for masks in (batch.column("loss_mask") for batch in self._batches)
            ]
            if self.manifest.get("loss_mask") is not None
            else None
        )
        rows = [batch.num_rows for batch in self._batches]
        self._row_starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
        self._lengths: npt.NDArray[np.uint32] | None = None

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"Dataset({str(self.path)!r}, documents={len(self):,}, "
            f"tokens={self.num_tokens:,}, shards={len(m['shards'])})"
        )

    num_tokens = CoreAttribute[int]()

    @property
    def shard_paths(self) -> list[Path]:
        """The shard files, in dataset order."""
        return [Path(p) for p in self._core.shard_paths]

    fingerprint = CoreAttribute[str](
        """A digest of the dataset's content (tokenizer and every shard's checksum): equal
        for equal datasets wherever they live, and different once any shard changes."""
    )
    token_store = CoreAttribute[_core.TokenStore](
        "The rows, memory-mapped, for the batch assembler."
    )

    @property
    def packing(self) -> dict[str, Any] | None:
        """For a packed dataset (``seqpack pack DIR --out``), how it was packed: ``seq_len``,
        ``algorithm``, … ; ``None`` for a dataset of one document per row."""
        packing: dict[str, Any] | None = self.manifest.get("options", {}).get("packing")
        return packing

    @property
    def lengths(self) -> npt.NDArray[np.uint32]:
        """Tokens per document (read-only; 4 bytes per document, made once)."""
        if self._lengths is None:
            self._lengths = self._core.lengths()
            self._lengths.flags.writeable = False
        return self._lengths

    def __getitem__(self, index: int) -> npt.NDArray[np.uint32]:
        """The tokens of document ``index`` as a read-only view into the mapped shard."""
        batch, row = self._locate(index)
        offsets, values = self._token_views[batch]
        return values[offsets[row] : offsets[row + 1]]

    @property
    def has_loss_mask(self) -> bool:
        """Whether the dataset stores which tokens are trained on (conversations,
        prompt/completion records); without masks every token is."""
        return self._mask_views is not None

    def loss_mask(self, index: int) -> npt.NDArray[np.bool_]:
        """Which tokens of document ``index`` are trained on (True), as a read-only view
        into the mapped shard; all True in a dataset without loss masks."""
        batch, row = self._locate(index)
        if self._mask_views is None:
            offsets, _ = self._token_views[batch]
            return np.ones(int(offsets[row + 1] - offsets[row]), dtype=np.bool_)
        offsets, values = self._mask_views[batch]
        # The core stores 0 or 1 per token: a bool view of the same bytes.
        mask: npt.NDArray[np.bool_] = values[offsets[row] : offsets[row + 1]].view(np.bool_)
        return mask

    def _locate(self, index: int) -> tuple[int, int]:
        """The record batch holding document ``index``, and its row there."""
        n = len(self)
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset indices must be integers, got {type(index).__name__}")
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"document {index} out of range for a dataset of {n}")
        batch = int(np.searchsorted(self._row_starts, index, side="right")) - 1
        return batch, int(index - int(self._row_starts[batch]))

    def __iter__(self) -> Iterator[npt.NDArray[np.uint32]]:
        for i in range(len(self)):
            yield self[i]

    def to_arrow(self) -> pa.Table:
        """All shards as one memory-mapped pyarrow table (a chunk per record batch, no
        copy)."""
        if not self._batches:
            return _empty_table()
        return pa.Table.from_batches(self._batches)


def default_long_docs(dataset: Dataset) -> Literal["split", "truncate"]:
    """How the loaders treat documents longer than a row by default: ``"truncate"`` for a
    dataset with loss masks (a fragment split off a conversation would train on an answer
    without its prompt; the start is kept instead), else ``"split"`` (every token trained,
    in fragments)."""
    return "truncate" if dataset.has_loss_mask else "split"


def _zero_copy(array: pa.Array) -> npt.NDArray[Any]:
    """A read-only numpy view of a primitive array without nulls (the core has checked
    both). Built from the data buffer directly: ``Array.to_numpy`` imports pandas, which
    would add most of a second to opening a dataset in every process."""
    dtype = np.dtype(array.type.to_pandas_dtype())
    data = array.buffers()[1]
    view: npt.NDArray[Any] = np.frombuffer(
        data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )
    return view


def _empty_table() -> pa.Table:
    return pa.table(
        {
            "input_ids": pa.array([], pa.large_list(pa.field("item", pa.uint32(), False))),
            "length": pa.array([], pa.uint32()),
            "doc_id": pa.array([], pa.uint64()),
            "source": pa.array([], pa.string()),
            "line": pa.array([], pa.uint64()),
        }
    )

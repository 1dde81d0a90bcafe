"""Reading a dataset directory: memory-mapped Arrow shards described by ``manifest.json``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seqpack import _core
from seqpack.errors import CorruptDatasetError, SeqpackIOError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Dataset"]

FORMAT_NAME = "seqpack-dataset"
FORMAT_VERSION = 1


class Dataset:
    """A tokenized dataset directory, one row per document.

    Shards are memory-mapped: opening a dataset reads no token into memory, and
    ``dataset[i]`` is a read-only numpy view into the mapped file. With ``verify=True`` (the
    default) every shard's size and checksum are checked against the manifest first, and a
    ``tokenizer_fingerprint`` (if given) against the one the dataset was made with; a
    mismatch raises :class:`seqpack.CorruptDatasetError` naming the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        verify: bool = True,
        tokenizer_fingerprint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = _read_manifest(self.path)
        fingerprint = self.manifest["tokenizer"]["fingerprint"]
        if tokenizer_fingerprint is not None and tokenizer_fingerprint != fingerprint:
            raise CorruptDatasetError(
                f"{self.path}: made with tokenizer {fingerprint}, "
                f"not the expected {tokenizer_fingerprint}"
            )
        self._tables: list[pa.Table] = []
        for entry in self.manifest["shards"]:
            shard = self.path / entry["file"]
            if verify:
                _verify_shard(shard, entry)
            self._tables.append(_open_shard(shard, entry))
        # A preprocessed shard holds a record batch per 2^20 tokens: documents are found by
        # batch, each batch's columns being views of the mapping.
        self._batches: list[pa.LargeListArray] = [
            chunk for table in self._tables for chunk in table.column("input_ids").chunks
        ]
        rows = [len(batch) for batch in self._batches]
        self._row_starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
        self._lengths: npt.NDArray[np.uint32] | None = None

    def __len__(self) -> int:
        return int(self._row_starts[-1])

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"Dataset({str(self.path)!r}, documents={m['total_rows']:,}, "
            f"tokens={m['total_tokens']:,}, shards={len(m['shards'])})"
        )

    @property
    def num_tokens(self) -> int:
        return int(self.manifest["total_tokens"])

    @property
    def shard_paths(self) -> list[Path]:
        """The shard files, in dataset order."""
        return [self.path / entry["file"] for entry in self.manifest["shards"]]

    @property
    def fingerprint(self) -> str:
        """A digest of the dataset's content (tokenizer and every shard's checksum): equal
        for equal datasets wherever they live, and different once any shard changes."""
        content = {
            "tokenizer": self.manifest["tokenizer"],
            "shards": [(s["rows"], s["tokens"], s["checksum"]) for s in self.manifest["shards"]],
        }
        digest = hashlib.blake2b(json.dumps(content, sort_keys=True).encode(), digest_size=16)
        return digest.hexdigest()

    @property
    def packing(self) -> dict[str, Any] | None:
        """For a packed dataset (``seqpack pack DIR --out``), how it was packed: ``seq_len``,
        ``algorithm``, … ; ``None`` for a dataset of one document per row."""
        packing: dict[str, Any] | None = self.manifest.get("options", {}).get("packing")
        return packing

    @property
    def lengths(self) -> npt.NDArray[np.uint32]:
        """Tokens per document. A view of the mapped ``length`` column when the dataset is
        one record batch; otherwise its batches' columns concatenated once (4 bytes per
        document)."""
        if self._lengths is None:
            columns = [
                _zero_copy(chunk) for t in self._tables for chunk in t.column("length").chunks
            ]
            if len(columns) == 1:
                self._lengths = columns[0]
            else:
                self._lengths = np.concatenate(columns) if columns else np.zeros(0, np.uint32)
                self._lengths.flags.writeable = False
        return self._lengths

    def __getitem__(self, index: int) -> npt.NDArray[np.uint32]:
        """The tokens of document ``index`` as a read-only view into the mapped shard."""
        n = len(self)
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset indices must be integers, got {type(index).__name__}")
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"document {index} out of range for a dataset of {n}")
        batch = int(np.searchsorted(self._row_starts, index, side="right")) - 1
        row = index - int(self._row_starts[batch])
        tokens = self._batches[batch]
        offsets = _zero_copy(tokens.offsets)
        values = _zero_copy(tokens.values)
        return values[offsets[row] : offsets[row + 1]]

    def __iter__(self) -> Iterator[npt.NDArray[np.uint32]]:
        for i in range(len(self)):
            yield self[i]

    def to_arrow(self) -> pa.Table:
        """All shards as one memory-mapped pyarrow table (a chunk per record batch, no
        copy)."""
        if not self._tables:
            return _empty_table()
        return pa.concat_tables(self._tables)


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / "manifest.json"
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeqpackIOError(
            f"{path}: not a dataset directory (no manifest.json; an interrupted "
            "`seqpack preprocess` can be finished with --resume)"
        ) from None
    except OSError as error:
        raise SeqpackIOError(f"{manifest_path}: {error}") from None
    try:
        manifest: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptDatasetError(f"{manifest_path}: not valid JSON ({error})") from None
    if manifest.get("format") != FORMAT_NAME:
        raise CorruptDatasetError(f"{manifest_path}: not a seqpack dataset manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise CorruptDatasetError(
            f"{manifest_path}: format version {manifest['format_version']} is newer than this "
            f"seqpack reads ({FORMAT_VERSION}); upgrade seqpack"
        )
    return manifest


def _verify_shard(shard: Path, entry: dict[str, Any]) -> None:
    try:
        size = shard.stat().st_size
    except FileNotFoundError:
        raise CorruptDatasetError(f"{shard}: missing (listed in the manifest)") from None
    if size != entry["bytes"]:
        raise CorruptDatasetError(
            f"{shard}: {size} bytes, the manifest says {entry['bytes']} (truncated or replaced)"
        )
    checksum = _core.checksum_file(str(shard))
    if checksum != entry["checksum"]:
        raise CorruptDatasetError(
            f"{shard}: checksum {checksum} does not match the manifest's {entry['checksum']} "
            "(the file is corrupted)"
        )


def _open_shard(shard: Path, entry: dict[str, Any]) -> pa.Table:
    try:
        source = pa.memory_map(str(shard), "r")
        table = pa.ipc.open_file(source).read_all()
    except FileNotFoundError:
        raise CorruptDatasetError(f"{shard}: missing (listed in the manifest)") from None
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptDatasetError(f"{shard}: not a readable Arrow file ({error})") from None
    if table.num_rows != entry["rows"]:
        raise CorruptDatasetError(
            f"{shard}: {table.num_rows} rows, the manifest says {entry['rows']}"
        )
    return table


def _zero_copy(array: pa.Array) -> npt.NDArray[Any]:
    view: npt.NDArray[Any] = array.to_numpy(zero_copy_only=True)
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

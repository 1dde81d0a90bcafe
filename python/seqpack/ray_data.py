"""seqpack at the end of a Ray Data pipeline (filtering, dedup, … already in Ray): the
records tokenized by :class:`Tokenize` in ``map_batches``, and written into one dataset by
:class:`SeqpackDatasink` through ``write_datasink``. Both are exported by
:mod:`seqpack.ray`.

The sink writes in two steps, because a write task cannot know how many documents come
before its rows (the ids and line numbers of the shards): every write task spills its
tokenized blocks as an Arrow IPC file named by its task index into the output directory,
and the driver, once all are written, hands the files in order to the core
(``preprocess/tokenized.rs``), which writes the shards with the sink of a preprocess run
and commits the one manifest with its commit. Tasks are in dataset order only when Ray
preserves it, so the sink refuses to run without
``DataContext.execution_options.preserve_order``.

From the same records (one input file, ``source`` named as its path), the dataset is the
one :func:`seqpack.preprocess` writes with a ``split_size`` above the file's size, byte for
byte: same ids, lines, shards and manifest.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from ray.data import DataContext
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import Datasink, WriteResult

from seqpack import _core, storage
from seqpack.errors import InvalidInputError
from seqpack.preprocess import DEFAULT_SHARD_SIZE, PathLike, core_options, load_tokenizer
from seqpack.tokenizer import Tokenizer

if TYPE_CHECKING:
    from ray.data._internal.execution.interfaces import TaskContext

__all__ = ["SeqpackDatasink", "Tokenize"]

# The columns `Tokenize` makes: the shard format's ids and length, and the text's UTF-8
# bytes, which the manifest counts.
TOKENIZED_SCHEMA = pa.schema(
    [
        ("input_ids", pa.large_list(pa.uint32())),
        ("length", pa.uint32()),
        ("text_bytes", pa.uint64()),
    ]
)

# Where the write tasks spill their blocks, inside the output directory until the commit.
SPILL_DIR = ".seqpack-blocks"


class Tokenize:
    """A callable class for ``Dataset.map_batches(Tokenize, fn_constructor_kwargs={...},
    batch_format="pyarrow", compute=ActorPoolStrategy(…))``: each actor loads the tokenizer
    once, and turns a batch's ``text_field`` (a string column) into the columns
    ``input_ids`` (``large_list<uint32>``, with ``prepend_bos`` and ``append_eos`` around
    each document, as :func:`seqpack.preprocess` adds them), ``length`` and ``text_bytes``.
    An empty text gives an empty ``input_ids``, which the sink counts as skipped, as
    preprocess does."""

    def __init__(
        self,
        tokenizer: Tokenizer | PathLike,
        *,
        text_field: str = "text",
        append_eos: str | None = None,
        prepend_bos: str | None = None,
    ) -> None:
        self.tokenizer = load_tokenizer(tokenizer)
        options = core_options(
            self.tokenizer,
            text_field=text_field,
            append_eos=append_eos,
            prepend_bos=prepend_bos,
        )
        self.text_field = text_field
        self.prepend = _ids(options["prepend"])
        self.append = _ids(options["append"])

    def __call__(self, batch: pa.Table | Mapping[str, Any]) -> pa.Table:
        """The batch (a ``pyarrow`` table, or columns by name) tokenized."""
        names = batch.column_names if isinstance(batch, pa.Table) else list(batch)
        if self.text_field not in names:
            raise InvalidInputError(f"no {self.text_field!r} column among {names} (text_field)")
        column = (
            batch.column(self.text_field)
            if isinstance(batch, pa.Table)
            else pa.array(list(batch[self.text_field]))
        )
        if column.null_count or not pa.types.is_string(column.type):
            raise InvalidInputError(
                f"{self.text_field}: every record's text must be a string "
                f"(found {column.type}, {column.null_count} nulls)"
            )
        texts: list[str] = column.to_pylist()
        encoded = self.tokenizer.encode_batch(texts)
        pieces: list[np.ndarray[Any, np.dtype[np.uint32]]] = []
        lengths = np.zeros(len(texts), np.int64)
        for row, (text, ids) in enumerate(zip(texts, encoded, strict=True)):
            if text:
                pieces += (self.prepend, ids, self.append)
                lengths[row] = len(self.prepend) + len(ids) + len(self.append)
        offsets = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.concatenate(pieces) if pieces else np.zeros(0, np.uint32)
        return pa.table(
            [
                pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.uint32())),
                pa.array(lengths, pa.uint32()),
                pa.array([len(text.encode()) for text in texts], pa.uint64()),
            ],
            schema=TOKENIZED_SCHEMA,
        )


def _ids(token: int | None) -> np.ndarray[Any, np.dtype[np.uint32]]:
    return np.array([] if token is None else [token], np.uint32)


class SeqpackDatasink(Datasink[str | None]):
    """For ``Dataset.write_datasink``: the blocks of :class:`Tokenize` into one seqpack
    dataset in the new (or empty) local or shared directory ``out``, which every write task
    must be able to write. Its manifest (``manifest``, once written) names the records'
    ``source`` and records the options given, which must be the :class:`Tokenize` options
    too (ids not framed by them are refused; :attr:`tokenize_kwargs` passes them on).
    Refuses to run unless Ray preserves the dataset's order."""

    def __init__(
        self,
        out: PathLike,
        tokenizer: Tokenizer | PathLike,
        *,
        source: str,
        text_field: str = "text",
        append_eos: str | None = None,
        prepend_bos: str | None = None,
        shard_size: int = DEFAULT_SHARD_SIZE,
    ) -> None:
        if storage.is_uri(out):
            raise InvalidInputError(
                f"{out}: the datasink writes a local or shared directory; upload the dataset "
                "afterwards, or use seqpack.ray.preprocess, which writes URIs"
            )
        self.out = Path(out)
        self.source = source
        self.tokenizer = load_tokenizer(tokenizer)
        self.tokenize_kwargs: dict[str, Any] = {
            "tokenizer": self.tokenizer,
            "text_field": text_field,
            "append_eos": append_eos,
            "prepend_bos": prepend_bos,
        }
        self.options = core_options(
            self.tokenizer,
            text_field=text_field,
            append_eos=append_eos,
            prepend_bos=prepend_bos,
            shard_size=shard_size,
        )
        self.manifest: dict[str, Any] | None = None
        # How many write tasks' blocks the manifest holds, once written.
        self.write_tasks = 0

    @property
    def spill_dir(self) -> Path:
        return self.out / SPILL_DIR

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        _check_order()
        # The columns are checked on the blocks themselves, in `write`: where Ray fuses a
        # task-based `map_batches(Tokenize(...))` into the write, `schema` is the records'.
        if self.out.exists() and any(self.out.iterdir()):
            raise InvalidInputError(f"{self.out} exists and is not empty; choose another directory")
        self.spill_dir.mkdir(parents=True, exist_ok=True)

    def write(self, blocks: Iterable[Block], ctx: TaskContext) -> str | None:
        # The dataset's own context, in the task: the one that decides the order.
        _check_order()
        tables = [BlockAccessor.for_block(block).to_arrow() for block in blocks]
        tables = [_tokenized_columns(table) for table in tables if table.num_rows]
        if not tables:
            return None
        name = f"{ctx.task_idx:08}.arrow"
        partial = self.spill_dir / f"{name}.part"
        with pa.OSFile(os.fspath(partial), "wb") as sink:
            with pa.ipc.new_file(sink, TOKENIZED_SCHEMA) as writer:
                for table in tables:
                    writer.write_table(table.cast(TOKENIZED_SCHEMA))
        partial.replace(self.spill_dir / name)
        return name

    def on_write_complete(self, write_result: WriteResult[str | None]) -> None:
        names = sorted(name for name in write_result.write_returns if name is not None)
        files = [self.spill_dir / name for name in names]
        manifest: dict[str, Any] = _core.commit_tokenized(
            files, self.out, self.source, self.tokenizer._core, self.options
        )
        shutil.rmtree(self.spill_dir)
        self.manifest = manifest
        self.write_tasks = len(files)

    def on_write_failed(self, error: Exception) -> None:
        shutil.rmtree(self.spill_dir, ignore_errors=True)


def _tokenized_columns(table: pa.Table) -> pa.Table:
    if not set(TOKENIZED_SCHEMA.names) <= set(table.column_names):
        raise InvalidInputError(
            f"the blocks have the columns {table.column_names}: tokenize them first with "
            "map_batches(seqpack.ray.Tokenize, ...)"
        )
    return table.select(TOKENIZED_SCHEMA.names)


def _check_order() -> None:
    if not DataContext.get_current().execution_options.preserve_order:
        raise InvalidInputError(
            "SeqpackDatasink needs the dataset's order: set "
            "ray.data.DataContext.get_current().execution_options.preserve_order = True "
            "before building the dataset"
        )

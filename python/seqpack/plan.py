"""Epoch plans over a dataset directory (which slice of which document sits where in each
row, a pure function of (dataset, options, epoch), made by the core's
``EpochPlanner``), and packed datasets written from them."""

from __future__ import annotations

import os
from pathlib import Path

from seqpack import _core
from seqpack.dataset import Dataset
from seqpack.errors import InvalidInputError
from seqpack.packing import Algorithm, LongDocs, _is_int

__all__ = ["epoch_planner", "write_packed_dataset"]


def epoch_planner(
    dataset: Dataset,
    seq_len: int,
    *,
    algorithm: Algorithm = "obfd",
    long_docs: LongDocs = "split",
    max_docs_per_pack: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    align: int = 1,
    spread_cost: bool = False,
) -> _core.EpochPlanner:
    """The planner of ``dataset``'s epochs: a dataset of documents is packed anew each epoch
    (documents in an order drawn for the epoch, then rows shuffled); a packed dataset keeps
    its rows and only their order changes. ``shuffle=False``: dataset order, the same rows
    every epoch; ``align``: each document padded to a multiple of it inside its row;
    ``spread_cost``: the rows in an order that spreads the costliest (by attention work)
    evenly over the epoch, so that every step draws its share of them."""
    packing = dataset.packing
    return _core.EpochPlanner(
        dataset.token_store,
        str(dataset.path),
        dataset.fingerprint,
        None if packing is None else int(packing["seq_len"]),
        seq_len=seq_len,
        algorithm=algorithm,
        long_docs=long_docs,
        max_docs_per_pack=max_docs_per_pack,
        shuffle=shuffle,
        seed=seed,
        align=align,
        spread_cost=spread_cost,
    )


def write_packed_dataset(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    seq_len: int,
    *,
    algorithm: Algorithm = "obfd",
    long_docs: LongDocs = "split",
    max_docs_per_pack: int | None = None,
    seed: int | None = 0,
    pad_id: int = 0,
) -> Dataset:
    """Packs the dataset at ``source`` once and writes it to ``out`` as a packed dataset:
    rows of exactly ``seq_len`` tokens (padded with ``pad_id``) with their documents'
    lengths in ``seq_lengths`` and origins in ``documents``/``starts``. HF ``datasets``,
    polars and pyarrow read it as they read any dataset; ``PackedLoader`` trains on it
    without packing again. ``seed`` shuffles the rows (``None``: the packer's order)."""
    dataset = Dataset(source)
    if dataset.packing is not None:
        raise InvalidInputError(f"{dataset.path}: is already a packed dataset")
    if not _is_int(pad_id) or not 0 <= pad_id < 2**32:
        raise InvalidInputError(f"pad_id must be a token id in [0, 2**32), got {pad_id!r}")
    planner = epoch_planner(
        dataset,
        seq_len,
        algorithm=algorithm,
        long_docs=long_docs,
        max_docs_per_pack=max_docs_per_pack,
        shuffle=seed is not None,
        seed=0 if seed is None else seed,
    )
    plan = planner.plan(0)
    record = {
        **planner.options(),
        "pad_id": pad_id,
        "source": str(dataset.path),
        "source_fingerprint": dataset.fingerprint,
        "real_tokens": plan.placed_tokens,
        "truncated_tokens": plan.truncated_tokens,
    }
    Path(out).mkdir(parents=True, exist_ok=True)
    plan.write_packed(planner.store, str(dataset.path / "manifest.json"), str(out), pad_id, record)
    return Dataset(out)

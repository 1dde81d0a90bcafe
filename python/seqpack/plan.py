"""Epoch plans over a dataset directory: which slice of which document sits where in each
row, as a pure function of (dataset fingerprint, seed, epoch, options), and packed datasets
written from them."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from seqpack import _core
from seqpack.dataset import Dataset
from seqpack.errors import InvalidInputError
from seqpack.packing import ALGORITHMS, MAX_CAPACITY, Algorithm, LongDocs, _is_int

__all__ = ["EpochPlanner", "PlanOptions", "write_packed_dataset"]


@dataclass(frozen=True)
class PlanOptions:
    """What decides an epoch's rows besides the data: row length, packer and policies, the
    seed (``shuffle=False``: dataset order, the same rows every epoch), and ``align``: each
    document padded to a multiple of it inside its row (patch-level training)."""

    seq_len: int
    algorithm: Algorithm = "obfd"
    long_docs: LongDocs = "split"
    max_docs_per_pack: int | None = None
    shuffle: bool = True
    seed: int = 0
    align: int = 1

    def __post_init__(self) -> None:
        if not _is_int(self.seq_len) or not 1 <= self.seq_len <= MAX_CAPACITY:
            raise InvalidInputError(
                f"seq_len must be an integer in 1..{MAX_CAPACITY}, got {self.seq_len!r}"
            )
        if not _is_int(self.align) or self.align < 1 or self.seq_len % self.align:
            raise InvalidInputError(
                f"align must be a positive integer that divides seq_len = {self.seq_len}, "
                f"got {self.align!r}"
            )
        if self.algorithm not in ALGORITHMS:
            raise InvalidInputError(
                f"algorithm {self.algorithm!r} is unknown; expected one of {', '.join(ALGORITHMS)}"
            )
        if self.long_docs not in ("split", "truncate", "error"):
            raise InvalidInputError(
                f"long_docs must be 'split', 'truncate' or 'error', got {self.long_docs!r}"
            )
        if self.max_docs_per_pack is not None and (
            not _is_int(self.max_docs_per_pack) or self.max_docs_per_pack < 1
        ):
            raise InvalidInputError(
                f"max_docs_per_pack must be a positive integer or None, "
                f"got {self.max_docs_per_pack!r}"
            )
        if not _is_int(self.seed) or not 0 <= self.seed < 2**64:
            raise InvalidInputError(f"seed must be an integer in [0, 2**64), got {self.seed!r}")


class EpochPlanner:
    """Plans the epochs of one dataset. A dataset of documents is packed anew each epoch
    (documents in an order drawn from the epoch's seed, then rows shuffled); a packed
    dataset keeps its rows and only their order changes."""

    def __init__(self, dataset: Dataset, options: PlanOptions) -> None:
        self.dataset = dataset
        self.options = options
        self.store = dataset.token_store
        packing = dataset.packing
        if packing is not None and options.align != 1:
            raise InvalidInputError(
                f"{dataset.path}: a packed dataset keeps its rows; patch alignment needs the "
                "dataset of documents it was packed from"
            )
        if packing is not None and int(packing["seq_len"]) != options.seq_len:
            raise InvalidInputError(
                f"{dataset.path}: a dataset packed into rows of {packing['seq_len']} tokens "
                f"cannot give rows of seq_len = {options.seq_len}"
            )
        self._cached: tuple[int, _core.Plan] | None = None

    @property
    def is_packed(self) -> bool:
        return self.dataset.packing is not None

    def epoch_seed(self, epoch: int) -> int | None:
        """The seed of an epoch's plan: a digest of everything the plan depends on."""
        if not self.options.shuffle:
            return None
        key = json.dumps(
            {"dataset": self.dataset.fingerprint, "epoch": epoch, **asdict(self.options)},
            sort_keys=True,
        )
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")

    def plan(self, epoch: int) -> _core.Plan:
        """The rows of ``epoch`` in training order (the last one asked for is kept)."""
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        seed = self.epoch_seed(epoch)
        o = self.options
        if self.is_packed:
            plan = _core.Plan.packed_rows(self.store, o.seq_len, seed)
        else:
            lengths = self.store.lengths()
            # A cap beyond the row length cannot bind (every entry holds a token), and the
            # core takes a 32-bit one.
            max_docs = None if o.max_docs_per_pack is None else min(o.max_docs_per_pack, o.seq_len)
            try:
                plan = _core.Plan.pack_epoch(
                    lengths, o.seq_len, o.algorithm, max_docs, o.long_docs, seed, o.align
                )
            except InvalidInputError as error:  # name the dataset, not only the document
                raise InvalidInputError(f"{self.dataset.path}: {error}") from None
        self._cached = (epoch, plan)
        return plan


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
    options = PlanOptions(
        seq_len,
        algorithm=algorithm,
        long_docs=long_docs,
        max_docs_per_pack=max_docs_per_pack,
        shuffle=seed is not None,
        seed=0 if seed is None else seed,
    )
    planner = EpochPlanner(dataset, options)
    plan = planner.plan(0)
    record = {
        **asdict(options),
        "pad_id": pad_id,
        "source": str(dataset.path),
        "source_fingerprint": dataset.fingerprint,
        "real_tokens": plan.placed_tokens,
        "truncated_tokens": plan.truncated_tokens,
    }
    Path(out).mkdir(parents=True, exist_ok=True)
    plan.write_packed(
        planner.store, str(dataset.path / "manifest.json"), str(out), pad_id, json.dumps(record)
    )
    return Dataset(out)

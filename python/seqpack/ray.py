"""Preprocessing on a Ray cluster: one Ray task per split runs seqpack's own Rust pipeline
over its part of the inputs, and the driver commits one manifest. The dataset is the one
:func:`seqpack.preprocess` writes locally with the same ``split_size``, byte for byte.

The steps (all in the core; see ``rust/core/src/preprocess/split.rs``):

1. the plan, on the driver: the inputs cut into splits, from their sizes and ``split_size``
   alone, never from the cluster;
2. a counting pass per split (a task each, no tokenizing): its lines and documents, so every
   split knows its first line and document id, and a bad record is reported (with its file
   and line, as locally) before anything is tokenized;
3. a task per split writes its final shards (named by the split) with its own journal: a
   task that dies is retried by Ray (``max_retries``) and goes on from its journal;
4. the commit, on the driver: the splits' results merged into the manifest, written last.

For data already in a Ray Data pipeline, :class:`Tokenize` (for ``map_batches``) and
:class:`SeqpackDatasink` (for ``write_datasink``) write the same dataset from its records
(see :mod:`seqpack.ray_data`).

``import seqpack`` does not import Ray; this module does (``pip install seqpack[ray]``).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

from seqpack import _core, storage
from seqpack.preprocess import (
    PathLike,
    RunOptions,
    core_options,
    load_tokenizer,
    resolve_inputs,
)
from seqpack.ray_data import SeqpackDatasink, Tokenize
from seqpack.tokenizer import Tokenizer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SeqpackDatasink", "Tokenize", "preprocess"]


def preprocess(
    inputs: PathLike | Sequence[PathLike],
    tokenizer: Tokenizer | PathLike,
    out: PathLike,
    *,
    ray_remote_args: dict[str, Any] | None = None,
    max_retries: int = 3,
    progress: bool | None = None,
    on_split: Callable[[int, float], object] | None = None,
    **options: Unpack[RunOptions],
) -> dict[str, Any]:
    """:func:`seqpack.preprocess` on the Ray cluster this process is connected to (one is
    started locally if none is), one task per split; returns the manifest.

    Arguments are those of :func:`seqpack.preprocess` (:class:`seqpack.preprocess.RunOptions`,
    ``progress``) but ``workers``. ``ray_remote_args`` are passed to
    every task (default ``num_cpus=1``; a task tokenizes with as many threads as it has
    CPUs). A task that dies is retried ``max_retries`` times and goes on from its split's
    journal; a driver that dies is resumed with ``resume=True``. ``out`` on a shared or
    local filesystem is written in place; a URI (``s3://`` …) is written by each task
    through a staging directory of its split on its node, the manifest last (a retried or
    resumed split goes on from its journal on the same node, and starts again on another).
    ``progress`` prints the splits done and MB/s on stderr (default: when stderr is a
    terminal); ``on_split(split, seconds)`` is called on the driver as each split's task
    returns, with the seconds the task's body took (timed inside the task). ``format``,
    ``train_on``, ``chat_template`` and ``template_vars`` are those of
    :func:`seqpack.preprocess`; a chat template file (and the tokenizer's directory, for the
    template and special tokens beside it) must be readable by every task.
    """
    started = time.perf_counter()
    tokenizer = load_tokenizer(tokenizer)
    remote_args: dict[str, Any] = {"num_cpus": 1, "max_retries": max_retries}
    remote_args.update(ray_remote_args or {})
    core = core_options(tokenizer, workers=max(1, int(remote_args.get("num_cpus", 1))), **options)
    paths, names = resolve_inputs(inputs)
    if names is not None:
        core["source_names"] = names
    plan = _core.plan_preprocess(paths, tokenizer._core, core)
    target = _Target(str(out) if storage.is_uri(out) else Path(out), plan["run"])
    finished = target.begin(plan, tokenizer, core)
    if finished is not None:
        return finished
    if not ray.is_initialized():
        ray.init()
    shared = ray.put((plan, core, tokenizer, target))
    splits = range(len(plan["splits"]))
    count = ray.remote(_count).options(**remote_args)
    counted = [count.remote(shared, k) for k in splits]
    # In plan order: the first bad record of the inputs is the one reported, before the
    # failure of any count after it.
    counts: list[dict[str, Any]] = []
    for ref in counted:
        counts.append(ray.get(ref))
        if counts[-1]["first_bad"] is not None:
            for rest in counted[len(counts) :]:
                ray.cancel(rest)
            # Never read: split_starts raises at the bad record first.
            unread = len(counted) - len(counts)
            counts += [{"lines": 0, "documents": 0, "first_bad": None}] * unread
            break
    starts = _core.split_starts(plan, counts)
    tokenize = ray.remote(_tokenize).options(**remote_args)
    pending = {tokenize.remote(shared, k, starts[k]): k for k in splits}
    results: list[dict[str, Any] | None] = [None] * len(pending)
    show = sys.stderr.isatty() if progress is None else progress
    total_bytes = sum(_split_bytes(plan, k) for k in splits)
    done_bytes = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        k = pending.pop(ready[0])
        results[k], seconds = ray.get(ready[0])
        if on_split is not None:
            on_split(k, seconds)
        done_bytes += _split_bytes(plan, k)
        if show:
            seconds = time.perf_counter() - started
            sys.stderr.write(
                f"\r{len(results) - len(pending):>6}/{len(results)} splits  "
                f"{100 * done_bytes / max(total_bytes, 1):5.1f} %  "
                f"{done_bytes / 1e6 / max(seconds, 1e-9):8.1f} MB/s"
            )
            sys.stderr.flush()
    if show:
        sys.stderr.write("\n")
    return target.commit(plan, results, tokenizer, core)


def _split_bytes(plan: dict[str, Any], split: int) -> int:
    entry = plan["splits"][split]
    if entry["kind"] == "bytes":
        return int(entry["end"]) - int(entry["start"])
    path = Path(plan["inputs"][entry["source"]])
    return path.stat().st_size if path.is_file() else 0


class _Target:
    """Where a run writes: a local (or shared) directory, written in place, or a URI,
    written through local staging directories (one per split, one for the commit): a split
    is uploaded once whole, its result last."""

    def __init__(self, out: str | Path, run: str) -> None:
        self.out = out
        self.run = run

    @property
    def remote(self) -> bool:
        return isinstance(self.out, str)

    def begin(
        self, plan: dict[str, Any], tokenizer: Tokenizer, options: dict[str, Any]
    ) -> dict[str, Any] | None:
        if not isinstance(self.out, str):
            finished: dict[str, Any] | None = _core.begin_preprocess(
                plan, self.out, tokenizer._core, options
            )
            return finished
        storage.check_empty_output(self.out, resume=options["resume"])
        if options["resume"]:
            text = storage.read_text(f"{self.out}/{storage.MANIFEST}")
            if text is not None:
                import json

                manifest: dict[str, Any] = json.loads(text)
                return manifest
        return None

    def run_split(
        self,
        plan: dict[str, Any],
        split: int,
        start: dict[str, Any],
        tokenizer: Tokenizer,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        hook = _fault_for_tests(split)
        if not isinstance(self.out, str):
            result: dict[str, Any] = _core.preprocess_split(
                plan, split, start, self.out, tokenizer._core, options, progress=hook
            )
            return result
        import json

        name = _core.split_result_name(split)
        uploaded = storage.read_text(f"{self.out}/{name}")
        if uploaded is not None:
            done: dict[str, Any] = json.loads(uploaded)
            if done["run"] == plan["run"]:
                return done
        # A split whose result is not uploaded yet is written into a staging directory of
        # its run and split on the node, kept until it is uploaded: a retry (or a resumed
        # run) on the same node goes on from the split's journal there; on another node the
        # split starts again from its beginning.
        local = storage.split_staging(plan["run"], split)
        result = _core.preprocess_split(
            plan, split, start, local, tokenizer._core, options, progress=hook
        )
        storage.upload(local, self.out, [shard["file"] for shard in result["shards"]])
        storage.upload(local, self.out, [name])
        shutil.rmtree(local, ignore_errors=True)
        return result

    def commit(
        self,
        plan: dict[str, Any],
        results: Sequence[dict[str, Any] | None],
        tokenizer: Tokenizer,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        if not isinstance(self.out, str):
            manifest: dict[str, Any] = _core.commit_splits(
                plan, list(results), self.out, tokenizer._core, options
            )
            return manifest
        with storage.staged_output(self.out) as local:
            manifest = _core.commit_splits(plan, list(results), local, tokenizer._core, options)
            storage.upload(local, self.out, [storage.MANIFEST])
        for split in range(len(results)):
            storage.delete(f"{self.out}/{_core.split_result_name(split)}")
        return manifest


def _local_inputs(plan: dict[str, Any], split: int) -> None:
    """Fetches the split's input on a node that has no copy of it (inputs given as URIs are
    copied into the same cache path on every node)."""
    source = plan["splits"][split]["source"]
    path = Path(plan["inputs"][source])
    name = plan["sources"][source]
    if not path.exists() and storage.is_uri(name):
        storage.stage_inputs([name], storage.input_cache())


def _count(shared: tuple[Any, ...], split: int) -> dict[str, Any]:
    plan, options, tokenizer, _target = shared
    _local_inputs(plan, split)
    count: dict[str, Any] = _core.count_split(plan, split, tokenizer._core, options)
    return count


def _tokenize(
    shared: tuple[Any, ...], split: int, start: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    plan, options, tokenizer, target = shared
    _local_inputs(plan, split)
    result: dict[str, Any] = target.run_split(plan, split, start, tokenizer, options)
    return result, time.perf_counter() - began


def _fault_for_tests(split: int) -> Callable[[_core.PreprocessProgress], None] | None:
    """A progress hook that kills the task's process after its first batch, on its first
    attempt, when the test suite asks: ``SEQPACK_TEST_KILL_SPLIT`` in the workers'
    environment names a request file, which holds ``<split>:<marker file>`` while a test
    wants that split's task killed (a real worker death, for Ray to retry). The variable is
    set once for the test cluster, so asking starts no workers of another environment."""
    request_file = os.environ.get("SEQPACK_TEST_KILL_SPLIT")
    if not request_file:
        return None
    try:
        which, marker = Path(request_file).read_text().split(":", 1)
    except FileNotFoundError:
        return None
    if int(which) != split or os.path.exists(marker):
        return None
    batches = [0]

    def kill_part_way(progress: _core.PreprocessProgress) -> None:
        batches[0] += 1
        if batches[0] == 1:
            Path(marker).write_text(f"killed after {progress.shards} shards")
            os._exit(1)

    return kill_part_way

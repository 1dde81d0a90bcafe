"""Corpora to a tokenized dataset directory (see :func:`preprocess`)."""

from __future__ import annotations

import glob
import os
import stat
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from seqpack import _core, storage
from seqpack.chat import TRAIN_ON, TrainOn
from seqpack.errors import InvalidInputError
from seqpack.tokenizer import Tokenizer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_SPLIT_SIZE",
    "INPUT_SUFFIXES",
    "RECORD_FORMATS",
    "TRAIN_ON",
    "RecordFormat",
    "RunOptions",
    "TrainOn",
    "expand_inputs",
    "preprocess",
    "read_documents",
]

# The file names the core reads, by suffix: a directory scan picks exactly what preprocess reads.
INPUT_SUFFIXES: tuple[str, ...] = _core.INPUT_SUFFIXES
# What records are (``format=``) and which of their tokens are trained on (``train_on=``),
# as the core names them.
RECORD_FORMATS: tuple[str, ...] = _core.RECORD_FORMATS
RecordFormat = Literal["text", "messages", "prompt-completion"]

PathLike = str | os.PathLike[str]

# Input bytes per split (see `seqpack.ray`): the same plan locally and on a cluster.
DEFAULT_SPLIT_SIZE: int = _core.DEFAULT_SPLIT_SIZE

# Tokens at which a shard closes, by default.
DEFAULT_SHARD_SIZE = 1 << 25

# Threads per core beyond which more workers only cost memory and switching.
WORKERS_PER_CORE = 4


class RunOptions(TypedDict, total=False):
    """The keyword options of a run, taken alike by :func:`preprocess`,
    :func:`seqpack.ray.preprocess` and (some of them) :mod:`seqpack.ray_data`; each is
    described by :func:`preprocess`. Those not given take their defaults: ``text_field``
    ``"text"``, ``lines`` false, ``append_eos``/``prepend_bos`` none, ``shard_size``
    :data:`DEFAULT_SHARD_SIZE`, ``split_size`` :data:`DEFAULT_SPLIT_SIZE`, ``on_error``
    ``"fail"``, ``resume`` false, ``format``/``train_on``/``chat_template``/
    ``template_vars`` none (detected, or the format's default)."""

    text_field: str
    lines: bool
    append_eos: str | None
    prepend_bos: str | None
    shard_size: int
    split_size: int
    on_error: Literal["fail", "skip"]
    resume: bool
    format: RecordFormat | None
    train_on: TrainOn | None
    chat_template: PathLike | None
    template_vars: Mapping[str, Any] | None


def preprocess(
    inputs: PathLike | Sequence[PathLike],
    tokenizer: Tokenizer | PathLike,
    out: PathLike,
    *,
    workers: int | None = None,
    progress: bool | None = None,
    **options: Unpack[RunOptions],
) -> dict[str, Any]:
    """Tokenize ``inputs`` with ``tokenizer`` (a :class:`seqpack.Tokenizer` or the path of a
    ``tokenizer.json``) into the dataset directory ``out`` and return its manifest. The
    keywords are ``workers``, ``progress`` and those of :class:`RunOptions`.

    ``inputs``: files, directories (searched recursively) and glob patterns of ``.jsonl`` or
    ``.ndjson`` (optionally ``.gz``/``.zst``), ``.txt`` (one document per file, or per line
    with ``lines=True``), ``.arrow``/``.feather`` and ``.parquet`` (:data:`INPUT_SUFFIXES`);
    the text is in ``text_field``. ``append_eos`` /
    ``prepend_bos`` name special tokens added around every document. Shards close at
    ``shard_size`` tokens. ``on_error="skip"`` counts bad records by reason in the manifest
    instead of stopping at the first (whose file and line the error names); empty documents
    are always counted, never kept. ``resume=True`` finishes an interrupted run with the same
    result as an uninterrupted one. ``progress`` shows documents/s, MB/s and an ETA on
    stderr (default: when stderr is a terminal). The GIL is released; Ctrl-C stops the run,
    and what is complete stays for ``resume``. ``workers`` above ``WORKERS_PER_CORE`` per
    core is lowered to that, with a warning. A UTF-8 byte order mark at the start of a file is
    not text and is skipped; entries of a directory that are not regular files (FIFOs,
    sockets, devices, broken links) are named in a warning.

    Records may also be conversations (``messages``: a list of ``{role, content}``, rendered
    with ``chat_template`` and ``template_vars``) or ``prompt``/``completion`` pairs; each
    file's ``format`` is detected from its first record (or its columns), or forced. Such a
    dataset stores a loss mask per token (``train_on``: ``"assistant"`` for conversations
    and ``"completion"`` for pairs by default, or ``"all"``); ``append_eos`` is trained on,
    ``prepend_bos`` is not. Plain-text files beside them are trained on whole.

    Inputs are cut into splits of ``split_size`` bytes (line-wise files at line starts,
    Parquet at row groups; compressed and other files whole), and no shard holds rows of two
    splits: :func:`seqpack.ray.preprocess` with the same ``split_size`` writes the same
    dataset byte for byte. ``inputs`` and ``out`` may be URIs (``s3://``, ``gs://``,
    ``file://``, see :mod:`seqpack.storage`): inputs are copied locally first and keep their
    URIs as names; the dataset is uploaded shard by shard, the manifest last.
    """
    tokenizer = load_tokenizer(tokenizer)
    if workers is not None and workers < 1:
        raise InvalidInputError(f"workers must be at least 1, got {workers}")
    core = core_options(tokenizer, workers=_clamped_workers(workers) or 0, **options)
    paths, names = resolve_inputs(inputs)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _ProgressBar() if show else None

    def run(local_out: Path) -> dict[str, Any]:
        manifest: dict[str, Any] = _core.preprocess(
            paths, local_out, tokenizer._core, source_names=names, progress=bar, **core
        )
        return manifest

    if storage.is_uri(out):
        uri = str(out)
        storage.check_empty_output(uri, resume=core["resume"])
        with storage.staged_output(uri) as local_out:
            manifest = run(local_out)
            storage.upload_dataset(local_out, uri)
    else:
        manifest = run(Path(out))
    if bar is not None:
        bar.close()
    return manifest


def load_tokenizer(tokenizer: Tokenizer | PathLike) -> Tokenizer:
    """``tokenizer`` itself, or the tokenizer of the ``tokenizer.json`` it names."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    if not Path(tokenizer).is_file():
        raise InvalidInputError(f"{tokenizer}: no such tokenizer file")
    return Tokenizer.from_file(tokenizer)


def core_options(
    tokenizer: Tokenizer, *, workers: int = 0, **options: Unpack[RunOptions]
) -> dict[str, Any]:
    """The options of a run (:class:`RunOptions`, those of :func:`preprocess`) as the core
    takes them, the keywords of ``_core.preprocess``: special tokens as ids, sizes checked,
    defaults filled in. Every way of running (locally, a task per split, a Ray Data sink)
    records the same options in its manifest from this one dict."""
    unknown = sorted(set(options) - set(RunOptions.__annotations__))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    given: dict[str, Any] = dict(options)
    ids = _special_ids(
        tokenizer,
        {"append_eos": given.get("append_eos"), "prepend_bos": given.get("prepend_bos")},
    )
    shard_size = given.get("shard_size", DEFAULT_SHARD_SIZE)
    split_size = given.get("split_size", DEFAULT_SPLIT_SIZE)
    check_sizes(shard_size, split_size)
    chat_template = given.get("chat_template")
    template_vars = given.get("template_vars")
    return {
        "text_field": given.get("text_field", "text"),
        "lines": given.get("lines", False),
        "prepend": ids["prepend_bos"],
        "append": ids["append_eos"],
        "shard_size": shard_size,
        "on_error": given.get("on_error", "fail"),
        "resume": given.get("resume", False),
        "workers": workers,
        "split_size": split_size,
        "format": given.get("format"),
        "train_on": given.get("train_on"),
        "chat_template": None if chat_template is None else os.fspath(chat_template),
        "template_vars": None if template_vars is None else dict(template_vars),
        "tokenizer_path": None if tokenizer.path is None else os.fspath(tokenizer.path),
    }


def check_sizes(shard_size: int, split_size: int) -> None:
    if shard_size < 1:
        raise InvalidInputError(f"shard_size must be at least 1 token, got {shard_size}")
    if split_size < 1:
        raise InvalidInputError(f"split_size must be at least 1 byte, got {split_size}")


def resolve_inputs(inputs: PathLike | Sequence[PathLike]) -> tuple[list[Path], list[str] | None]:
    """The local files to read, and their names in the dataset when some were URIs (copied
    into a local cache first; see :mod:`seqpack.storage`)."""
    specs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not any(storage.is_uri(spec) for spec in specs):
        return expand_inputs(specs), None
    paths: list[Path] = []
    names: list[str] = []
    for spec in specs:
        if storage.is_uri(spec):
            for uri, path in storage.stage_inputs([str(spec)], storage.input_cache()):
                names.append(uri)
                paths.append(path)
        else:
            local = expand_inputs(spec)
            paths.extend(local)
            names.extend(str(path) for path in local)
    return paths, names


def read_documents(path: PathLike) -> list[str]:
    """The documents of one corpus file, read by the core: the ``"text"`` field of each line of
    a ``.jsonl``/``.ndjson`` file, or the whole text of any other file. Bad records raise
    :class:`seqpack.InvalidInputError` naming the file and line."""
    return _core.read_documents(path)


def expand_inputs(inputs: PathLike | Sequence[PathLike]) -> list[Path]:
    """Files, directories and globs to a list of input files, each group sorted."""
    specs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not specs:
        raise InvalidInputError("no inputs given")
    paths: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = _input_files(path)
            if not found:
                raise InvalidInputError(f"{path}: no {', '.join(INPUT_SUFFIXES)} files inside")
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        elif glob.has_magic(str(spec)):
            matches = sorted(Path(p) for p in glob.glob(str(spec), recursive=True))
            files = [p for p in matches if p.is_file() and _supported(p)]
            if not files:
                raise InvalidInputError(f"{spec}: the pattern matches no input file")
            paths.extend(files)
        else:
            raise InvalidInputError(f"{path}: no such file or directory")
    return paths


def _supported(path: Path) -> bool:
    return path.name.endswith(INPUT_SUFFIXES)


def _input_files(directory: Path) -> list[Path]:
    """The regular files of ``directory`` (searched recursively) that preprocess reads. Other
    entries of an input's name (FIFOs, sockets, devices, broken links) cannot be read as
    files: they are named in a warning, never skipped silently."""
    found, other = [], []
    for path in directory.rglob("*"):
        if not _supported(path):
            continue
        if path.is_file():
            found.append(path)
        elif not path.is_dir():
            other.append(path)
    if other:
        kinds = ", ".join(f"{p} ({_kind(p)})" for p in sorted(other)[:3])
        more = f" and {len(other) - 3} more" if len(other) > 3 else ""
        warnings.warn(
            f"{directory}: skipped {len(other)} inputs that are not regular files: {kinds}{more}",
            stacklevel=3,
        )
    return sorted(found)


def _kind(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "unreadable"
    if stat.S_ISLNK(mode):
        return "broken link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "not a regular file"


def _clamped_workers(workers: int | None) -> int | None:
    """``workers``, at most ``WORKERS_PER_CORE`` per core (with a warning): a mistyped
    count would otherwise start that many threads, each with its own buffers."""
    cores = os.cpu_count() or 1
    limit = WORKERS_PER_CORE * cores
    if workers is None or workers <= limit:
        return workers
    warnings.warn(
        f"workers={workers} is more than {WORKERS_PER_CORE} per core ({cores} cores); "
        f"using {limit}",
        stacklevel=3,
    )
    return limit


def _special_ids(tokenizer: Tokenizer, names: dict[str, str | None]) -> dict[str, int | None]:
    ids: dict[str, int | None] = dict.fromkeys(names)
    for option, token in names.items():
        if token is None:
            continue
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise InvalidInputError(f"{option}: {token!r} is not a token of the tokenizer")
        ids[option] = token_id
    return ids


class _ProgressBar:
    """One line on stderr, redrawn at most ten times a second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, progress: _core.PreprocessProgress) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        seconds, read, total = (
            progress.seconds,
            progress.input_bytes_read,
            progress.input_bytes_total,
        )
        rate = progress.text_bytes / 1e6 / seconds if seconds > 0 else 0.0
        docs = progress.documents / seconds if seconds > 0 else 0.0
        done = read / total if total else 0.0
        eta = seconds * (1 - done) / done if done > 0 else 0.0
        line = (
            f"\r{progress.documents:>12,} docs  {progress.tokens:>14,} tokens  "
            f"{progress.shards:>4} shards  "
            f"{docs:>9,.0f} docs/s  {rate:>7.1f} MB/s  {100 * done:5.1f} %  "
            f"ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        )
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()

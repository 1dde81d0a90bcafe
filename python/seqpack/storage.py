"""Object storage (``s3://``, ``gs://``, ``file://``) in and out, through pyarrow's
filesystems: pyarrow is already a dependency, and its S3 and GCS filesystems are the
well-kept C++ clients that Arrow, Ray Data and HF ``datasets`` use themselves, with their
usual credential chains (environment, profiles, instance metadata).

The core reads and writes local files only. Inputs given as URIs are copied into a local
cache first and keep their URIs as their names in the dataset; a dataset is written to a
local staging directory and uploaded shard by shard, the manifest last, so a reader never
sees a manifest whose shards are missing. An object that already exists is never written
over: a shard of the same name and size is the same shard (names are per split and runs are
deterministic), any other is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from seqpack.errors import InvalidInputError, SeqpackIOError

__all__ = ["fetch", "is_uri"]

# The schemes handed to pyarrow; anything else with "://" is refused by name.
SCHEMES = ("s3", "gs", "gcs", "file")

MANIFEST = "manifest.json"


def is_uri(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names object storage (``scheme://…``) rather than a local path."""
    return isinstance(location, str) and "://" in location


def filesystem(uri: str) -> tuple[Any, str]:
    """pyarrow's filesystem for ``uri`` and the path inside it; a clear error when the scheme
    is unknown or the store cannot be reached (no credentials, no such bucket)."""
    import pyarrow.fs as pafs

    scheme = uri.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise InvalidInputError(f"{uri}: unsupported scheme {scheme!r} (expected {SCHEMES})")
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (OSError, ValueError) as error:
        raise SeqpackIOError(f"{uri}: cannot reach the object store: {error}") from error
    return fs, path.rstrip("/")


def _info(fs: Any, path: str, uri: str) -> Any:
    try:
        return fs.get_file_info(path)
    except OSError as error:
        raise SeqpackIOError(
            f"{uri}: cannot reach the object store (check the endpoint, bucket and "
            f"credentials){_credentials_note(uri)}: {error}"
        ) from error


def _missing(uri: str, what: str) -> SeqpackIOError:
    """The error for an object that is not there, which may be one the request had no right
    to see."""
    return SeqpackIOError(f"{uri}: {what}{_credentials_note(uri)}")


# Where the AWS and Google clients look for credentials, besides the instance's metadata
# service (which cannot be asked without waiting on machines that have none).
AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def _credentials_note(uri: str) -> str:
    """A note for errors when the client found no credentials to sign its requests with:
    they then go unsigned, and a private object looks missing or forbidden."""
    scheme = uri.split("://", 1)[0].lower()
    home = Path.home()
    if scheme == "s3":
        files = [
            os.environ.get("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials"),
            os.environ.get("AWS_CONFIG_FILE", home / ".aws" / "config"),
        ]
        if any(os.environ.get(v) for v in AWS_CREDENTIAL_VARIABLES) or any(
            Path(f).is_file() for f in files
        ):
            return ""
        return (
            "; no AWS credentials were found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, ~/.aws/credentials), so requests were sent unsigned and only public "
            "objects can be seen"
        )
    if scheme in ("gs", "gcs"):
        default = home / ".config" / "gcloud" / "application_default_credentials.json"
        if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or default.is_file():
            return ""
        return (
            "; no Google credentials were found (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth "
            "application-default login)"
        )
    return ""


def input_cache() -> Path:
    """Where input objects are copied: the same path on every node of a cluster."""
    return Path(tempfile.gettempdir()) / "seqpack-inputs"


def stage_inputs(uris: Sequence[str], cache: Path) -> list[tuple[str, Path]]:
    """Each input object of ``uris`` with its local copy in ``cache`` (a copy already there
    of the same size is used as it is); a directory-like URI stands for the input files
    under it, in name order."""
    import pyarrow.fs as pafs

    local: list[tuple[str, Path]] = []
    for uri in uris:
        fs, path = filesystem(uri)
        info = _info(fs, path, uri)
        if info.type == pafs.FileType.Directory:
            from seqpack.preprocess import INPUT_SUFFIXES

            found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
            files = sorted(f.path for f in found if f.is_file and f.path.endswith(INPUT_SUFFIXES))
            if not files:
                raise InvalidInputError(f"{uri}: no input files under it")
            prefix = uri.split("://", 1)[0] + "://"
            local.extend(stage_inputs([prefix + f for f in files], cache))
            continue
        if info.type != pafs.FileType.File:
            raise _missing(uri, "no such object")
        key = hashlib.blake2b(uri.encode(), digest_size=8).hexdigest()
        target = cache / key / Path(path).name
        if not (target.is_file() and target.stat().st_size == info.size):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            with fs.open_input_stream(path) as source, partial.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 22)
            partial.replace(target)
        local.append((uri, target))
    return local


def split_staging(run: str, split: int) -> Path:
    """Where a task writes split ``split`` of run ``run`` before uploading it: the same
    path for every attempt on a node, so that an attempt goes on from the journal of the
    one before."""
    path = Path(tempfile.gettempdir()) / "seqpack-staging" / run / f"split-{split:05}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def staged_output(uri: str) -> Iterator[Path]:
    """A local directory to write the dataset for ``uri`` into; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="seqpack-out-") as staging:
        yield Path(staging)


def check_empty_output(uri: str, *, resume: bool) -> None:
    """Refuses an output prefix that holds objects, unless resuming."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    info = _info(fs, path, uri)
    if info.type == pafs.FileType.NotFound or resume:
        return
    if info.type == pafs.FileType.File:
        raise InvalidInputError(f"{uri}: an object, not a dataset location")
    if fs.get_file_info(pafs.FileSelector(path, recursive=False)):
        raise InvalidInputError(
            f"{uri} exists and is not empty; pass resume to continue an interrupted run, "
            "or choose another location"
        )


def upload(local: Path, uri: str, names: Sequence[str]) -> None:
    """Uploads the files ``names`` of ``local`` under ``uri``, never writing over an object
    (one of the same size is taken as the same file)."""
    fs, path = filesystem(uri)
    for name in names:
        source = local / name
        target = f"{path}/{name}"
        info = _info(fs, target, f"{uri}/{name}")
        if info.is_file:
            if info.size == source.stat().st_size:
                continue
            raise SeqpackIOError(f"{uri}/{name} exists and differs; it is never written over")
        try:
            with source.open("rb") as data, fs.open_output_stream(target) as sink:
                shutil.copyfileobj(data, sink, 1 << 22)
        except OSError as error:
            raise SeqpackIOError(
                f"{uri}/{name}: cannot be written{_credentials_note(uri)}: {error}"
            ) from error


def upload_dataset(local: Path, uri: str) -> None:
    """Uploads the dataset in ``local`` to ``uri``: every shard, then the manifest."""
    manifest = json.loads((local / MANIFEST).read_text())
    upload(local, uri, [shard["file"] for shard in manifest["shards"]])
    upload(local, uri, [MANIFEST])


def read_text(uri: str) -> str | None:
    """The text of the object ``uri``, or ``None`` if there is none."""
    fs, path = filesystem(uri)
    if not _info(fs, path, uri).is_file:
        return None
    with fs.open_input_stream(path) as source:
        text: str = source.read().decode()
    return text


def delete(uri: str) -> None:
    fs, path = filesystem(uri)
    if _info(fs, path, uri).is_file:
        fs.delete_file(path)


def fetch(uri: str, directory: str | os.PathLike[str]) -> Path:
    """Copies the dataset at ``uri`` into the empty (or new) local ``directory`` for training
    and returns it: the shards its manifest lists, then the manifest, then every shard's
    checksum verified by the one dataset reader (:class:`seqpack.Dataset`)."""
    from seqpack.dataset import Dataset

    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise InvalidInputError(f"{target} exists and is not empty; choose another directory")
    manifest_text = read_text(f"{uri.rstrip('/')}/{MANIFEST}")
    if manifest_text is None:
        raise _missing(uri, f"no {MANIFEST} (not a dataset, or not finished)")
    try:
        manifest = json.loads(manifest_text)
        files = [shard["file"] for shard in manifest["shards"]]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(f"{uri}/{MANIFEST}: not a seqpack manifest ({error})") from error
    target.mkdir(parents=True, exist_ok=True)
    fs, path = filesystem(uri)
    for name in files:
        if "/" in name or name in ("", ".", ".."):
            raise InvalidInputError(f"{uri}/{MANIFEST}: shard {name!r} is not a plain file name")
        with fs.open_input_stream(f"{path}/{name}") as source, (target / name).open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 22)
    (target / MANIFEST).write_text(manifest_text)
    Dataset(target, verify=True)
    return target

"""The dataset reader against hostile directories: lying Arrow metadata, escaping shard
names, manifests that disagree with their shards. Every case must end in a
``CorruptDatasetError`` that names the place, never a crash, a hang or a wrong read. The
cases that could crash run in a child process with a memory cap and a timeout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import seqpack
from seqpack import _core
from seqpack.errors import CorruptDatasetError, SeqpackIOError

from tests.synthetic import STRIDE, write_dataset

LENGTHS = [3, 1, 4, 1, 5]


def _manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((path / "manifest.json").read_text())
    return manifest


def _edit_manifest(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    manifest = _manifest(path)
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def _lying_offsets(path: Path, offsets: list[int]) -> Path:
    """Overwrites the `input_ids` offsets in the shard of ``write_dataset(path, LENGTHS)``
    and makes the manifest agree with the file's new checksum: only the Arrow data lies."""
    shard = path / "shard-00000.arrow"
    data = shard.read_bytes()
    true_offsets = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64).tobytes()
    assert data.count(true_offsets) == 1
    shard.write_bytes(data.replace(true_offsets, np.array(offsets, np.int64).tobytes()))
    return _agree(path)


def _agree(path: Path) -> Path:
    shard = path / "shard-00000.arrow"

    def agree(m: dict[str, Any]) -> None:
        m["shards"][0]["bytes"] = shard.stat().st_size
        m["shards"][0]["checksum"] = _core.checksum_file(str(shard))

    return _edit_manifest(path, agree)


def _lying_lengths(path: Path) -> Path:
    """Rewrites the shard with a `length` column that disagrees with `input_ids`."""
    shard = path / "shard-00000.arrow"
    table = pa.ipc.open_file(pa.BufferReader(shard.read_bytes())).read_all()
    lengths = pa.array([3, 2, 4, 1, 5], pa.uint32())
    table = table.set_column(table.schema.get_field_index("length"), "length", lengths)
    with pa.OSFile(str(shard), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return _agree(path)


def _open_in_child(cases: dict[str, tuple[Path, dict[str, Any]]]) -> dict[str, str]:
    """Opens each dataset in a child process with 4 GiB of address space and 60 s, reads
    every document and the Arrow table, and returns each case's outcome: ``ok``, or the
    exception's class and message."""
    script = textwrap.dedent(
        """
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        import seqpack
        for name, path, kwargs in json.loads(sys.argv[1]):
            try:
                ds = seqpack.Dataset(path, **kwargs)
                total = sum(int(doc.sum()) for doc in ds)
                ds.to_arrow().to_pylist()
                outcome = "ok"
            except Exception as error:
                outcome = f"{type(error).__name__}: {error}"
            print(json.dumps([name, outcome]), flush=True)
        """
    )
    argument = json.dumps([[name, str(path), kwargs] for name, (path, kwargs) in cases.items()])
    child = subprocess.run(
        [sys.executable, "-c", script, argument], capture_output=True, text=True, timeout=120
    )
    outcomes = dict(json.loads(line) for line in child.stdout.splitlines())
    assert child.returncode == 0, (
        f"the child died ({child.returncode}) after {list(outcomes)}: {child.stderr[-2000:]}"
    )
    # A decoder that panics on a crafted file is contained without a word on stderr: the
    # user sees the error, not a backtrace.
    assert "panicked" not in child.stderr, child.stderr[-2000:]
    return outcomes


def test_hostile_datasets_are_refused_naming_the_place(tmp_path: Path) -> None:
    def dataset(name: str) -> Path:
        return write_dataset(tmp_path / name, LENGTHS)

    outside = write_dataset(tmp_path / "outside", LENGTHS)
    fifo = dataset("fifo")
    os.mkfifo(fifo / "queue.arrow")
    device_link = dataset("device-link")
    (device_link / "zero.arrow").symlink_to("/dev/zero")
    cases: dict[str, tuple[Path, str]] = {
        # Arrow metadata that lies, under a matching checksum.
        "offsets beyond the values": (
            _lying_offsets(dataset("beyond"), [0, 3, 4, 8, 9, 1 << 40]),
            r"shard-00000\.arrow: .*(offset|out of bounds|beyond)",
        ),
        "offsets that fall": (
            _lying_offsets(dataset("fall"), [0, 3, 1, 8, 9, 14]),
            r"shard-00000\.arrow: .*(offset|decreas|fall)",
        ),
        "length column that disagrees": (
            _lying_lengths(dataset("length")),
            r"shard-00000\.arrow: record batch 0: row 1: length 2, but input_ids holds 1",
        ),
        # Names that leave the directory, or are not regular files.
        "parent directory": (
            _names(dataset("parent"), "../outside/shard-00000.arrow"),
            r"shards\[0\]\.file .*not the plain name",
        ),
        "absolute path": (
            _names(dataset("absolute"), str(outside / "shard-00000.arrow")),
            r"shards\[0\]\.file .*not the plain name",
        ),
        "a device": (_names(dataset("device"), "/dev/zero"), r"shards\[0\]\.file"),
        "a link to a device": (_names(device_link, "zero.arrow"), r"zero\.arrow: not a regular"),
        "a FIFO": (_names(fifo, "queue.arrow"), r"queue\.arrow: not a regular file"),
        "a shard listed twice": (
            _edit_manifest(
                dataset("twice"),
                lambda m: (
                    m["shards"].append(m["shards"][0]),
                    m.update(total_rows=10, total_tokens=28),
                ),
            ),
            r"shards\[1\]\.file \"shard-00000\.arrow\" is listed twice",
        ),
        # Counts that disagree with the shards.
        "shard rows": (
            _edit_manifest(dataset("rows"), lambda m: m["shards"][0].update(rows=6)),
            r"shard-00000\.arrow: 5 rows, the manifest says 6",
        ),
        "shard tokens": (
            _edit_manifest(dataset("tokens"), lambda m: m["shards"][0].update(tokens=13)),
            r"shard-00000\.arrow: 14 tokens, the manifest says 13",
        ),
        "total rows": (
            _edit_manifest(dataset("total"), lambda m: m.update(total_rows=7)),
            r"manifest\.json: total_rows 7 .* the shards hold 5 rows",
        ),
        "ids at or above vocab_size": (
            _edit_manifest(dataset("vocab"), lambda m: m["tokenizer"].update(vocab_size=STRIDE)),
            rf"shard-00000\.arrow: row 1, token 0: id {STRIDE} is not below .*vocab_size",
        ),
        # Missing and mistyped manifest fields.
        "missing shards": (
            _edit_manifest(dataset("no-shards"), lambda m: m.pop("shards")),
            r"manifest\.json: .*missing field `shards`",
        ),
        "mistyped rows": (
            _edit_manifest(dataset("typed"), lambda m: m["shards"][0].update(rows="5")),
            r"manifest\.json: shards\[0\]\.rows: invalid type",
        ),
        "negative total": (
            _edit_manifest(dataset("negative"), lambda m: m.update(total_tokens=-1)),
            r"manifest\.json: total_tokens: invalid value",
        ),
        "tokenizer not an object": (
            _edit_manifest(dataset("tokenizer"), lambda m: m.update(tokenizer="bpe")),
            r"manifest\.json: tokenizer: invalid type",
        ),
        "missing format version": (
            _edit_manifest(dataset("version"), lambda m: m.pop("format_version")),
            r"manifest\.json: format_version is not",
        ),
        "not an object": (_text(dataset("list"), b"[1, 2]"), r"not a seqpack manifest"),
        "not UTF-8": (_text(dataset("latin"), b'{"format": "\xe9"}'), r"not valid JSON"),
    }
    outcomes = _open_in_child({name: (path, {}) for name, (path, _) in cases.items()})
    for name, (_, pattern) in cases.items():
        outcome = outcomes[name]
        assert outcome.startswith("CorruptDatasetError: "), f"{name}: {outcome}"
        assert re.search(pattern, outcome), f"{name}: {outcome!r} does not match {pattern!r}"


def _names(path: Path, file: str) -> Path:
    return _edit_manifest(path, lambda m: m["shards"][0].update(file=file))


def _text(path: Path, data: bytes) -> Path:
    (path / "manifest.json").write_bytes(data)
    return path


def test_a_flipped_byte_without_verification_is_an_error_or_a_valid_read(tmp_path: Path) -> None:
    """Every single-byte corruption of a shard's Arrow metadata and buffers, opened with
    ``verify=False``: the shard either still reads as a valid table, or is refused."""
    source = write_dataset(tmp_path / "source", LENGTHS)
    shard = source / "shard-00000.arrow"
    data = shard.read_bytes()
    cases = {}
    for position in range(0, len(data), max(1, len(data) // 150)):
        flipped = tmp_path / f"flip-{position}"
        flipped.mkdir()
        (flipped / "manifest.json").write_bytes((source / "manifest.json").read_bytes())
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        (flipped / "shard-00000.arrow").write_bytes(bytes(corrupt))
        cases[str(position)] = (flipped, {"verify": False})
    outcomes = _open_in_child(cases)
    assert len(outcomes) == len(cases)
    bad = {k: v for k, v in outcomes.items() if v != "ok" and "CorruptDatasetError" not in v}
    assert not bad
    assert sum(v == "ok" for v in outcomes.values()) > 0  # data bytes flip silently
    assert sum(v != "ok" for v in outcomes.values()) > 0  # metadata bytes are caught


def test_open_checks_and_views(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "ds", LENGTHS)
    ds = seqpack.Dataset(path)
    assert len(ds) == 5 and ds.num_tokens == 14
    assert ds.lengths.tolist() == LENGTHS and not ds.lengths.flags.writeable
    for d, n in enumerate(LENGTHS):
        assert ds[d].tolist() == [d * STRIDE + i for i in range(n)]
        assert not ds[d].flags.writeable
    assert ds[-1].tolist() == ds[4].tolist()
    table = ds.to_arrow()
    assert table.column("length").to_pylist() == LENGTHS
    assert table.column("doc_id").to_pylist() == list(range(5))
    assert ds.shard_paths == [path / "shard-00000.arrow"]
    assert seqpack.dataset.FORMAT_NAME == ds.manifest["format"] == "seqpack-dataset"
    assert seqpack.dataset.FORMAT_VERSION == ds.manifest["format_version"]
    with pytest.raises(SeqpackIOError, match=r"no manifest\.json"):
        seqpack.Dataset(tmp_path)
    with pytest.raises(CorruptDatasetError, match="made with tokenizer synthetic"):
        seqpack.Dataset(path, tokenizer_fingerprint="other")


def test_the_fingerprint_is_the_one_saved_states_are_keyed_by(tmp_path: Path) -> None:
    """The definition loader states and epoch seeds were saved with: blake2b-128 over the
    sorted JSON of the tokenizer entry and each shard's rows, tokens and checksum."""
    import hashlib

    path = write_dataset(tmp_path / "ds", LENGTHS)
    m = _manifest(path)
    content = {
        "tokenizer": m["tokenizer"],
        "shards": [(s["rows"], s["tokens"], s["checksum"]) for s in m["shards"]],
    }
    expected = hashlib.blake2b(json.dumps(content, sort_keys=True).encode(), digest_size=16)
    assert seqpack.Dataset(path).fingerprint == expected.hexdigest()
    moved = path.rename(tmp_path / "elsewhere")
    assert seqpack.Dataset(moved).fingerprint == expected.hexdigest()


def test_opening_copies_no_token(tmp_path: Path) -> None:
    """The tokens of a 10^6-document dataset stay in the shard's mapping: the Arrow values
    buffer and every document view lie inside the mapped file."""
    lengths = (np.arange(1_000_000, dtype=np.uint32) % 7 + 1).astype(np.uint32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = pa.array(np.arange(offsets[-1], dtype=np.uint32) % 1000)
    item = pa.field("item", pa.uint32(), nullable=False)
    input_ids = pa.LargeListArray.from_arrays(pa.array(offsets), values, type=pa.large_list(item))
    table = pa.table({"input_ids": input_ids, "length": pa.array(lengths)})
    path = write_dataset(tmp_path / "big", [1])
    shard = path / "shard-00000.arrow"
    with pa.OSFile(str(shard), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    _agree(path)
    _edit_manifest(
        path,
        lambda m: (
            m["shards"][0].update(rows=len(lengths), tokens=int(offsets[-1])),
            m.update(total_rows=len(lengths), total_tokens=int(offsets[-1])),
        ),
    )
    ds = seqpack.Dataset(path, verify=False)
    assert len(ds) == 1_000_000
    assert ds[999_999].tolist() == [t % 1000 for t in range(offsets[-2], offsets[-1])]
    mapped = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if fields[-1] == str(shard):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            mapped.append((start, end))
    assert mapped, "the shard is mapped"
    values = ds.to_arrow().column("input_ids").chunk(0).values.buffers()[1]
    assert any(start <= values.address < end for start, end in mapped)
    for index in (0, 123_456, 999_999):
        address = ds[index].__array_interface__["data"][0]
        assert any(start <= address < end for start, end in mapped)

"""seqpack.ray on a real local Ray cluster: the dataset it writes is the local one, byte for
byte; a task that dies is retried; a killed driver is resumed; errors name file and line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import seqpack

ray = pytest.importorskip("ray")

import seqpack.ray as seqpack_ray  # noqa: E402

# Splits of 256 KiB: the real corpora below make a few dozen of them.
SPLIT = 256 << 10


@pytest.fixture(scope="session")
def corpus(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real corpora: standard-library files (long documents) and SQL queries (short ones)."""
    root = tmp_path_factory.mktemp("ray-corpus")
    return first_lines(corpora, root, {"pystdlib.jsonl": 150, "text2sql.jsonl": 4000})


def first_lines(corpora: Path, root: Path, counts: dict[str, int]) -> list[Path]:
    """Copies of the first lines of corpus files (``counts``: name → lines) in ``root``."""
    inputs = []
    for name, count in counts.items():
        path = root / name
        with (corpora / name).open(encoding="utf-8") as src, path.open("w") as dst:
            for _, line in zip(range(count), src, strict=False):
                dst.write(line)
        inputs.append(path)
    return inputs


@pytest.fixture(scope="session")
def tokenizer(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [
        json.loads(line)["text"] for line in corpus[1].read_text(encoding="utf-8").splitlines()
    ]
    path = tmp_path_factory.mktemp("ray-tokenizer") / "tokenizer.json"
    seqpack.train_bpe(texts[:2000], 400, special_tokens=["<|endoftext|>"], out=path)
    return path


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="session")
def reference(
    corpus: list[Path], tokenizer: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The corpus preprocessed locally: what every run on the cluster must write."""
    out = tmp_path_factory.mktemp("ray-reference") / "local"
    seqpack.preprocess(corpus, tokenizer, out, **OPTIONS)
    return out


OPTIONS: dict[str, Any] = {
    "append_eos": "<|endoftext|>",
    "shard_size": 40_000,
    "split_size": SPLIT,
}


@pytest.mark.usefixtures("ray_cluster")
def test_ray_writes_the_local_dataset_byte_for_byte(
    corpus: list[Path], tokenizer: Path, reference: Path, tmp_path: Path
) -> None:
    local = reference
    manifest = seqpack_ray.preprocess(
        corpus,
        tokenizer,
        tmp_path / "ray",
        **OPTIONS,
    )
    splits = {name.split("-")[1] for name in files(local) if name.startswith("shard-")}
    assert len(splits) > 4, "the corpus makes several splits"
    assert files(tmp_path / "ray") == files(local)
    ours, theirs = seqpack.Dataset(tmp_path / "ray"), seqpack.Dataset(local)
    assert ours.fingerprint == theirs.fingerprint
    assert manifest["total_rows"] == theirs.manifest["total_rows"]


def test_a_task_killed_part_way_is_retried_to_the_same_dataset(
    corpus: list[Path], tokenizer: Path, reference: Path, tmp_path: Path, ray_cluster: Path
) -> None:
    local = reference
    marker = tmp_path / "killed"
    # The first attempt of split 0's task dies after its first batch (the marker is left).
    ray_cluster.write_text(f"0:{marker}")
    try:
        seqpack_ray.preprocess(corpus, tokenizer, tmp_path / "ray", **OPTIONS)
    finally:
        ray_cluster.unlink()
    shards_before_the_kill = int(marker.read_text().split()[2])
    assert shards_before_the_kill > 0, "the first attempt died part way, after some shards"
    assert files(tmp_path / "ray") == files(local)


@pytest.mark.usefixtures("ray_cluster")
def test_a_bad_record_is_named_by_file_and_line_as_locally(
    corpus: list[Path], tokenizer: Path, tmp_path: Path
) -> None:
    lines = corpus[1].read_text(encoding="utf-8").splitlines(keepends=True)
    bad_at = len(lines) * 2 // 3
    lines.insert(bad_at, '{"text": 3}\n')
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(seqpack.InvalidInputError) as local_error:
        seqpack.preprocess([corpus[0], broken], tokenizer, tmp_path / "local", split_size=SPLIT)
    assert f"broken.jsonl:{bad_at + 1}:" in str(local_error.value)
    with pytest.raises(seqpack.InvalidInputError) as ray_error:
        seqpack_ray.preprocess([corpus[0], broken], tokenizer, tmp_path / "ray", split_size=SPLIT)
    assert str(ray_error.value) == str(local_error.value)
    assert not list((tmp_path / "ray").glob("*.arrow")), "found before any tokenizing"


@pytest.mark.usefixtures("ray_cluster")
def test_a_killed_command_line_driver_is_resumed_to_the_local_dataset(
    corpus: list[Path], tokenizer: Path, reference: Path, tmp_path: Path
) -> None:
    """``seqpack preprocess --ray ADDRESS`` on the cluster it is given, killed once its first
    shard is written, then resumed (``resume=True``, here in-process on the same cluster):
    the local dataset."""
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "seqpack", "preprocess", *map(str, corpus)]
    command += ["--tokenizer", str(tokenizer), "--out", str(out)]
    command += ["--append-eos", "<|endoftext|>", "--shard-size", str(OPTIONS["shard_size"])]
    command += ["--split-size", str(SPLIT), "--ray", ray.get_runtime_context().gcs_address]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(out.glob("*.arrow")) and driver.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    _, stderr = driver.communicate()
    assert driver.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    assert list(out.glob("*.arrow")), "the driver got as far as a shard"
    assert not (out / "manifest.json").exists(), "killed before its commit"
    # The cluster ends the dead driver's tasks soon after, not at once: the run is resumed
    # once their CPUs are free again, so that none of them still writes.
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"]:
        assert time.monotonic() < deadline, "the killed driver's tasks still run"
        time.sleep(0.05)
    seqpack_ray.preprocess(corpus, tokenizer, out, **OPTIONS, resume=True)
    assert files(out) == files(reference)


@pytest.mark.usefixtures("ray_cluster")
def test_object_storage_in_and_out(corpora: Path, tokenizer: Path, tmp_path: Path, s3: str) -> None:
    """Inputs read from, and the dataset written to, a real S3-compatible server, a task
    per split; fetched back, it is the local dataset (whose sources name the same URIs)."""
    from tests.test_object_store import upload_file

    inputs = first_lines(corpora, tmp_path, {"pystdlib.jsonl": 20, "text2sql.jsonl": 300})
    uris = [upload_file(s3, f"corpus/{path.name}", path) for path in inputs]
    local = tmp_path / "local"
    seqpack.preprocess(uris, tokenizer, local, **OPTIONS)
    splits = {name.split("-")[1] for name in files(local) if name.startswith("shard-")}
    assert len(splits) > 2, "the inputs make several splits"
    seqpack_ray.preprocess(uris, tokenizer, f"{s3}/datasets/ray", **OPTIONS)
    fetched = seqpack.fetch(f"{s3}/datasets/ray", tmp_path / "fetched")
    assert files(fetched) == files(local)
    assert seqpack.Dataset(fetched).manifest["sources"] == uris


def test_import_seqpack_does_not_import_ray() -> None:
    code = "import sys, seqpack; assert 'ray' not in sys.modules, 'ray imported'"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.usefixtures("ray_cluster")
def test_conversations_and_pairs_on_ray_are_the_local_dataset(
    corpora: Path, tmp_path: Path
) -> None:
    """Datasets with loss masks too: conversations rendered with the chat template beside
    the tokenizer and prompt/completion pairs, split on the cluster, equal the local run."""
    from tests.chat_templates import CHATML_GENERATION, SPECIAL_TOKENS

    counts = {"text2sql-chat.jsonl": 600, "text2sql-pairs.jsonl": 1500}
    inputs = first_lines(corpora, tmp_path, counts)
    model = tmp_path / "model"
    model.mkdir()
    texts = [line for path in inputs for line in path.read_text(encoding="utf-8").splitlines()]
    seqpack.train_bpe(texts[:800], 500, special_tokens=SPECIAL_TOKENS, out=model / "tokenizer.json")
    (model / "chat_template.jinja").write_text(CHATML_GENERATION, encoding="utf-8")
    options: dict[str, Any] = {"shard_size": 20_000, "split_size": 64 << 10}
    local = seqpack.preprocess(inputs, model / "tokenizer.json", tmp_path / "local", **options)
    assert local["loss_mask"]["trained_tokens"] > 0
    on_ray = seqpack_ray.preprocess(inputs, model / "tokenizer.json", tmp_path / "ray", **options)
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    assert on_ray["loss_mask"] == local["loss_mask"]
    splits = {name.split("-")[1] for name in files(tmp_path / "local") if name.startswith("shard-")}
    assert len(splits) > 2, "the corpus makes several splits"


@pytest.fixture
def ordered() -> Iterator[None]:
    """Ray Data keeps the dataset's order (what the datasink needs) while the test runs."""
    options = ray.data.DataContext.get_current().execution_options
    saved = options.preserve_order
    options.preserve_order = True
    yield
    options.preserve_order = saved


@pytest.mark.usefixtures("ray_cluster", "ordered")
def test_the_datasink_writes_the_dataset_preprocess_writes(
    corpus: list[Path], tokenizer: Path, tmp_path: Path
) -> None:
    """Records read, tokenized and written by Ray Data in several blocks and tasks: the
    dataset preprocess writes from the same file (one split), byte for byte."""
    source = corpus[1]
    options: dict[str, Any] = {"append_eos": "<|endoftext|>", "shard_size": 40_000}
    local = seqpack.preprocess(source, tokenizer, tmp_path / "local", **options)
    assert len(local["shards"]) > 2
    sink = seqpack_ray.SeqpackDatasink(tmp_path / "sink", tokenizer, source=str(source), **options)
    records = ray.data.read_json(str(source), override_num_blocks=4)
    tokenized = records.map_batches(
        seqpack_ray.Tokenize,
        fn_constructor_kwargs=sink.tokenize_kwargs,
        batch_format="pyarrow",
        batch_size=700,
        # Half a CPU per actor: a reading task needs one of the cluster's two as well.
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=0.5,
    )
    tokenized.write_datasink(sink)
    assert sink.write_tasks > 1, "the order of several write tasks is kept"
    assert files(tmp_path / "sink") == files(tmp_path / "local")
    assert sink.manifest == local


@pytest.mark.usefixtures("ray_cluster")
def test_the_datasink_refuses_a_dataset_whose_order_is_not_kept(
    tokenizer: Path, tmp_path: Path
) -> None:
    assert not ray.data.DataContext.get_current().execution_options.preserve_order
    sink = seqpack_ray.SeqpackDatasink(tmp_path / "sink", tokenizer, source="items")
    records = ray.data.from_items([{"text": f"document {i}"} for i in range(10)])
    # Tokenized by tasks (an instance, not the class): no actor to start.
    tokenize = seqpack_ray.Tokenize(**sink.tokenize_kwargs)
    with pytest.raises(Exception, match="preserve_order = True"):
        records.map_batches(tokenize).write_datasink(sink)
    assert not (tmp_path / "sink" / "manifest.json").exists()


@pytest.mark.usefixtures("ray_cluster", "ordered")
def test_the_datasink_refuses_ids_tokenized_with_other_options(
    tokenizer: Path, tmp_path: Path
) -> None:
    """Blocks tokenized without the sink's end-of-text token are named, not written."""
    sink = seqpack_ray.SeqpackDatasink(
        tmp_path / "sink", tokenizer, source="items", append_eos="<|endoftext|>"
    )
    records = ray.data.from_items([{"text": f"document {i}"} for i in range(10)])
    # Tokenized by tasks (no actor to start), which Ray fuses with the write into one task.
    tokenized = records.map_batches(seqpack_ray.Tokenize(tokenizer))
    with pytest.raises(Exception, match="not framed by the run's prepend None and append"):
        tokenized.write_datasink(sink)
    assert not (tmp_path / "sink" / "manifest.json").exists()
    with pytest.raises(Exception, match="tokenize them first"):
        records.write_datasink(sink)
    assert not (tmp_path / "sink" / "manifest.json").exists()


def test_a_split_staged_for_a_uri_goes_on_from_its_journal(
    corpus: list[Path],
    tokenizer: Path,
    reference: Path,
    s3: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A task writing to a URI stages its split in a directory of its run and split on the
    node, kept until the split is uploaded: the attempt after one that died there goes on
    from the split's journal (the shards it had are not written again: one that started
    again would clear and rewrite them) and uploads the split's shards of the local
    dataset, then removes the staging directory."""
    from seqpack import _core, storage
    from seqpack.preprocess import core_options

    loaded = seqpack.Tokenizer.from_file(tokenizer)
    options = core_options(loaded, **OPTIONS)
    plan = _core.plan_preprocess(corpus, loaded._core, options)
    counts = [_core.count_split(plan, k, loaded._core, options) for k in range(len(plan["splits"]))]
    start = _core.split_starts(plan, counts)[0]
    staging = storage.split_staging(plan["run"], 0)

    class Died(Exception):
        pass

    def die_after_a_shard(progress: _core.PreprocessProgress) -> None:
        if progress.shards:
            raise Died

    with pytest.raises(Died):
        _core.preprocess_split(
            plan, 0, start, staging, loaded._core, options, progress=die_after_a_shard
        )
    kept = {p.name: p.stat() for p in staging.glob("*.arrow")}
    assert kept, "the first attempt wrote shards"
    uploaded: dict[str, os.stat_result] = {}
    upload = storage.upload

    def note_upload(local: Path, uri: str, names: Sequence[str]) -> None:
        uploaded.update({name: (local / name).stat() for name in names})
        upload(local, uri, names)

    monkeypatch.setattr(storage, "upload", note_upload)
    out = f"{s3}/staged"
    result = seqpack_ray._Target(out, plan["run"]).run_split(plan, 0, start, loaded, options)
    for name, before in kept.items():
        after = uploaded[name]
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name
    assert set(kept) <= {shard["file"] for shard in result["shards"]}
    assert not staging.exists(), "removed once uploaded"
    fs, root = storage.filesystem(out)
    for shard in result["shards"]:
        with fs.open_input_stream(f"{root}/{shard['file']}") as source:
            assert source.read() == (reference / shard["file"]).read_bytes(), shard["file"]

"""Object storage through pyarrow's filesystems, against a real S3-compatible server on
127.0.0.1 (moto's): inputs read from it, datasets written to it (manifest last, nothing
written over) and fetched back with checksums verified; clear errors for what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import seqpack
from seqpack import storage


def upload_file(location: str, key: str, path: Path) -> str:
    """Puts ``path`` at ``location/key`` (a bucket, or a prefix in one) and returns its URI."""
    fs, root = storage.filesystem(location)
    with fs.open_output_stream(f"{root}/{key}") as sink:
        sink.write(path.read_bytes())
    return f"{location}/{key}"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "docs.jsonl"
    lines = [json.dumps({"text": f"document {i} " + "words " * (i % 17)}) for i in range(3000)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tokenizer(corpus: Path, tmp_path: Path) -> seqpack.Tokenizer:
    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    return seqpack.train_bpe(texts, 300, special_tokens=["<|endoftext|>"])


@pytest.fixture
def prefix(s3: str, request: pytest.FixtureRequest) -> str:
    """The test's own place in the bucket."""
    return f"{s3}/{request.node.name}"


def test_a_dataset_goes_to_object_storage_and_back(
    prefix: str, corpus: Path, tokenizer: seqpack.Tokenizer, tmp_path: Path
) -> None:
    uri = upload_file(prefix, "in/docs.jsonl", corpus)
    local = tmp_path / "local"
    options = {"shard_size": 5000, "split_size": 20_000, "append_eos": "<|endoftext|>"}
    seqpack.preprocess(uri, tokenizer, local, **options)  # type: ignore[arg-type]
    manifest = seqpack.preprocess(uri, tokenizer, f"{prefix}/out", **options)  # type: ignore[arg-type]
    assert manifest["sources"] == [uri], "the input is named by its URI"
    assert len(manifest["shards"]) > 3
    fetched = seqpack.fetch(f"{prefix}/out", tmp_path / "fetched")
    expected = {p.name: p.read_bytes() for p in local.iterdir()}
    assert {p.name: p.read_bytes() for p in fetched.iterdir()} == expected
    # Only the dataset's own files are in the bucket: no journal or split result is left.
    fs, root = storage.filesystem(f"{prefix}/out")
    names = sorted(Path(f.path).name for f in fs.get_file_info(pafs.FileSelector(root)))
    assert names == sorted(expected)
    # A dataset is never written over.
    with pytest.raises(seqpack.InvalidInputError, match="not empty"):
        seqpack.preprocess(uri, tokenizer, f"{prefix}/out", **options)  # type: ignore[arg-type]


def test_fetch_verifies_checksums_through_the_dataset_reader(
    prefix: str, corpus: Path, tokenizer: seqpack.Tokenizer, tmp_path: Path
) -> None:
    manifest = seqpack.preprocess(corpus, tokenizer, f"{prefix}/out", shard_size=5000)
    shard = manifest["shards"][0]["file"]
    fs, root = storage.filesystem(prefix)
    with fs.open_input_stream(f"{root}/out/{shard}") as source:
        data = bytearray(source.read())
    data[len(data) // 2] ^= 0xFF
    with fs.open_output_stream(f"{root}/out/{shard}") as sink:
        sink.write(bytes(data))
    with pytest.raises(seqpack.CorruptDatasetError, match=f"{shard}: checksum"):
        seqpack.fetch(f"{prefix}/out", tmp_path / "fetched")


def test_missing_objects_and_buckets_are_clear_errors(
    s3: str, tokenizer: seqpack.Tokenizer, tmp_path: Path
) -> None:
    with pytest.raises(seqpack.SeqpackIOError, match=r"s3://seqpack/nothing: no manifest\.json"):
        seqpack.fetch(f"{s3}/nothing", tmp_path / "a")
    with pytest.raises(seqpack.SeqpackIOError, match=r"s3://no-such-bucket/x\.jsonl: no such"):
        seqpack.preprocess("s3://no-such-bucket/x.jsonl", tokenizer, tmp_path / "b")
    with pytest.raises(seqpack.InvalidInputError, match="unsupported scheme 'ftp'"):
        seqpack.fetch("ftp://host/data", tmp_path / "c")


def test_an_unreachable_endpoint_is_an_error_naming_the_uri(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = "http://127.0.0.1:1"  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    # The store's filesystem with one attempt per request: pyarrow's default retries a
    # refused connection with back-off (6 s) before raising the same error.
    opened = storage.filesystem

    def without_retries(uri: str) -> tuple[pafs.FileSystem, str]:
        _, path = opened(uri)
        retry = pafs.AwsStandardS3RetryStrategy(max_attempts=1)
        return pafs.S3FileSystem(endpoint_override=endpoint, retry_strategy=retry), path

    monkeypatch.setattr(storage, "filesystem", without_retries)
    with pytest.raises(
        seqpack.SeqpackIOError,
        match=r"s3://seqpack/data/manifest\.json: cannot reach the object store .*127\.0\.0\.1:1",
    ):
        seqpack.fetch(f"{s3}/data", tmp_path / "fetched")


def test_missing_credentials_are_named_in_the_error(
    prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without credentials requests go unsigned: what they cannot see is reported with the
    credentials missing, not only as missing."""
    for variable in (*storage.AWS_CREDENTIAL_VARIABLES, "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(seqpack.SeqpackIOError, match="no AWS credentials were found") as error:
        seqpack.fetch(f"{prefix}/data", tmp_path / "fetched")
    assert f"{prefix}/data: no manifest.json" in str(error.value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(seqpack.SeqpackIOError) as signed:
        seqpack.fetch(f"{prefix}/data", tmp_path / "fetched")
    assert "no AWS credentials" not in str(signed.value)

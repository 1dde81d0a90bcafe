from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder that sits beside the checkout (CI lays it there too)."""
    assert SHARED.is_dir(), f"{SHARED} is missing: the shared data must sit beside the checkout"
    return SHARED


def read_histogram(path: Path) -> npt.NDArray[np.int64]:
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64)
    return np.repeat(data[:, 0], data[:, 1])


@pytest.fixture(scope="session")
def corpora(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small real corpora (Python standard library, text2sql) as JSONL, made offline."""
    out = tmp_path_factory.mktemp("corpora")
    subprocess.run(
        ["bash", str(shared_dir / "corpora/make-corpora"), str(out)],
        check=True,
        env={**os.environ, "SKIP_LINUX": "1", "PYTHON": sys.executable},
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def loader_dataset(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real dataset of mixed lengths: 60 standard-library files (long, many longer
    than the rows the tests use) and 1,500 SQL queries (short), tokenized with a 512-token
    byte-level BPE, in several shards, with an end-of-text token after each document."""
    import seqpack

    root = tmp_path_factory.mktemp("loader")
    texts: list[str] = []
    for name, count in (("pystdlib.jsonl", 60), ("text2sql.jsonl", 1500)):
        with (corpora / name).open(encoding="utf-8") as f:
            texts.extend(json.loads(line)["text"] for _, line in zip(range(count), f, strict=False))
    corpus = root / "mixed.jsonl"
    with corpus.open("w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}) + "\n")
    tokenizer = seqpack.train_bpe(
        texts, 512, special_tokens=["<|endoftext|>"], out=root / "tokenizer.json"
    )
    seqpack.preprocess(
        corpus,
        tokenizer,
        root / "data",
        append_eos="<|endoftext|>",
        shard_size=100_000,
        progress=False,
    )
    return root / "data"


@pytest.fixture(scope="session")
def s3() -> Iterator[str]:
    """A real S3-compatible server (moto's) on 127.0.0.1 with one bucket; returns the bucket's
    URI. pyarrow (and the Ray workers started after this) find it through the environment."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in S3_ENVIRONMENT}
    os.environ.update(S3_ENVIRONMENT, AWS_ENDPOINT_URL=f"http://{host}:{port}")
    boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="seqpack")
    yield "s3://seqpack"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def ray_cluster(s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The one local Ray cluster of the session, for every test that runs on Ray (2 CPUs, no
    dashboard; never one that happens to run already), started after the S3 server so that
    its workers see it too. Yields the file through which a test asks for a task to be
    killed (see ``seqpack.ray._fault_for_tests``): the workers' environment names it from
    the start, so that asking starts no workers of another environment."""
    ray = pytest.importorskip("ray")
    kill_request = tmp_path_factory.mktemp("ray-faults") / "kill-split"
    saved = os.environ.get(KILL_SPLIT_VARIABLE)
    os.environ[KILL_SPLIT_VARIABLE] = str(kill_request)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield kill_request
    ray.shutdown()
    if saved is None:
        os.environ.pop(KILL_SPLIT_VARIABLE, None)
    else:
        os.environ[KILL_SPLIT_VARIABLE] = saved


KILL_SPLIT_VARIABLE = "SEQPACK_TEST_KILL_SPLIT"

S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "",
}

"""`seqpack preprocess` and `seqpack.Dataset` on real corpora: ids, format, resume, bad input."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import seqpack
from seqpack.cli import main
from seqpack.dataset import Dataset
from seqpack.errors import CorruptDatasetError, InvalidInputError, SeqpackIOError
from seqpack.preprocess import read_documents

tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="session")
def small_corpus(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 300 standard-library files as JSONL (a few MB)."""
    path = tmp_path_factory.mktemp("small") / "pystdlib-300.jsonl"
    with (corpora / "pystdlib.jsonl").open(encoding="utf-8") as src, path.open("w") as dst:
        for _, line in zip(range(300), src, strict=False):
            dst.write(line)
    return path


@pytest.fixture(scope="session")
def tokenizer_path(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE trained by HF tokenizers (so the file is not written by seqpack)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=["<|endoftext|>", "<|bos|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts_of(small_corpus), trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


def texts_of(path: Path) -> list[str]:
    return read_documents(path)


def test_ids_match_hf_tokenizers_and_every_document_is_kept(
    small_corpus: Path, tokenizer_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    manifest = seqpack.preprocess(
        small_corpus, tokenizer_path, out, append_eos="<|endoftext|>", shard_size=200_000
    )
    hf = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    eos = hf.token_to_id("<|endoftext|>")
    texts = texts_of(small_corpus)
    kept = [t for t in texts if t]
    ds = Dataset(out)
    assert len(ds) == len(kept) == manifest["total_rows"]
    assert manifest["skipped"] == (
        {"empty": len(texts) - len(kept)} if len(kept) < len(texts) else {}
    )
    assert len(manifest["shards"]) > 1
    expected = hf.encode_batch(kept, add_special_tokens=False)
    for i, enc in enumerate(expected):
        assert ds[i].tolist() == [*enc.ids, eos], f"document {i}"
    assert ds.lengths.tolist() == [len(e.ids) + 1 for e in expected]
    assert int(ds.lengths.sum()) == manifest["total_tokens"] == ds.num_tokens
    table = ds.to_arrow()
    assert table.column("doc_id").to_pylist() == list(range(len(kept)))
    assert set(table.column("source").to_pylist()) == {str(small_corpus)}


def test_a_shard_of_several_record_batches_is_read_in_place(
    small_corpus: Path, tokenizer_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    seqpack.preprocess(small_corpus, tokenizer_path, out)
    (shard,) = out.glob("shard-*.arrow")
    with pa.memory_map(str(shard)) as source:
        reader = pa.ipc.open_file(source)
        assert reader.num_record_batches > 1
        table = reader.read_all()
    ds = Dataset(out)
    assert len(ds) == table.num_rows
    assert ds.lengths.tolist() == table.column("length").to_pylist()
    ids = table.column("input_ids")
    first_batch = len(ids.chunk(0))
    for i in (0, first_batch - 1, first_batch, len(ds) - 1):
        tokens = ds[i]
        assert tokens.tolist() == ids[i].as_py(), f"document {i}"
        # A view of the mapped file, not a copy.
        assert not tokens.flags.owndata and not tokens.flags.writeable


def test_other_readers_need_no_seqpack(
    small_corpus: Path, tokenizer_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    seqpack.preprocess(small_corpus, tokenizer_path, out, shard_size=300_000)
    reference = Dataset(out).to_arrow()
    shards = sorted(str(p) for p in out.glob("shard-*.arrow"))
    with pa.memory_map(shards[0]) as source:
        first = pa.ipc.open_file(source).read_all()
    assert first.schema.field("input_ids").type == pa.large_list(
        pa.field("item", pa.uint32(), False)
    )
    import datasets
    import polars as pl

    # The "arrow" builder reads IPC files (its Dataset.from_file expects the stream format).
    hf = datasets.load_dataset(
        "arrow", data_files=shards, split="train", cache_dir=str(tmp_path / "cache")
    )
    assert hf.num_rows == reference.num_rows
    assert hf[0]["input_ids"] == reference.column("input_ids")[0].as_py()
    assert hf[-1]["doc_id"] == reference.num_rows - 1
    frame = pl.concat([pl.read_ipc(s) for s in shards])
    assert frame.height == reference.num_rows
    assert frame["length"].sum() == sum(reference.column("length").to_pylist())


def test_formats_and_the_lines_option(tokenizer_path: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.jsonl").write_text('{"body": "first"}\n')
    with gzip.open(tmp_path / "in/b.jsonl.gz", "wt") as f:
        f.write('{"body": "second"}\n')
    (tmp_path / "in/c.txt").write_text("third\nfourth\n")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2], "body": ["fifth", "sixth"]}), tmp_path / "in/d.parquet")
    with pa.OSFile(str(tmp_path / "in/e.arrow"), "wb") as sink:
        table = pa.table({"body": pa.array(["seventh"], pa.large_string())})
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    out = tmp_path / "ds"
    manifest = seqpack.preprocess(
        tmp_path / "in", tokenizer_path, out, text_field="body", lines=True
    )
    hf = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    ds = Dataset(out)
    got = [ds[i].tolist() for i in range(len(ds))]
    words = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh"]
    assert got == [hf.encode(t, add_special_tokens=False).ids for t in words]
    names = ["a.jsonl", "b.jsonl.gz", "c.txt", "d.parquet", "e.arrow"]
    assert [Path(s).name for s in manifest["sources"]] == names
    assert ds.to_arrow().column("line").to_pylist() == [1, 1, 1, 2, 1, 2, 1]


def test_a_directory_scan_reads_every_suffix_the_core_reads(
    tokenizer_path: Path, tmp_path: Path
) -> None:
    # The Python scan once skipped .feather and .ndjson.gz/.zst files that the core reads.
    import pyarrow.feather as feather

    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.ndjson").write_text('{"text": "first"}\n')
    with gzip.open(tmp_path / "in/b.ndjson.gz", "wt") as f:
        f.write('{"text": "second"}\n')
    with pa.CompressedOutputStream(str(tmp_path / "in/c.ndjson.zst"), "zstd") as zst:
        zst.write(b'{"text": "third"}\n')
    feather.write_feather(
        pa.table({"text": ["fourth"]}), str(tmp_path / "in/d.feather"), compression="uncompressed"
    )
    (tmp_path / "in/e.csv").write_text("text\nnot an input\n")
    manifest = seqpack.preprocess(tmp_path / "in", tokenizer_path, tmp_path / "ds")
    names = ["a.ndjson", "b.ndjson.gz", "c.ndjson.zst", "d.feather"]
    assert [Path(s).name for s in manifest["sources"]] == names
    hf = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    ds = Dataset(tmp_path / "ds")
    words = ["first", "second", "third", "fourth"]
    assert [ds[i].tolist() for i in range(len(ds))] == [
        hf.encode(t, add_special_tokens=False).ids for t in words
    ]


def test_bad_records_name_file_and_line_or_are_counted(
    tokenizer_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        b'{"text": "ok"}\n{"text": "fine"\n{"title": "x"}\n{"text": ""}\n{"text": "\xff"}\n'
    )
    args = ["preprocess", str(bad), "--tokenizer", str(tokenizer_path), "--out"]
    assert main([*args, str(tmp_path / "a")]) == 2
    assert f"{bad}:2: malformed JSON" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "b"), "--on-error", "skip"]) == 0
    manifest = json.loads((tmp_path / "b/manifest.json").read_text())
    assert manifest["total_rows"] == 1
    assert manifest["skipped"] == {
        "empty": 1,
        "invalid_utf8": 1,
        "malformed_json": 1,
        "missing_field": 1,
    }
    assert "1 malformed_json" in capsys.readouterr().out


def test_bad_arguments(tokenizer_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        seqpack.preprocess(tmp_path / "nope.jsonl", tokenizer_path, tmp_path / "o")
    with pytest.raises(InvalidInputError, match="matches no input"):
        seqpack.preprocess(str(tmp_path / "*.jsonl"), tokenizer_path, tmp_path / "o")
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(InvalidInputError, match="not a token"):
        seqpack.preprocess(tmp_path / "a.jsonl", tokenizer_path, tmp_path / "o", append_eos="<eos>")
    seqpack.preprocess(tmp_path / "a.jsonl", tokenizer_path, tmp_path / "o")
    with pytest.raises(InvalidInputError, match="exists and is not empty"):
        seqpack.preprocess(tmp_path / "a.jsonl", tokenizer_path, tmp_path / "o")


def test_corrupted_or_mismatched_datasets_are_refused(
    small_corpus: Path, tokenizer_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    manifest = seqpack.preprocess(small_corpus, tokenizer_path, out, shard_size=300_000)
    shard = out / manifest["shards"][1]["file"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptDatasetError, match=f"{shard.name}: checksum"):
        Dataset(out)
    shard.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(CorruptDatasetError, match=f"{shard.name}: .* bytes, the manifest says"):
        Dataset(out)
    with pytest.raises(CorruptDatasetError, match="tokenizer"):
        Dataset(out, verify=False, tokenizer_fingerprint="something-else")
    with pytest.raises(SeqpackIOError, match=r"no manifest\.json"):
        Dataset(tmp_path)


def _rows(path: Path) -> list[list[int]]:
    ds = Dataset(path)
    return [ds[i].tolist() for i in range(len(ds))]


def test_resume_after_kill_gives_the_same_dataset(
    corpora: Path, tokenizer_path: Path, tmp_path: Path
) -> None:
    corpus = corpora / "pystdlib.jsonl"
    common = [
        str(corpus),
        "--tokenizer",
        str(tokenizer_path),
        "--shard-size",
        "400000",
        "--workers",
        "1",
    ]
    reference = tmp_path / "reference"
    assert main(["preprocess", *common, "--out", str(reference)]) == 0
    expected = json.loads((reference / "manifest.json").read_text())
    assert len(expected["shards"]) >= 6
    for target in (2, 5):
        out = tmp_path / f"killed-{target}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "seqpack", "preprocess", *common, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while len(list(out.glob("shard-*.arrow"))) < target and proc.poll() is None:
            assert time.monotonic() < deadline, "preprocess made no progress"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (out / "manifest.json").exists(), "the run finished before it was killed"
        assert main(["preprocess", *common, "--out", str(out), "--resume"]) == 0
        resumed = json.loads((out / "manifest.json").read_text())
        assert resumed["shards"] == expected["shards"]
        assert resumed["total_rows"] == expected["total_rows"]
        assert _rows(out) == _rows(reference)


def test_stats_prints_percentiles_and_plots(
    small_corpus: Path, tokenizer_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    seqpack.preprocess(small_corpus, tokenizer_path, out)
    png = tmp_path / "lengths.png"
    assert main(["stats", str(out), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "p50=" in text and "documents by length:" in text
    lengths = Dataset(out).lengths
    assert f"p100={int(lengths.max()):,}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.all(lengths > 0)
    # `seqpack pack` packs a dataset's documents.
    assert main(["pack", "--lengths", str(out), "--capacity", "1024", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == len(lengths)
    assert report["tokens"] == int(lengths.sum())


def test_other_tokenizers_run_through_the_tokenizers_library(
    small_corpus: Path, tmp_path: Path
) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    hf = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(lowercase=True)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=1000, special_tokens=["[UNK]", "[SEP]"], show_progress=False
    )
    texts = [t for t in texts_of(small_corpus)[:40] if t]
    hf.train_from_iterator(texts, trainer)
    path = tmp_path / "wordpiece.json"
    hf.save(str(path))
    tokenizer = seqpack.Tokenizer.from_file(path)
    assert not tokenizer.native
    for text in texts[:10]:
        assert tokenizer.encode(text).tolist() == hf.encode(text, add_special_tokens=False).ids
    corpus = tmp_path / "few.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    manifest = seqpack.preprocess(corpus, path, tmp_path / "ds", append_eos="[SEP]")
    assert manifest["tokenizer"]["fingerprint"] == tokenizer.fingerprint
    ds = Dataset(tmp_path / "ds", tokenizer_fingerprint=tokenizer.fingerprint)
    sep = hf.token_to_id("[SEP]")
    for i, text in enumerate(texts):
        assert ds[i].tolist() == [*hf.encode(text, add_special_tokens=False).ids, sep]


def test_a_loaded_tokenizer_is_used_as_it_is(
    small_corpus: Path, tokenizer_path: Path, tmp_path: Path
) -> None:
    from seqpack import _core

    tokenizer = seqpack.Tokenizer.from_file(tokenizer_path)
    by_object = seqpack.preprocess(small_corpus, tokenizer, tmp_path / "a", progress=False)
    by_path = seqpack.preprocess(small_corpus, tokenizer_path, tmp_path / "b", progress=False)
    assert by_object["shards"] == by_path["shards"]
    assert by_object["tokenizer"]["fingerprint"] == tokenizer.fingerprint
    with pytest.raises(TypeError, match="tokenizer must be"):
        _core.preprocess(
            [str(small_corpus)],
            str(tmp_path / "c"),
            tokenizer.to_str(),  # type: ignore[arg-type]
            text_field="text",
            lines=False,
            prepend=None,
            append=None,
            shard_size=1 << 20,
            on_error="fail",
            resume=False,
            workers=1,
            progress=None,
        )

"""Prompt/completion records through preprocess, storage and the loader: ids and loss masks
as TRL's SFT preparation makes them, masks stored zero-copy, labels -100 where nothing is
trained, and a tiny float64 model that gives each packed conversation the per-token losses
it has alone with masked labels."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pyarrow as pa
import pytest
import seqpack
from seqpack import _core
from seqpack.cli import main
from seqpack.preprocess import RecordFormat, TrainOn

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from seqpack.torch import (  # noqa: E402
    DecomposedLoader,
    PackedLoader,
    hf_kwargs,
    num_label_tokens,
)

from .chat_templates import CHATML_GENERATION, peer_with_generation  # noqa: E402
from .models import segments, tiny_llama  # noqa: E402

EOS = "<|endoftext|>"
PAIRS = 1500
F = torch.nn.functional


@pytest.fixture(scope="module")
def pairs(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first pairs of text2sql-pairs.jsonl, a small BPE trained on them, and the
    dataset preprocess makes of them (end-of-text token appended)."""
    root = tmp_path_factory.mktemp("pairs")
    with (corpora / "text2sql-pairs.jsonl").open(encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(PAIRS), f, strict=False)]
    corpus = root / "pairs.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    texts = [r["prompt"] + r["completion"] for r in records]
    tokenizer = seqpack.train_bpe(texts, 400, special_tokens=[EOS], out=root / "tokenizer.json")
    manifest = seqpack.preprocess(
        corpus, tokenizer, root / "data", append_eos=EOS, shard_size=20_000, progress=False
    )
    return {
        "root": root,
        "records": records,
        "tokenizer": tokenizer,
        "manifest": manifest,
        "data": root / "data",
        "corpus": corpus,
    }


def trl_reference(
    tokenizer: seqpack.Tokenizer, prompt: str, completion: str, eos: int, *, train_all: bool
) -> tuple[list[int], list[bool], bool]:
    """TRL's non-conversational prompt/completion preparation: ids of prompt + completion
    (+ EOS), the completion starting where they stop agreeing with the prompt's own ids.
    Also whether that boundary fell inside a token."""
    prompt_ids = tokenizer.encode(prompt).tolist()
    ids = [*tokenizer.encode(prompt + completion).tolist(), eos]
    common = next(
        (i for i, (a, b) in enumerate(zip(prompt_ids, ids, strict=False)) if a != b),
        min(len(prompt_ids), len(ids)),
    )
    mask = [train_all] * common + [True] * (len(ids) - common)
    return ids, mask, common < len(prompt_ids)


def test_ids_and_masks_are_those_of_trls_preparation(pairs: dict[str, Any]) -> None:
    dataset = seqpack.Dataset(pairs["data"])
    tokenizer = pairs["tokenizer"]
    eos = tokenizer.token_to_id(EOS)
    assert len(dataset) == len(pairs["records"])
    trained = edges = untrained = 0
    for i, record in enumerate(pairs["records"]):
        ids, mask, edge = trl_reference(
            tokenizer, record["prompt"], record["completion"], eos, train_all=False
        )
        assert dataset[i].tolist() == ids, i
        assert dataset.loss_mask(i).tolist() == mask, i
        trained += sum(mask)
        edges += edge
        untrained += not any(mask)
    info = pairs["manifest"]["loss_mask"]
    assert info["trained_tokens"] == trained
    assert info["edges_inside_tokens"] == edges
    assert info["records_with_nothing_to_train"] == untrained
    assert info["formats"] == ["prompt-completion"]
    assert pairs["manifest"]["format_version"] == _core.LOSS_MASK_FORMAT_VERSION


def test_train_on_all_masks_nothing(pairs: dict[str, Any], tmp_path: Path) -> None:
    manifest = seqpack.preprocess(
        pairs["corpus"], pairs["tokenizer"], tmp_path / "all", train_on="all", progress=False
    )
    dataset = seqpack.Dataset(tmp_path / "all")
    assert manifest["loss_mask"]["trained_tokens"] == manifest["total_tokens"]
    assert all(dataset.loss_mask(i).all() for i in range(0, len(dataset), 97))


def test_the_mask_is_a_zero_copy_view_and_the_same_through_pyarrow(pairs: dict[str, Any]) -> None:
    dataset = seqpack.Dataset(pairs["data"])
    mask = dataset.loss_mask(3)
    assert mask.dtype == np.bool_ and not mask.flags.writeable and mask.base is not None
    table = dataset.to_arrow()
    assert table.schema.field("loss_mask").type == pa.large_list(
        pa.field("item", pa.uint8(), False)
    )
    column = table.column("loss_mask")
    for i in (0, 3, len(dataset) - 1):
        assert column[i].as_py() == dataset.loss_mask(i).astype(np.uint8).tolist()
        assert len(column[i]) == len(dataset[i])


def test_plain_text_datasets_have_no_mask(loader_dataset: Path) -> None:
    dataset = seqpack.Dataset(loader_dataset)
    assert not dataset.has_loss_mask
    assert "loss_mask" not in dataset.manifest
    assert dataset.manifest["format_version"] == _core.DATASET_FORMAT_VERSION
    assert "loss_mask" not in dataset.to_arrow().schema.names
    assert dataset.loss_mask(0).all() and len(dataset.loss_mask(0)) == len(dataset[0])
    stats = PackedLoader(loader_dataset, 256, 2).stats()
    assert stats["long_docs"] == "split"


def test_the_typed_choices_are_the_cores() -> None:
    assert get_args(RecordFormat) == _core.RECORD_FORMATS
    assert get_args(TrainOn) == _core.TRAIN_ON


def fitting_seq_len(dataset: seqpack.Dataset) -> int:
    """The smallest power of two that holds the dataset's longest document."""
    return 1 << int(dataset.lengths.max() - 1).bit_length()


def test_labels_are_ignored_where_the_mask_is_false(pairs: dict[str, Any]) -> None:
    dataset = seqpack.Dataset(pairs["data"])
    # Every record fits: nothing is truncated, each segment is a whole record.
    seq_len = fitting_seq_len(dataset)
    loader = PackedLoader(pairs["data"], seq_len, 4, seed=1, drop_last=False)
    by_ids = {tuple(dataset[i].tolist()): i for i in range(len(dataset))}
    seen = 0
    for batch in itertools.islice(loader, 6):
        expected_labels = 0
        for row, a, b in segments(batch, seq_len):
            ids = batch["input_ids"][row, a:b]
            doc = by_ids[tuple(ids.tolist())]
            mask = torch.from_numpy(dataset.loss_mask(doc).copy())
            expected = torch.where(mask, ids, -100)
            expected[0] = -100
            assert torch.equal(batch["labels"][row, a:b], expected)
            expected_labels += int(mask[1:].sum())
            seen += 1
        assert num_label_tokens(batch) == expected_labels
    assert seen > 20


def test_masked_datasets_truncate_long_documents_by_default(pairs: dict[str, Any]) -> None:
    dataset = seqpack.Dataset(pairs["data"])
    seq_len = 32
    loader = PackedLoader(pairs["data"], seq_len, 2, drop_last=False)
    stats = loader.stats()
    longer = dataset.lengths > seq_len
    assert stats["long_docs"] == "truncate"
    assert stats["truncated_documents"] == int(longer.sum()) > 0
    assert stats["truncated_tokens"] == int((dataset.lengths[longer] - seq_len).sum())
    # Each row's segments start at a document's first token: never a fragment whose
    # prompt was cut off.
    for batch in itertools.islice(loader, 5):
        for row, a, _ in segments(batch, seq_len):
            assert int(batch["position_ids"][row, a]) == 0
    split = PackedLoader(pairs["data"], seq_len, 2, drop_last=False, long_docs="split")
    assert split.stats()["truncated_tokens"] == 0


def assert_each_segment_has_its_losses_alone(
    batch: dict[str, Any], seq_len: int, vocab: int, labels_alone: Any
) -> None:
    """A tiny float64 model fed the packed ``batch`` gives every segment the per-token
    losses, on its trained tokens, that it has run alone with ``labels_alone(ids)`` (HF's
    masked labels: -100 where not trained), and the batch's loss is their mean."""
    model = tiny_llama(vocab, "sdpa", seq_len)
    out = model(**hf_kwargs(batch), num_items_in_batch=num_label_tokens(batch))
    packed_logits = out.logits
    alone_losses, total = [], 0
    for row, a, b in segments(batch, seq_len):
        ids = batch["input_ids"][row, a:b]
        labels = labels_alone(ids)
        alone = model(input_ids=ids[None], labels=labels[None], use_cache=False)
        logits = alone.logits[0]
        per_token = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="none")
        packed = F.cross_entropy(
            packed_logits[row, a : b - 1],
            batch["labels"][row, a + 1 : b],
            ignore_index=-100,
            reduction="none",
        )
        trained = labels[1:] != -100
        assert int(trained.sum()) > 0
        assert float((per_token[trained] - packed[trained]).abs().max()) < 1e-10
        # The record's mean loss over its trained tokens is HF's loss for it alone. HF casts
        # the logits to float32 before its loss, so the two agree to float32 precision.
        mean = float(per_token[trained].mean())
        assert abs(mean - float(alone.loss)) < 1e-5 * mean
        alone_losses.append(per_token[trained])
        total += int(trained.sum())
    assert total == num_label_tokens(batch)
    expected = float(torch.cat(alone_losses).mean())
    assert abs(float(out.loss) - expected) < 1e-6 * expected


@torch.no_grad()
def test_a_tiny_model_gives_each_packed_record_its_own_masked_losses(
    pairs: dict[str, Any],
) -> None:
    dataset = seqpack.Dataset(pairs["data"])
    by_ids = {tuple(dataset[i].tolist()): i for i in range(len(dataset))}
    seq_len = fitting_seq_len(dataset)
    loader = PackedLoader(pairs["data"], seq_len, 2, algorithm="nf", seed=5, drop_last=False)
    batch = next(b for b in loader if len(segments(b, seq_len)) >= 6)

    def labels_alone(ids: Any) -> Any:
        # HF's own masked labels for the record alone, from the stored mask.
        mask = torch.from_numpy(dataset.loss_mask(by_ids[tuple(ids.tolist())]).copy())
        return torch.where(mask, ids, -100)

    assert_each_segment_has_its_losses_alone(
        batch, seq_len, pairs["tokenizer"].vocab_size, labels_alone
    )


@torch.no_grad()
def test_a_tiny_model_gives_each_packed_conversation_hfs_masked_losses(
    pairs: dict[str, Any], chats: dict[str, Any]
) -> None:
    dataset = seqpack.Dataset(chats["data"])
    by_ids = {tuple(dataset[i].tolist()): i for i in range(len(dataset))}
    lines = chats["corpus"].read_text(encoding="utf-8").splitlines()
    conversations = [json.loads(line)["messages"] for line in lines]
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(pairs["root"] / "tokenizer.json"), eos_token=EOS
    )
    seq_len = fitting_seq_len(dataset)
    loader = PackedLoader(chats["data"], seq_len, 2, algorithm="nf", seed=3, drop_last=False)
    batch = next(b for b in loader if len(segments(b, seq_len)) >= 4)

    def labels_alone(ids: Any) -> Any:
        # The conversation as transformers renders and masks it on its own.
        messages = conversations[by_ids[tuple(ids.tolist())]]
        hf_ids, hf_mask = peer_with_generation(hf, messages, CHATML_GENERATION)
        assert hf_ids == ids.tolist()
        mask = torch.tensor(hf_mask, dtype=torch.bool)
        return torch.where(mask, ids, -100)

    assert_each_segment_has_its_losses_alone(
        batch, seq_len, pairs["tokenizer"].vocab_size, labels_alone
    )


def test_cli_preprocess_and_show(pairs: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "data"
    tokenizer = str(pairs["root"] / "tokenizer.json")
    argv = ["preprocess", str(pairs["corpus"]), "--tokenizer", tokenizer, "--out", str(out)]
    argv += ["--format", "prompt-completion", "--train-on", "completion", "--append-eos", EOS]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    manifest = seqpack.Dataset(out).manifest
    assert f"{manifest['loss_mask']['trained_tokens']:,} tokens trained" in printed
    page = tmp_path / "doc.html"
    argv = ["show", str(out), "--doc", "2", "--tokenizer", tokenizer, "--html", str(page)]
    assert main(argv) == 0
    shown = capsys.readouterr().out
    record = pairs["records"][2]
    # Not a terminal: plain text, the trained part bracketed.
    assert record["prompt"] in shown
    assert "⟦" in shown and EOS in shown.split("⟦", 1)[1]
    html = page.read_text(encoding="utf-8")
    assert '<span class="trained">' in html and '<span class="context">' in html


def test_cli_names_a_broken_template_and_a_bad_record(
    pairs: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    template = tmp_path / "chat.jinja"
    template.write_text("{% if messages %}{{ messages }}", encoding="utf-8")
    tokenizer = str(pairs["root"] / "tokenizer.json")
    argv = ["preprocess", str(pairs["corpus"]), "--tokenizer", tokenizer]
    argv += ["--out", str(tmp_path / "x"), "--chat-template", str(template)]
    argv += ["--template-var", "enable_thinking=false"]
    assert main(argv) == 2
    assert "chat.jinja" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": 3, "completion": "b"}\n')
    argv = ["preprocess", str(bad), "--tokenizer", tokenizer, "--out", str(tmp_path / "y")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and ":2" in err and "not a string" in err


@pytest.fixture(scope="module")
def chats(corpora: Path, pairs: dict[str, Any]) -> dict[str, Any]:
    """The first conversations of text2sql-chat.jsonl rendered with a ChatML template with
    generation blocks, through preprocess (the template ends each turn: nothing appended)."""
    root = pairs["root"]
    with (corpora / "text2sql-chat.jsonl").open(encoding="utf-8") as f:
        lines = [line for _, line in zip(range(300), f, strict=False)]
    corpus = root / "chat.jsonl"
    corpus.write_text("".join(lines), encoding="utf-8")
    template = root / "chatml.jinja"
    template.write_text(CHATML_GENERATION, encoding="utf-8")
    seqpack.preprocess(
        corpus,
        pairs["tokenizer"],
        root / "chat-data",
        chat_template=template,
        progress=False,
    )
    return {"data": root / "chat-data", "template": template, "corpus": corpus}


def segment_origins(dataset: seqpack.Dataset) -> list[tuple[int, int, int]]:
    """(document, start, length) of every segment of every row of a packed dataset."""
    table = dataset.to_arrow()
    return [
        (d, s, n)
        for documents, starts, lengths in zip(
            table["documents"].to_pylist(),
            table["starts"].to_pylist(),
            table["seq_lengths"].to_pylist(),
            strict=True,
        )
        for d, s, n in zip(documents, starts, lengths, strict=True)
    ]


def test_the_decomposed_loader_trains_on_the_masks_every_trained_token_once(
    chats: dict[str, Any], tmp_path: Path
) -> None:
    source = seqpack.Dataset(chats["data"])
    # One bucket of 64-token rows and one row per step: every row once per epoch, long
    # conversations cut into pieces, the rest packed into rows of several segments.
    decomposition = seqpack.decompose(chats["data"], tmp_path / "buckets", min_log2=6, max_log2=6)
    bucket = decomposition.bucket(6)
    assert bucket.has_loss_mask
    assert bucket.manifest["format_version"] == 2
    origins = segment_origins(bucket)
    assert sum(n for _, _, n in origins) == decomposition.manifest["corpus"]["tokens"]
    by_tokens: dict[tuple[int, ...], list[tuple[int, int, int]]] = {}
    for d, s, n in origins:
        by_tokens.setdefault(tuple(source[d][s : s + n].tolist()), []).append((d, s, n))
    loader = DecomposedLoader(tmp_path / "buckets", 64, curriculum="uniform", cycles=1)
    seen: list[tuple[int, int, int]] = []
    trained = 0
    for batch in loader:
        for row, a, b in segments(batch, 64):
            ids = batch["input_ids"][row, a:b].tolist()
            d, s, n = by_tokens[tuple(ids)].pop()
            seen.append((d, s, n))
            mask = source.loss_mask(d)[s : s + n]
            # The first token of a segment is predicted by nothing in it; the others carry a
            # label exactly where the conversation's mask trains them.
            expected = [-100] + [t if m else -100 for t, m in zip(ids[1:], mask[1:], strict=True)]
            assert batch["labels"][row, a:b].tolist() == expected
            trained += sum(1 for label in expected if label != -100)
        assert int(num_label_tokens(batch)) == int((batch["labels"] != -100).sum())
    assert sorted(seen) == sorted(origins)
    assert trained == sum(int(source.loss_mask(d)[s + 1 : s + n].sum()) for d, s, n in origins)


def test_packing_out_keeps_the_masks(chats: dict[str, Any], tmp_path: Path) -> None:
    source = seqpack.Dataset(chats["data"])
    argv = ["pack", str(chats["data"]), "--capacity", "1024", "--out", str(tmp_path / "p")]
    assert main(argv) == 0
    packed = seqpack.Dataset(tmp_path / "p")
    assert packed.has_loss_mask
    table = packed.to_arrow()
    masks = table["loss_mask"].to_pylist()
    real = 0
    for row, (documents, starts, lengths) in enumerate(
        zip(
            table["documents"].to_pylist(),
            table["starts"].to_pylist(),
            table["seq_lengths"].to_pylist(),
            strict=True,
        )
    ):
        at = 0
        for d, s, n in zip(documents, starts, lengths, strict=True):
            assert masks[row][at : at + n] == source.loss_mask(d)[s : s + n].astype(int).tolist()
            at += n
        # Padding is never trained on.
        assert not any(masks[row][at:])
        real += at
    assert real == source.num_tokens
    trained = sum(int(source.loss_mask(i).sum()) for i in range(len(source)))
    assert packed.manifest["loss_mask"]["trained_tokens"] == trained


def test_a_mixture_truncates_its_masked_source_and_masks_its_labels(
    pairs: dict[str, Any], tmp_path: Path
) -> None:
    dataset = seqpack.Dataset(pairs["data"])
    plain = tmp_path / "plain.jsonl"
    texts = [r["prompt"] + r["completion"] for r in pairs["records"]]
    plain.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    seqpack.preprocess(plain, pairs["tokenizer"], tmp_path / "plain", progress=False)
    seq_len = 64
    loader = PackedLoader({pairs["data"]: 1.0, tmp_path / "plain": 1.0}, seq_len, 4, seed=2)
    seen = 0
    for batch in itertools.islice(loader, 8):
        for row, a, b in segments(batch, seq_len):
            if int(batch["source_ids"][row]) != 0:
                continue
            ids = batch["input_ids"][row, a:b]
            # Truncated, not split: every segment is the start of a record.
            starts = [
                i for i in range(len(dataset)) if dataset[i][: b - a].tolist() == ids.tolist()
            ]
            assert starts, "a segment that is not the start of any record"
            mask = torch.from_numpy(dataset.loss_mask(starts[0])[: b - a].copy())
            expected = torch.where(mask, ids, -100)
            expected[0] = -100
            assert torch.equal(batch["labels"][row, a:b], expected)
            seen += 1
    assert seen > 0

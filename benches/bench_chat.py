#!/usr/bin/env python3
"""Instruction data to training tokens with loss masks: ``seqpack preprocess`` of
``text2sql-pairs.jsonl`` (prompt/completion records, the completion trained on) against
TRL's own SFT dataset preparation of the same file, and against seqpack's plain-text
preprocess of the same texts.

    python benches/bench_chat.py [--rounds 3] [--workers 2] [--chat-template FILE]

- seqpack: ``seqpack.preprocess`` of the JSONL into a dataset directory (ids and a loss mask
  per token, written to Arrow shards), ``workers`` threads;
- TRL: ``datasets.load_dataset("json")`` then ``SFTTrainer._prepare_dataset`` (TRL's code as
  it runs inside the trainer: EOS added, prompt and prompt+completion tokenized, completion
  mask and labels built with ``datasets.map`` on ``workers`` processes, no cache) with the same
  tokenizer loaded by ``transformers``;
- plain text: ``seqpack.preprocess`` of ``{"text": prompt + completion}`` records, the same
  text bytes.

Rounds are interleaved (each tool once per round), the median counts. MB/s are given twice:
of the records' text bytes (prompt + completion; the messages' contents for conversations), and
of the input file's bytes (the rate ``seqpack preprocess`` shows as it runs). seqpack reads the
file ``--repeat`` times over (a run of the file once is a fraction of a second, within the noise
of a shared machine), TRL once. The ids and masks of both tools are compared record by record.
``--chat-template FILE`` adds ``text2sql-chat.jsonl`` rendered with that template (seqpack's
``chat_template=`` against TRL's ``assistant_only_loss``). TRL needs ``{% generation %}``
blocks to mask; ``--trl-chat-template FILE`` gives it a template with them that renders the
same text (by default the same file), and seqpack runs that one too, so both of its mask
sources are measured (``chatml.jinja``: prefix rendering; ``chatml-generation.jinja``: generation
blocks). The tokenizer (a BPE trained on the pairs) has ChatML's ``<|im_start|>`` and
``<|im_end|>`` as special tokens, as every ChatML model's vocabulary does; conversations with
generation blocks also run with a tokenizer that has only the end-of-text token, where the
template's markers are tokenized as text (what this benchmark measured before), for their
ratio to plain text. Results go to ``results/chat.{json,md}``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import seqpack
from harness.machine import REPO, machine_description
from harness.memory import peak_rss_bytes
from harness.results import RunClock, add_dataset_options, machine_section, write_results

MAKE_CORPORA = REPO.parent / "shared" / "corpora" / "make-corpora"
EOS = "<|endoftext|>"
CHATML_MARKERS = ["<|im_start|>", "<|im_end|>"]
VOCAB = 8192


def corpora(path: Path) -> Path:
    if not (path / "text2sql-pairs.jsonl").exists():
        env = {**os.environ, "SKIP_LINUX": "1", "PYTHON": sys.executable}
        subprocess.run(["bash", str(MAKE_CORPORA), str(path)], check=True, env=env)
    return path


def trl_prepare(corpus: Path, tokenizer_file: Path, workers: int, chat_template: str | None) -> Any:
    """TRL's SFT preparation of ``corpus``, as ``SFTTrainer`` runs it."""
    import datasets
    import transformers
    from trl import SFTConfig, SFTTrainer

    datasets.disable_caching()
    datasets.disable_progress_bars()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file), eos_token=EOS, pad_token=EOS
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    dataset = datasets.load_dataset("json", data_files=str(corpus), split="train")
    args = SFTConfig(
        output_dir=tempfile.mkdtemp(),
        dataset_num_proc=workers,
        max_length=None,
        completion_only_loss=True,
        assistant_only_loss=chat_template is not None,
        report_to=[],
        use_cpu=True,
        bf16=False,
    )
    # The trainer's own method, without a model: it needs only these of the trainer.
    trainer = types.SimpleNamespace(
        _tokenizer=tokenizer, completion_only_loss=True, chat_template=None
    )
    return SFTTrainer._prepare_dataset(trainer, dataset, tokenizer, args, False, None, "train")


def seqpack_prepare(
    corpus: Path, tokenizer: Path, out: Path, workers: int, append_eos: str | None = EOS, **kw: Any
) -> Any:
    shutil.rmtree(out, ignore_errors=True)
    return seqpack.preprocess(
        corpus, tokenizer, out, append_eos=append_eos, workers=workers, progress=False, **kw
    )


def agreement(prepared: Any, data: Path) -> dict[str, Any]:
    """Records whose ids and trained tokens are the same in TRL's and seqpack's output."""
    dataset = seqpack.Dataset(data)
    same_ids = same_masks = records = 0
    for i, example in enumerate(prepared):
        records += 1
        ids = dataset[i].tolist()
        labels = [t if m else -100 for t, m in zip(ids, dataset.loss_mask(i), strict=True)]
        same_ids += example["input_ids"] == ids
        same_masks += example["labels"] == labels
    return {"records": records, "same_ids": same_ids, "same_masks": same_masks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataset_options(parser, Path(tempfile.gettempdir()) / "seqpack-bench-chat")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=8, help="copies of the file for seqpack")
    parser.add_argument("--chat-template", type=Path, help="also run conversations with it")
    parser.add_argument(
        "--trl-chat-template",
        type=Path,
        help="the same template with generation blocks, for TRL (default: --chat-template)",
    )
    args = parser.parse_args()
    clock = RunClock()
    source = corpora(args.corpora)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    records = [json.loads(line) for line in (source / "text2sql-pairs.jsonl").open()]
    once = work / "pairs-once.jsonl"
    once.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    pairs = work / "pairs.jsonl"
    pairs.write_text(once.read_text(encoding="utf-8") * args.repeat, encoding="utf-8")
    plain = work / "plain.jsonl"
    texts = [r["prompt"] + r["completion"] for r in records]
    plain.write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in texts) * args.repeat, encoding="utf-8"
    )
    text_mb = sum(len(t.encode()) for t in texts) / 1e6
    tokenizer = work / "tokenizer-chatml.json"
    if not tokenizer.exists():
        seqpack.train_bpe(texts, VOCAB, special_tokens=[EOS, *CHATML_MARKERS], out=tokenizer)

    runs: dict[str, Callable[[], Any]] = {
        "seqpack prompt/completion": lambda: seqpack_prepare(
            pairs, tokenizer, work / "pairs-data", args.workers
        ),
        "seqpack plain text": lambda: seqpack_prepare(
            plain, tokenizer, work / "plain-data", args.workers
        ),
        "TRL SFT preparation": lambda: trl_prepare(once, tokenizer, args.workers, None),
    }
    sizes = dict.fromkeys(runs, text_mb * args.repeat)
    sizes["TRL SFT preparation"] = text_mb
    # The file each run reads, for the rate in input MB/s (what seqpack's progress shows).
    inputs = {
        "seqpack prompt/completion": pairs,
        "seqpack plain text": plain,
        "TRL SFT preparation": once,
    }
    chat_runs: dict[str, Path] = {}
    as_text_run = "seqpack conversations (TRL's template), ChatML markers as text"
    trl_template_data = work / "chat-data-none"
    if args.chat_template is not None:
        trl_template = args.trl_chat_template or args.chat_template
        trl_template_data = work / f"chat-data-{trl_template.stem}"
        chat_runs = {"seqpack conversations": args.chat_template}
        if trl_template != args.chat_template:
            chat_runs["seqpack conversations (TRL's template)"] = trl_template
        chat = source / "text2sql-chat.jsonl"
        chat_mb = (
            sum(
                len(m["content"].encode())
                for line in chat.open()
                for m in json.loads(line)["messages"]
            )
            / 1e6
        )
        chats = work / "chat.jsonl"
        chats.write_text(chat.read_text(encoding="utf-8") * args.repeat, encoding="utf-8")
        for name, template_file in chat_runs.items():
            runs[name] = functools.partial(
                seqpack_prepare,
                chats,
                tokenizer,
                work / f"chat-data-{template_file.stem}",
                args.workers,
                # The template ends each turn itself, and TRL adds nothing to conversations.
                append_eos=None,
                chat_template=template_file,
            )
            sizes[name] = chat_mb * args.repeat
            inputs[name] = chats
        markers_as_text = work / "tokenizer.json"
        if not markers_as_text.exists():
            seqpack.train_bpe(texts, VOCAB, special_tokens=[EOS], out=markers_as_text)
        runs[as_text_run] = functools.partial(
            seqpack_prepare,
            chats,
            markers_as_text,
            work / "chat-data-markers-as-text",
            args.workers,
            append_eos=None,
            chat_template=trl_template,
        )
        sizes[as_text_run] = chat_mb * args.repeat
        inputs[as_text_run] = chats
        trl_text = trl_template.read_text(encoding="utf-8")
        runs["TRL SFT conversations"] = lambda: trl_prepare(chat, tokenizer, args.workers, trl_text)
        sizes["TRL SFT conversations"] = chat_mb
        inputs["TRL SFT conversations"] = chat
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, Any] = {}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
    check = agreement(results["TRL SFT preparation"], work / "pairs-data")
    markers_text_tokens = (
        seqpack.Dataset(work / "chat-data-markers-as-text").num_tokens
        / seqpack.Dataset(trl_template_data).num_tokens
        if as_text_run in runs
        else None
    )
    chat_checks = {
        name: agreement(results["TRL SFT conversations"], work / f"chat-data-{path.stem}")
        for name, path in chat_runs.items()
    }

    medians = {name: statistics.median(t) for name, t in times.items()}
    rate = {name: sizes[name] / medians[name] for name in runs}
    input_rate = {name: inputs[name].stat().st_size / 1e6 / medians[name] for name in runs}
    vs_trl = rate["seqpack prompt/completion"] / rate["TRL SFT preparation"]
    vs_plain = rate["seqpack prompt/completion"] / rate["seqpack plain text"]
    machine = machine_description(
        ["seqpack", "trl", "datasets", "transformers", "tokenizers"],
        note="shared machine: other builds and benchmarks ran beside this one",
    )
    payload = {
        **clock.record(__file__),
        "records": len(records),
        "repeat": args.repeat,
        "text_mb": text_mb,
        "workers": args.workers,
        "times_s": times,
        "median_s": medians,
        "mb_per_s": rate,
        "input_mb_per_s": input_rate,
        "seqpack_vs_trl": vs_trl,
        "masked_vs_plain": vs_plain,
        "agreement": check,
        "chat_agreement": chat_checks,
        "markers_as_text_tokens_ratio": markers_text_tokens,
        "peak_rss_bytes": peak_rss_bytes(),
        "machine": machine,
    }
    lines = [
        "# Instruction data: prompt/completion records to tokens with loss masks",
        "",
        f"`{payload['command']}`, {len(records):,} records of text2sql-pairs.jsonl, "
        f"{text_mb:.2f} MB of text (×{args.repeat} for seqpack), "
        f"{args.workers} workers/processes, "
        f"{args.rounds} interleaved rounds (median). Machine shared with other work.",
        "",
        "| run | median s | MB/s of text | MB/s of input |",
        "|---|---:|---:|---:|",
        *(f"| {n} | {medians[n]:.3f} | {rate[n]:.2f} | {input_rate[n]:.2f} |" for n in runs),
        "",
        f"- seqpack / TRL throughput: **{vs_trl:.1f}×** (target ≥ 20×)",
        f"- prompt/completion / plain text MB/s: **{100 * vs_plain:.0f} %** (target ≥ 50 %)",
        f"- records with the same ids in both: {check['same_ids']:,} of {check['records']:,}; "
        f"with the same labels (trained tokens): {check['same_masks']:,}",
        *(
            f"- {name} (text2sql-chat.jsonl, message text bytes, `{chat_runs[name].name}`): "
            f"seqpack / TRL throughput **{rate[name] / rate['TRL SFT conversations']:.1f}×**, "
            f"conversations / plain text MB/s "
            f"**{100 * rate[name] / rate['seqpack plain text']:.0f} %** of text, "
            f"**{100 * input_rate[name] / input_rate['seqpack plain text']:.0f} %** of input "
            "(target ≥ 50 %); "
            f"conversations with TRL's ids: {chat_checks[name]['same_ids']:,} "
            f"of {chat_checks[name]['records']:,}, with its labels: "
            f"{chat_checks[name]['same_masks']:,}"
            for name in chat_runs
        ),
        *(
            [
                "- prefix rendering trains the newline after `<|im_end|>` too (what the "
                "assistant's message adds to the rendering), which the generation blocks leave "
                "out: the labels differ from TRL's by that token"
            ]
            if len(chat_runs) > 1
            else []
        ),
        *(
            [
                f"- {as_text_run} (a tokenizer with only `{EOS}` special, so the template's "
                "`<|im_start|>`/`<|im_end|>` are tokenized as text: "
                f"{markers_text_tokens:.2f}x the tokens): conversations / plain text MB/s "
                f"**{100 * rate[as_text_run] / rate['seqpack plain text']:.0f} %**"
            ]
            if as_text_run in rate
            else []
        ),
        "",
        *machine_section(machine),
        "",
    ]
    write_results(args.out, "chat", payload, "\n".join(lines))


if __name__ == "__main__":
    main()

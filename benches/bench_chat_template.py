#!/usr/bin/env python3
"""Chat templates: ``seqpack.apply_chat_template`` against ``transformers``' own.

    python benches/bench_chat_template.py [--corpora DIR] [--work DIR] [--out benches/results]
        [--rounds N]

Every conversation of ``text2sql-chat.jsonl`` (``make-corpora``) is rendered with a ChatML
template with ``{% generation %}`` blocks, tokenized with a 4,096-token byte-level BPE (trained
by seqpack on the conversations, with the template's special tokens) and masked: seqpack's
``apply_chat_template(tokenizer, messages, template)`` against transformers'
``apply_chat_template(messages, chat_template=template, tokenize=True, return_dict=True,
return_assistant_tokens_mask=True)`` on a ``PreTrainedTokenizerFast`` of the same file. One
conversation per call on one thread, as both APIs are made to be used; the rounds alternate
the two tools, and each tool's ids and masks are compared with the other's on every
conversation. A second seqpack row renders the same ChatML from a template without
generation blocks, which seqpack masks by prefix rendering (transformers cannot mask it);
the generation block spans exactly what a turn adds, so its masks must equal transformers'
too.
Results go to ``OUT/chat_template.json`` and ``OUT/chat_template.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import seqpack
from harness.machine import REPO, machine_description
from harness.results import RunClock, add_dataset_options, machine_section, write_results
from harness.timing import time_calls

MAKE_CORPORA = (REPO / ".." / "shared" / "corpora" / "make-corpora").resolve()
SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 4096
MB = 1e6

WITH_GENERATION = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>\\n' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
WITHOUT_GENERATION = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

Conversation = list[dict[str, Any]]


def conversations(corpora: Path) -> list[Conversation]:
    path = corpora / "text2sql-chat.jsonl"
    if not path.exists():
        corpora.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SKIP_LINUX": "1", "PYTHON": sys.executable}
        subprocess.run(["bash", str(MAKE_CORPORA), str(corpora)], check=True, env=env)
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["messages"] for line in f]


def tokenizer_file(chats: list[Conversation], work: Path) -> Path:
    path = work / "chat-tokenizer.json"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        texts = [m["content"] for chat in chats for m in chat]
        seqpack.train_bpe(texts, VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, out=path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataset_options(parser, work=Path("/tmp/seqpack-bench-chat"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    clock = RunClock()
    # transformers' stubs are partial; it is used through Any.
    transformers: Any = importlib.import_module("transformers")
    # transformers' encoding as the chat tests call it, their peer.
    sys.path.insert(0, str(REPO))
    from tests.chat_templates import peer_with_generation

    chats = conversations(args.corpora)
    path = tokenizer_file(chats, args.work)
    ours = seqpack.Tokenizer.from_file(path)
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    content_bytes = sum(len(m["content"].encode()) for chat in chats for m in chat)

    def seqpack_pass(template: str) -> Callable[[], list[tuple[list[int], list[bool]]]]:
        def run() -> list[tuple[list[int], list[bool]]]:
            out = []
            for chat in chats:
                enc = seqpack.apply_chat_template(ours, chat, template)
                out.append((enc.ids.tolist(), enc.mask.tolist()))
            return out

        return run

    def transformers_pass() -> list[tuple[list[int], list[bool]]]:
        out = []
        for chat in chats:
            ids, mask = peer_with_generation(hf, chat, WITH_GENERATION)
            out.append((ids, [bool(m) for m in mask]))
        return out

    tools = {
        "seqpack (generation blocks)": seqpack_pass(WITH_GENERATION),
        "seqpack (prefix rendering)": seqpack_pass(WITHOUT_GENERATION),
        "transformers (generation blocks)": transformers_pass,
    }
    times: dict[str, list[float]] = {name: [] for name in tools}
    peaks: dict[str, int] = dict.fromkeys(tools, 0)
    results: dict[str, list[tuple[list[int], list[bool]]]] = {}
    for _ in range(args.rounds):
        for name, call in tools.items():
            timing = time_calls(call, 1, 0.0, keep=lambda r: r)
            times[name] += timing.times_s
            peaks[name] = max(peaks[name], timing.peak_rss_increase_bytes)
            results.setdefault(name, timing.first_result)
    reference = results["transformers (generation blocks)"]
    mismatches = {
        name: sum(a != b for a, b in zip(result, reference, strict=True))
        for name, result in results.items()
    }
    rows = []
    peer = statistics.median(times["transformers (generation blocks)"])
    for name in tools:
        median = statistics.median(times[name])
        rows.append(
            {
                "tool": name,
                "median_s": median,
                "times_s": times[name],
                "conversations_per_s": len(chats) / median,
                "content_mb_per_s": content_bytes / median / MB,
                "speedup_vs_transformers": peer / median,
                "peak_rss_increase_mib": peaks[name] / 2**20,
                "conversations_differing_from_transformers": mismatches[name],
            }
        )
        print(
            f"{name:<34} {len(chats) / median:>8.0f} conv/s  {peer / median:5.1f}x  "
            f"differ: {mismatches[name]}"
        )
    machine = machine_description(["seqpack", "transformers", "tokenizers"])
    record = clock.record(__file__, conversations=len(chats), content_bytes=content_bytes)
    lines = [
        "# Chat templates: seqpack against transformers",
        "",
        f"`{record['command']}`: {len(chats):,} conversations of `text2sql-chat.jsonl` "
        f"({content_bytes / MB:.1f} MB of message text), a {VOCAB_SIZE:,}-token byte-level "
        "BPE, one conversation per call on one thread, median of "
        f"{args.rounds} interleaved rounds. The machine was shared with other work while this "
        "ran (load average "
        f"{record['load_avg_1min'][0]:.1f} → {record['load_avg_1min'][1]:.1f}); the ratios "
        "of one run are what count. 'differ' counts conversations whose ids or mask differ "
        "from transformers' (the prefix-rendering row against transformers' generation-block "
        "masks, which cover exactly what each turn adds).",
        "",
        "| tool | conversations/s | message MB/s | vs transformers | peak RSS increase | differ |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['conversations_per_s']:,.0f} | {r['content_mb_per_s']:.2f} | "
            f"{r['speedup_vs_transformers']:.1f}× | {r['peak_rss_increase_mib']:.1f} MiB | "
            f"{r['conversations_differing_from_transformers']:,} |"
        )
    lines += ["", *machine_section(machine)]
    write_results(
        args.out,
        "chat_template",
        {**record, "machine": machine, "results": rows},
        "\n".join(lines) + "\n",
    )


if __name__ == "__main__":
    main()

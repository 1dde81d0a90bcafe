"""Pre-tokenizer patterns read exactly as HF ``tokenizers`` (Oniguruma) reads them, construct by
construct, or refused: never a silent difference.

Each pattern is put in a tokenizer whose ids show the pieces: a vocabulary of the 256 byte
tokens and no merges, and ``ByteLevel(add_prefix_space=True)`` after the ``Split``, which puts a
space token in front of every piece that does not start with one. Equal ids mean equal pieces."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import seqpack
from seqpack import UnsupportedTokenizerError, _core

tokenizers = pytest.importorskip("tokenizers")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers  # noqa: E402
from tokenizers import Tokenizer as HFTokenizer  # noqa: E402

from tests.tokenizer_families import CL100K, FAMILIES, GENERATED, LLAMA3  # noqa: E402

# One pattern per construct whose meaning differs between the engines, or could.
CONSTRUCTS = {
    "interval then +": r"\p{N}{1,3}+",
    "open interval then +": r"\d{2,}+",
    "fixed interval then ?": r"\d{2}?",
    "lazy interval": r"\d{1,3}?x",
    "interval without a lower bound": r"[a-z]{,2}",
    "possessive": r" ?\p{L}++|\s++|\p{N}*+",
    "end of line": r"\s++$|a$",
    "start of line": r"^\s*\S",
    "end before a final newline": r"\s+\Z|x\Z",
    "hex digit": r"\h+|[\h_]",
    "angle brackets": r"\<[a-z]+\>",
    "case-insensitive contractions": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    "case-insensitive class": r"'(?i:[sdmt]|ll|ve|re)",
    "case-insensitive flag": r"x(?i)k|ab|(c(?i)d|e)f",
    "look-ahead": r"\s+(?!\S)|\s",
    "look-behind": r"(?<=a)b+|(?<!c)d",
    "dot": r"a.b|.",
    "escapes": r"\x41+|\u00e9|\x{1F600}|[\t\v\f]+",
    "atomic group": r"(?>a+)b|a",
    "named group": r"(?<word>\p{L}+)",
}


def piece_tokenizer_json(pattern: str, normalizer: object | None = None) -> str:
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = HFTokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    if normalizer is not None:
        tok.normalizer = normalizer
    return str(tok.to_str())


def load(json: str, implementation: str | None = None) -> seqpack.Tokenizer:
    return seqpack.Tokenizer(_core.Tokenizer.from_str(json, implementation=implementation))


def assert_same_ids(json: str, texts: list[str], implementation: str | None = None) -> None:
    hf = HFTokenizer.from_str(json)
    ours = load(json, implementation)
    expected = [e.ids for e in hf.encode_batch(texts)]
    got = ours.encode_batch(texts)
    for text, want, have in zip(texts, expected, got, strict=True):
        if list(have) != want:
            hf_pieces = [p for p, _ in hf.pre_tokenizer.pre_tokenize_str(text)]
            raise AssertionError(f"{text!r}: HF pieces {hf_pieces}, ids {want} != {list(have)}")


TRICKY = [
    *" \t\n\r'sStTlLdDmMrReEvVkKſ0129٣²Ⅻ.,!?/-_\"(\u00a0\u0085\u2028\u3000",
    "é",
    "ß",
    "ﬅ",
    "中",
    "ع",
    "\u0301",
    "😀",
    "\u200d",
    "ǅ",
    "ʰ",
    "\U00011f04",
    "\U00010d50",
    "\x1c",
]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_patterns_give_hf_pieces(family: str) -> None:
    assert_same_ids(piece_tokenizer_json(FAMILIES[family]), GENERATED)


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_each_construct_means_what_it_means_to_hf(construct: str) -> None:
    texts = [
        *GENERATED,
        "xdeadBEEF_x 0x1F <abc> <a b> aab cdd bd ab kK\u212a xK xAB cDf Ef ef",
        "a\nb a\r\nb ab aab\n\n x\n x\n\n x",
        "A\u00e9\U0001f600\t\v\f A\u00e9",
    ]
    assert_same_ids(piece_tokenizer_json(CONSTRUCTS[construct]), texts)


@pytest.mark.parametrize("family", ["cl100k", "o200k", "tekken"])
@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(TRICKY) | st.characters(exclude_categories=["Cs"]), max_size=40
    ).map("".join)
)
def test_family_patterns_on_generated_text(family: str, text: str) -> None:
    assert_same_ids(piece_tokenizer_json(FAMILIES[family]), [text])


CATEGORIES = (
    "L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp "
    "C Cc Cf Co Cn"
).split()


def every_code_point() -> list[str]:
    """Every scalar value up to the last assigned planes, and the tags and selectors of plane
    14, in chunks."""
    points = [c for c in range(0x32400) if not 0xD800 <= c < 0xE000] + list(range(0xE0000, 0xE01F0))
    return ["".join(map(chr, points[i : i + 4096])) for i in range(0, len(points), 4096)]


@pytest.mark.parametrize("category", CATEGORIES)
def test_general_categories_agree_on_every_code_point(category: str) -> None:
    assert_same_ids(piece_tokenizer_json(rf"\p{{{category}}}+|\s"), every_code_point())


@pytest.mark.parametrize("class_", [r"\s", r"\S", r"\d", r"\D", r"[^\s\p{L}\p{N}]", r"\P{L}"])
def test_other_classes_agree_on_every_code_point(class_: str) -> None:
    assert_same_ids(piece_tokenizer_json(rf"{class_}+"), every_code_point())


@pytest.mark.parametrize(
    "pattern",
    [r"\w+", r"\bx", r"(?m)a.", r"(?i:ss)", r"(?i)\p{Lu}", r"\p{Greek}", r"[[:alpha:]]", r"(a)\1"],
)
@pytest.mark.parametrize("implementation", [None, "bpe", "hf"])
def test_unproven_constructs_are_refused(pattern: str, implementation: str | None) -> None:
    with pytest.raises(UnsupportedTokenizerError, match="Oniguruma"):
        load(piece_tokenizer_json(pattern), implementation)


def test_hf_fallback_reads_patterns_as_hf() -> None:
    """A tokenizer the fast path does not take (a normalizer) goes to the ``tokenizers`` crate,
    which reads patterns with fancy-regex too: it is handed them in HF's reading."""
    json = piece_tokenizer_json(CL100K, normalizer=normalizers.NFKC())
    assert seqpack.Tokenizer.from_str(json).implementation == "hf"
    assert_same_ids(json, GENERATED)


@pytest.mark.parametrize("implementation", ["bpe", "hf"])
def test_unknown_ids_are_refused_on_every_implementation(implementation: str) -> None:
    tok = load(piece_tokenizer_json(LLAMA3), implementation)
    bad = np.array([5, tok.vocab_size + 7], dtype=np.uint32)
    with pytest.raises(seqpack.InvalidInputError, match=r"ids\[1\]"):
        tok.decode(bad)
    with pytest.raises(seqpack.InvalidInputError, match=r"ids\[1\]"):
        tok.decode_bytes(bad)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))

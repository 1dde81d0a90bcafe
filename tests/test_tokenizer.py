"""Byte-level BPE: ids identical to HF ``tokenizers`` on real corpora and unicode edge cases,
for tokenizers trained by seqpack and by HF; exact decoding; training; bad input."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import seqpack
from seqpack import InvalidInputError, SeqpackError, TokenizerError, UnsupportedTokenizerError
from seqpack.cli import main
from seqpack.errors import SeqpackIOError
from seqpack.tokenizer import IMPLEMENTATIONS

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import (  # noqa: E402
    AddedToken,
    Regex,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from tokenizers import Tokenizer as HFTokenizer  # noqa: E402

SPECIALS = ["<|endoftext|>", "<|pad|>"]
LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

EDGE_CASES = [
    "",
    " ",
    "DON'T do it, it's WE'RE here, they'LL see, I'M sure you'VE heard he'D go",
    "don't Don't DON'T 'sup \"'s ''s '''",
    "emoji 😀👍🏽 family 👨‍👩‍👧 ✌️ flag 🇫🇷 keycap 1️⃣",
    "combining e\u0301 a\u0308 क्ष Z\u0351\u0352 \u0301start",
    "CJK 東京は大きい。中文，标点！한국어 テスト",
    "RTL שלום עולם مرحبا بالعالم \u200f\u200e mixed עב123",
    "windows\r\nline\r\n\r\nbreaks\n\n\n  \n\t\tindent\r",
    "tabs\t\tand   many        spaces     ",
    "digits 1234567890 3.14159 1,000,000 ١٢٣٤ ²³ Ⅻ 𝟘𝟙",
    "\u00a0nbsp\u2003em\u3000ideographic\u0085nel\u2028line sep\u2029",
    "<|endoftext|>special<|endoftext|> inside <|pad|>text<|endoftext|><|endoftext",
    "\x00\x01\x1b[31mcontrol\x7f\x1c\x1d",
    "a" * 3000 + "b" * 7,
    " " * 500 + "x",
    "    def f(self):\n        return {'a': [1, 2]}  # comment\n",
]


# ---------------------------------------------------------------- corpora and tokenizers


def read_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@pytest.fixture(scope="session")
def texts(corpora: Path) -> dict[str, list[str]]:
    return {name: read_texts(corpora / f"{name}.jsonl") for name in ("pystdlib", "text2sql")}


@pytest.fixture(scope="session")
def training(texts: dict[str, list[str]]) -> list[str]:
    """About 3 MB: every 12th standard-library file and a third of the SQL queries."""
    return texts["pystdlib"][::12] + texts["text2sql"][::3]


@pytest.fixture(scope="session")
def held_out(texts: dict[str, list[str]]) -> list[str]:
    """Documents not trained on (small files only, to keep HF's side quick), plus the
    unicode edge cases."""
    code = [t for t in texts["pystdlib"][5::30] if len(t) < 60_000]
    return code + texts["text2sql"][1::40] + EDGE_CASES


@pytest.fixture(scope="session", params=["gpt2", "llama3"])
def trained(
    request: pytest.FixtureRequest, training: list[str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[seqpack.Tokenizer, Path]:
    path = tmp_path_factory.mktemp("trained") / "tokenizer.json"
    tokenizer = seqpack.train_bpe(
        training, 4000, special_tokens=SPECIALS, pattern=request.param, out=path
    )
    return tokenizer, path


def hf_trained(training: list[str], pre_tokenizer: object, specials: list[str]) -> HFTokenizer:
    """A byte-level BPE trained by HF itself, so its tokenizer.json is not seqpack's."""
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=3000,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training[::2], trainer)
    return tok


def assert_same_as_hf(
    ours: seqpack.Tokenizer,
    hf: HFTokenizer,
    documents: list[str],
    *,
    add_special_tokens: bool,
    round_trip: bool = True,
) -> None:
    """Same ids as HF for every document and the same decoded text, which is the document
    itself (unless a prefix space was added: ``round_trip=False``)."""
    batch = ours.encode_batch(documents, add_special_tokens=add_special_tokens)
    expected = hf.encode_batch(documents, add_special_tokens=add_special_tokens)
    for i, (doc, ids, hf_encoding) in enumerate(zip(documents, batch, expected, strict=True)):
        assert ids.dtype == np.uint32
        assert ids.tolist() == hf_encoding.ids, f"document {i}: {doc[:80]!r}"
        text = ours.decode(ids)
        assert text == hf.decode(hf_encoding.ids, skip_special_tokens=False), f"document {i}"
        if round_trip and not add_special_tokens:
            assert ours.decode_bytes(ids) == doc.encode(), f"document {i}"
            assert text == doc


# ---------------------------------------------------------------- equivalence with HF


def test_seqpack_trained_tokenizer_encodes_like_hf(
    trained: tuple[seqpack.Tokenizer, Path], held_out: list[str]
) -> None:
    tokenizer, path = trained
    hf = HFTokenizer.from_file(str(path))
    assert tokenizer.vocab_size == hf.get_vocab_size() == 4000
    assert hf.token_to_id("<|endoftext|>") == tokenizer.token_to_id("<|endoftext|>") == 3998
    for add_special_tokens in (False, True):
        assert_same_as_hf(tokenizer, hf, held_out, add_special_tokens=add_special_tokens)
    vocab = hf.get_vocab()
    for token in list(vocab)[::97]:
        assert tokenizer.token_to_id(token) == vocab[token]
        assert tokenizer.id_to_token(vocab[token]) == token
    # Training compressed the corpus it learned from.
    code = held_out[0]
    assert len(tokenizer.encode(code)) < len(code.encode()) / 2.5


def test_contraction_case_depends_on_the_pattern(trained: tuple[seqpack.Tokenizer, Path]) -> None:
    tokenizer, path = trained

    def ids(*pieces: str) -> list[int]:
        return [int(i) for piece in pieces for i in tokenizer.encode(piece)]

    # Pieces are encoded independently, so the ids show where the pre-tokenizer cut. Both
    # patterns cut lower-case contractions off; only Llama 3's (case-insensitive) does so
    # for upper case, where GPT-2's leaves the apostrophe as punctuation of its own.
    assert ids("don't") == ids("don", "'t")
    if json.loads(path.read_text())["pre_tokenizer"]["type"] == "ByteLevel":
        assert ids("DON'T") == ids("DON", "'", "T")
    else:
        assert ids("DON'T") == ids("DON", "'T")
        assert ids("DON'T") != ids("DON", "'", "T") or tokenizer.token_to_id("'T") is None


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_hf_trained_bytelevel_tokenizer(
    training: list[str], held_out: list[str], add_prefix_space: bool
) -> None:
    hf = hf_trained(training, pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space), SPECIALS)
    ours = seqpack.Tokenizer.from_str(hf.to_str())
    assert ours.vocab_size == hf.get_vocab_size()
    assert_same_as_hf(ours, hf, held_out, add_special_tokens=False, round_trip=not add_prefix_space)


def test_llama3_style_tokenizer_with_template_and_added_tokens(
    training: list[str], held_out: list[str]
) -> None:
    """Split(Llama 3 pattern) + ByteLevel, ignore_merges, a TemplateProcessing that adds
    <|begin_of_text|>, and added tokens with lstrip/rstrip/single_word."""
    split = pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    hf = hf_trained(
        training,
        pre_tokenizers.Sequence([split, byte_level]),
        ["<|begin_of_text|>", *SPECIALS],
    )
    config = json.loads(hf.to_str())
    config["model"]["ignore_merges"] = True
    hf = HFTokenizer.from_str(json.dumps(config))
    hf.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="<|begin_of_text|> $A",
                pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                special_tokens=[("<|begin_of_text|>", 0)],
            ),
        ]
    )
    hf.add_tokens(
        [AddedToken("<mask>", lstrip=True, rstrip=True), AddedToken("ony", single_word=True)]
    )
    ours = seqpack.Tokenizer.from_str(hf.to_str())
    for add_special_tokens in (False, True):
        assert_same_as_hf(ours, hf, held_out, add_special_tokens=add_special_tokens)
    # Stripping tokens swallow the spaces around them, so these do not decode back.
    for text in ["a  <mask>\tb Anthony ony <mask>", "<mask><mask> x<mask>y ony,ony"]:
        assert ours.encode(text).tolist() == hf.encode(text, add_special_tokens=False).ids
    assert ours.encode("x", add_special_tokens=True)[0] == 0
    assert ours.encode("x")[0] != 0


@pytest.mark.parametrize("kind", ["roberta", "bert"])
def test_roberta_and_bert_processors_add_cls_and_sep(
    trained: tuple[seqpack.Tokenizer, Path], held_out: list[str], kind: str
) -> None:
    _, path = trained
    hf = HFTokenizer.from_file(str(path))
    make = processors.RobertaProcessing if kind == "roberta" else processors.BertProcessing
    hf.post_processor = make(("<|endoftext|>", 3998), ("<|pad|>", 3999))
    ours = seqpack.Tokenizer.from_str(hf.to_str())
    assert_same_as_hf(ours, hf, held_out[-20:], add_special_tokens=True)
    assert ours.encode("x", add_special_tokens=True).tolist()[::2] == [3999, 3998]


# ---------------------------------------------------------------- API


def test_round_trips_through_file_pickle_and_string(
    trained: tuple[seqpack.Tokenizer, Path], tmp_path: Path
) -> None:
    tokenizer, path = trained
    text = EDGE_CASES[2] + EDGE_CASES[12]
    ids = tokenizer.encode(text).tolist()
    copies = [
        seqpack.Tokenizer.from_file(path),
        pickle.loads(pickle.dumps(tokenizer)),
        seqpack.Tokenizer.from_str(tokenizer.to_str()),
    ]
    tokenizer.save(tmp_path / "again.json")
    copies.append(seqpack.Tokenizer.from_file(tmp_path / "again.json"))
    for copy in copies:
        assert copy.fingerprint == tokenizer.fingerprint
        assert copy.encode(text).tolist() == ids
    assert repr(tokenizer).startswith("Tokenizer(vocab_size=4000, fingerprint=")


def test_fingerprint_is_stable_and_specific(training: list[str]) -> None:
    sample = training[:200]
    a = seqpack.train_bpe(sample, 600)
    assert seqpack.train_bpe(iter(sample), 600).fingerprint == a.fingerprint
    assert len(a.fingerprint) == 16 and int(a.fingerprint, 16) >= 0
    for other in (
        seqpack.train_bpe(sample, 601),
        seqpack.train_bpe(sample, 600, pattern="llama3"),
        seqpack.train_bpe(sample, 600, special_tokens=["<s>"]),
    ):
        assert other.fingerprint != a.fingerprint
    # Reformatting the JSON changes nothing that matters.
    pretty = json.dumps(json.loads(a.to_str()), indent=4, sort_keys=True)
    assert seqpack.Tokenizer.from_str(pretty).fingerprint == a.fingerprint


def test_decode_accepts_ids_in_any_integer_form(trained: tuple[seqpack.Tokenizer, Path]) -> None:
    tokenizer, _ = trained
    ids = tokenizer.encode("naïve café 😀")
    for form in (ids, ids.tolist(), ids.astype(np.int64), tuple(ids.tolist())):
        assert tokenizer.decode(form) == "naïve café 😀"
    assert tokenizer.decode([]) == ""
    # A slice that cuts a character: exact bytes, or U+FFFD in text.
    one = [int(i) for i in tokenizer.encode("😀")]
    assert b"".join(tokenizer.decode_bytes([i]) for i in one) == "😀".encode()
    if len(one) > 1:
        assert "\ufffd" in tokenizer.decode(one[:1])


def test_encode_batch_equals_one_by_one_and_survives_fork(
    trained: tuple[seqpack.Tokenizer, Path], held_out: list[str]
) -> None:
    tokenizer, _ = trained
    batch = tokenizer.encode_batch(held_out)
    assert [ids.tolist() for ids in batch] == [tokenizer.encode(t).tolist() for t in held_out]
    # The Rust thread pool has run in this process; a forked child (a DataLoader worker)
    # must still encode batches rather than wait forever for threads it does not have.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        child = multiprocessing.get_context("fork").Process(
            target=_encode_in_child,
            args=(tokenizer, held_out[:50], [b.tolist() for b in batch[:50]]),
        )
        child.start()
        child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("encode_batch hung in a forked child")
    assert child.exitcode == 0


def _encode_in_child(
    tokenizer: seqpack.Tokenizer, texts: list[str], expected: list[list[int]]
) -> None:
    got = [ids.tolist() for ids in tokenizer.encode_batch(texts)]
    raise SystemExit(0 if got == expected else 1)


def test_train_from_files(corpora: Path, tmp_path: Path) -> None:
    text_file = tmp_path / "doc.txt"
    text_file.write_text("SELECT name FROM users WHERE id = 1;\n" * 50)
    sql = corpora / "text2sql.jsonl"
    seen: list[tuple[int, int]] = []
    tokenizer = seqpack.train_bpe_files(
        [sql, text_file],
        800,
        special_tokens=["<|endoftext|>"],
        pattern="llama3",
        out=tmp_path / "tok.json",
        progress=lambda read, total: seen.append((read, total)),
    )
    total = sql.stat().st_size + text_file.stat().st_size
    assert seen[-1] == (total, total)
    assert [r for r, _ in seen] == sorted(r for r, _ in seen)
    from_texts = seqpack.train_bpe(
        [*read_texts(sql), text_file.read_text()],
        800,
        special_tokens=["<|endoftext|>"],
        pattern="llama3",
    )
    assert from_texts.fingerprint == tokenizer.fingerprint
    hf = HFTokenizer.from_file(str(tmp_path / "tok.json"))
    query = read_texts(sql)[7]
    assert tokenizer.encode(query).tolist() == hf.encode(query).ids


def test_min_frequency_and_custom_pattern(training: list[str]) -> None:
    sample = training[:100]
    few = seqpack.train_bpe(sample, 50_000, min_frequency=1_000)
    assert 256 < few.vocab_size < 2_000
    digits = seqpack.train_bpe(["a1b22c333"] * 10, 300, pattern=r"\p{L}+|\p{N}")
    # With numbers split into single digits, no merge can join two digits.
    assert digits.token_to_id("22") is None and digits.token_to_id("1") is not None


# ---------------------------------------------------------------- errors


def test_unsupported_and_malformed_files_raise_clear_errors(tmp_path: Path) -> None:
    # seqpack's own reader refuses what is not byte-level BPE, naming the field, when asked
    # for that implementation; the public Tokenizer falls back to HF's library instead.
    native = seqpack._core.Tokenizer
    word_piece = HFTokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    with pytest.raises(UnsupportedTokenizerError, match=r"model.type: model \"WordPiece\""):
        native.from_str(word_piece.to_str(), implementation="bpe")
    assert seqpack.Tokenizer.from_str(word_piece.to_str()).implementation == "hf"
    with pytest.raises(InvalidInputError, match=r"implementation.*\"sentencepiece\""):
        native.from_str(word_piece.to_str(), implementation="sentencepiece")

    bpe = seqpack.train_bpe(["hello world"] * 3, 260)
    config = json.loads(bpe.to_str())
    config["normalizer"] = {"type": "NFC"}
    with pytest.raises(UnsupportedTokenizerError, match=r"normalizer \"NFC\" is not supported"):
        native.from_str(json.dumps(config), implementation="bpe")
    assert seqpack.Tokenizer.from_str(json.dumps(config)).implementation == "hf"
    hf_nfc = HFTokenizer.from_str(bpe.to_str())
    hf_nfc.normalizer = normalizers.NFC()
    path = tmp_path / "nfc.json"
    hf_nfc.save(str(path))
    with pytest.raises(UnsupportedTokenizerError, match=f"^{re.escape(str(path))}: normalizer"):
        native.from_file(str(path), implementation="bpe")
    assert seqpack.Tokenizer.from_file(path).implementation == "hf"

    config = json.loads(bpe.to_str())
    config["model"]["merges"][0] = ["h", "nope"]
    with pytest.raises(TokenizerError, match=r"model.merges\[0\]: \"nope\" is not in model.vocab"):
        seqpack.Tokenizer.from_str(json.dumps(config))
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(TokenizerError, match=r"bad\.json: .* not valid JSON"):
        seqpack.Tokenizer.from_file(tmp_path / "bad.json")
    with pytest.raises(SeqpackIOError, match=r"missing\.json") as raised:
        seqpack.Tokenizer.from_file(tmp_path / "missing.json")
    assert isinstance(raised.value, OSError) and isinstance(raised.value, SeqpackError)


def test_bad_ids_name_the_index() -> None:
    tokenizer = seqpack.train_bpe(["hello world"] * 3, 260)
    with pytest.raises(InvalidInputError, match=r"ids\[2\] = 260 is not a token id"):
        tokenizer.decode([1, 2, 260])
    with pytest.raises(InvalidInputError, match=r"ids\[1\] = -1 is not a token id"):
        tokenizer.decode([1, -1])
    with pytest.raises(InvalidInputError, match="ids must have an integer dtype, got float64"):
        tokenizer.decode([1.5])
    with pytest.raises(InvalidInputError, match="ids must be 1-D"):
        tokenizer.decode([[1]])
    assert tokenizer.id_to_token(10**12) is None and tokenizer.token_to_id("nope") is None


def test_every_implementation_refuses_an_id_that_stands_for_nothing() -> None:
    # HF's own decoder skips unknown ids (returns "" for them); seqpack raises on every
    # implementation, naming the index.
    word_piece = HFTokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    assert word_piece.decode([1, 2]) == "a"
    tokenizers = [
        seqpack.train_bpe(["hello world"] * 3, 260),
        seqpack.train_ast_bpe(["x = 1\n"] * 3, 260, "python").tokenizer,
        seqpack.Tokenizer.from_str(word_piece.to_str()),
    ]
    assert [t.implementation for t in tokenizers] == list(IMPLEMENTATIONS)
    assert IMPLEMENTATIONS == ("bpe", "ast-bpe", "hf")
    assert [t.native for t in tokenizers] == [True, True, False]
    for tokenizer in tokenizers:
        size = tokenizer.vocab_size
        assert tokenizer.decode([1]) == tokenizer.decode_bytes([1]).decode()
        with pytest.raises(InvalidInputError, match=rf"ids\[1\] = {size} is not a token id"):
            tokenizer.decode([1, size])
        with pytest.raises(InvalidInputError, match=rf"ids\[2\] = {size} is not a token id"):
            tokenizer.decode_bytes([1, 1, size])


@pytest.mark.parametrize("implementation", ["bpe", "ast-bpe", "hf"])
def test_the_manifest_records_the_implementation(tmp_path: Path, implementation: str) -> None:
    texts = ["x = 1\n", "y = x + 2\n"] * 3
    if implementation == "bpe":
        tokenizer = seqpack.train_bpe(texts, 270)
    elif implementation == "ast-bpe":
        tokenizer = seqpack.train_ast_bpe(texts, 270, "python").tokenizer
    else:
        word_piece = HFTokenizer(models.WordLevel({"[UNK]": 0, "x": 1}, unk_token="[UNK]"))
        word_piece.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer = seqpack.Tokenizer.from_str(word_piece.to_str())
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    manifest = seqpack.preprocess(corpus, tokenizer, tmp_path / "data", progress=False)
    assert manifest["tokenizer"]["implementation"] == implementation
    assert manifest["tokenizer"]["fingerprint"] == tokenizer.fingerprint
    on_disk = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert on_disk["tokenizer"]["implementation"] == implementation


def test_bad_training_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"vocab_size must be in 258\.\."):
        seqpack.train_bpe(["x"], 257, special_tokens=["<s>", "</s>"])
    with pytest.raises(InvalidInputError, match="vocab_size must be a non-negative integer"):
        seqpack.train_bpe(["x"], -1)
    with pytest.raises(InvalidInputError, match=r"special_tokens \[1\] = \"<s>\" is listed twice"):
        seqpack.train_bpe(["x"], 300, special_tokens=["<s>", "<s>"])
    with pytest.raises(InvalidInputError, match="pattern is not a valid regex"):
        seqpack.train_bpe(["x"], 300, pattern="(")
    with pytest.raises(TypeError, match=r"texts\[1\] is int, expected str"):
        seqpack.train_bpe(["x", 5], 300)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not one string"):
        seqpack.train_bpe("just one text", 300)

    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"txt": "oops"}\n')
    with pytest.raises(InvalidInputError, match=r"bad.jsonl:3: no \"text\" field"):
        seqpack.train_bpe_files([bad_json], 300)
    bad_utf8 = tmp_path / "latin1.txt"
    bad_utf8.write_bytes("ok\nnaïve\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match=r"latin1.txt:2: not valid UTF-8"):
        seqpack.train_bpe_files([bad_utf8], 300)
    with pytest.raises(SeqpackIOError, match=r"nowhere\.jsonl"):
        seqpack.train_bpe_files([tmp_path / "nowhere.jsonl"], 300)


# ---------------------------------------------------------------- command line


def test_cli_train_bpe(corpora: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tok.json"
    args = ["train-bpe", str(corpora / "text2sql.jsonl"), "--vocab-size", "700", "--out", str(out)]
    assert main([*args, "--special-token", "<|endoftext|>", "--pattern", "llama3"]) == 0
    report = capsys.readouterr().out
    assert "700 ids: 256 bytes, 443 merges, 1 special" in report
    assert "MB/s" in report and "llama3" in report
    hf = HFTokenizer.from_file(str(out))
    assert hf.token_to_id("<|endoftext|>") == 699
    assert json.loads(out.read_text())["pre_tokenizer"]["type"] == "Sequence"

    assert (
        main(["train-bpe", str(tmp_path / "none.jsonl"), "--vocab-size", "300", "--out", str(out)])
        == 2
    )
    assert capsys.readouterr().err.startswith("seqpack: error: ")

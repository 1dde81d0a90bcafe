"""AST-BPE: SQL BPE as in the text2sql paper and byte-level AST-BPE for Python, checked on
every query of text2sql-data and on the standard library against parsers seqpack does not
use (sqlparse, Python's ``ast`` and ``tokenize``)."""

from __future__ import annotations

import ast
import io
import itertools
import json
import pickle
import tokenize
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import seqpack
from seqpack.ast_bpe import syntax_crossing
from seqpack.cli import main
from seqpack.errors import InvalidInputError, TokenizerError
from seqpack.sql import SqlBpe, query_splits, sql_parse, sql_tokens, train_sql_bpe

sqlparse = pytest.importorskip("sqlparse")

# ---------------------------------------------------------------- text2sql-data


@pytest.fixture(scope="module")
def datasets(shared_dir: Path) -> dict[str, tuple[dict[str, list[str]], list[str]]]:
    """Per dataset: its splits, and every query variant of every entry."""
    out = {}
    for path in sorted((shared_dir / "data/text2sql").glob("*.json")):
        every = [q for entry in json.loads(path.read_text()) for q in entry["sql"]]
        out[path.stem] = (query_splits(path), every)
    assert len(out) == 8
    return out


@pytest.fixture(scope="module")
def models(
    datasets: dict[str, tuple[dict[str, list[str]], list[str]]],
) -> dict[tuple[str, bool], SqlBpe]:
    """SQL BPE and AST-BPE per dataset, with the paper's stopping criterion."""
    return {
        (name, syntax): train_sql_bpe(splits["train"], splits["dev"], syntax=syntax)
        for name, (splits, _) in datasets.items()
        for syntax in (False, True)
    }


def test_every_query_of_every_dataset_round_trips(
    datasets: dict[str, tuple[dict[str, list[str]], list[str]]],
    models: dict[tuple[str, bool], SqlBpe],
) -> None:
    for (name, _), model in models.items():
        queries = datasets[name][1]
        for q, ids in zip(queries, model.encode_batch(queries), strict=True):
            assert model.decode(ids) == q, (name, q)
        assert "".join(sql_tokens(queries[0]))[1:] == queries[0]


def test_runs_of_identical_tokens_round_trip() -> None:
    queries = ["SELECT ( ( ( a ) ) ) ;", "SELECT ( ( ( a ) ) ) , ( ( ( ( b ) ) ) ) ;"] * 5
    for syntax in (False, True):
        model = train_sql_bpe(queries, merges=50, syntax=syntax)
        assert model.num_merges > 0
        for q in [*queries, "( ( ( ( ( ( x ) ) ) ) ) )", "a a a a a a a"]:
            assert model.decode(model.encode(q)) == q


def char_spans(model: SqlBpe, query: str) -> Iterator[tuple[int, int]]:
    """Each symbol's characters in ``query``, whitespace before it left out."""
    at = -1  # the one space a query is read with
    for symbol in model.symbols(query):
        start = at + len(symbol) - len(symbol.lstrip())
        at += len(symbol)
        yield start, at


def sqlparse_groups(query: str) -> list[tuple[int, int]]:
    """The character span of every sqlparse group and leaf, whitespace at the edges left out."""
    spans: list[tuple[int, int]] = []

    def walk(token: object, at: int) -> tuple[int, int, int]:
        """(first non-space char, end of last non-space char, end) of ``token`` from ``at``."""
        if not token.is_group:  # type: ignore[attr-defined]
            end = at + len(str(token))
            if token.is_whitespace:  # type: ignore[attr-defined]
                return end, at, end
            spans.append((at, end))
            return at, end, end
        first, last = 1 << 30, -1
        for child in token.tokens:  # type: ignore[attr-defined]
            s, e, at = walk(child, at)
            first, last = min(first, s), max(last, e)
        if last > first:
            spans.append((first, last))
        return first, last, at

    walk(sqlparse.parse(query)[0], 0)
    return spans


def cuts(symbol: tuple[int, int], group: tuple[int, int]) -> bool:
    (s, e), (gs, ge) = symbol, group
    return s < gs < e < ge or gs < s < ge < e


def test_ast_bpe_symbols_never_cut_an_sqlparse_group(
    datasets: dict[str, tuple[dict[str, list[str]], list[str]]],
    models: dict[tuple[str, bool], SqlBpe],
) -> None:
    plain_cuts = 0
    for name, (splits, _) in datasets.items():
        for q in splits["test"] + splits["dev"]:
            groups = sqlparse_groups(q)
            for syntax in (False, True):
                bad = [
                    (s, g)
                    for s in char_spans(models[name, syntax], q)
                    for g in groups
                    if cuts(s, g)
                ]
                if syntax:
                    assert not bad, (name, q, [(q[s[0] : s[1]], q[g[0] : g[1]]) for s, g in bad])
                else:
                    plain_cuts += len(bad)
    assert plain_cuts > 0, "plain BPE does cut groups: the check can fail"


def children_of(
    spans: list[tuple[int, int]], n: int
) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Each node of the tree ``spans`` (plus a root over ``n`` tokens) with its child nodes;
    tokens not inside a child node are the node's children one by one."""
    nodes = set(spans) | {(0, n)}
    tree = {}
    for ps, pe in nodes:
        inside = [c for c in nodes if ps <= c[0] and c[1] <= pe and c != (ps, pe)]
        tree[ps, pe] = [
            c for c in inside if not any(o != c and o[0] <= c[0] and c[1] <= o[1] for o in inside)
        ]
    return tree


def is_sibling_run(tree: dict[tuple[int, int], list[tuple[int, int]]], i: int, j: int) -> bool:
    """Whether tokens ``[i, j)`` are consecutive children of one node: written from the
    definition, independently of seqpack's layout."""
    return j - i == 1 or any(
        ps <= i and j <= pe and not any(c[0] < i < c[1] or c[0] < j < c[1] for c in children)
        for (ps, pe), children in tree.items()
    )


def test_ast_bpe_symbols_are_sibling_runs_of_the_parse(
    datasets: dict[str, tuple[dict[str, list[str]], list[str]]],
    models: dict[tuple[str, bool], SqlBpe],
) -> None:
    plain_not_runs = 0
    for name in ("geography", "restaurants", "imdb"):
        for q in datasets[name][0]["test"]:
            spans, parsed = sql_parse(q)
            assert parsed, q
            tokens = sql_tokens(q)
            tree = children_of(spans, len(tokens))
            edges = np.cumsum([0, *map(len, tokens)]).tolist()
            index = {e: k for k, e in enumerate(edges)}
            for syntax in (False, True):
                model = models[name, syntax]
                ends = np.cumsum([0, *map(len, model.symbols(q))]).tolist()
                runs = [
                    is_sibling_run(tree, index[s], index[e])
                    for s, e in itertools.pairwise(ends)
                    if s in index and e in index  # (bytes of an unseen token lie inside it)
                ]
                crossing, total = model.crossing(q)
                assert total == len(ends) - 1
                assert crossing == runs.count(False), (name, q)
                if syntax:
                    assert all(runs), (name, q)
                else:
                    plain_not_runs += runs.count(False)
    assert plain_not_runs > 0, "plain BPE makes symbols across subtrees: the check can fail"


def rare_types(train: list[list[object]], valid: list[list[object]], below: int) -> int:
    counts = Counter(t for q in train for t in q)
    return sum(1 for t in {t for q in valid for t in q} if counts[t] < below)


def merges_ran_out(model: SqlBpe, train: list[str]) -> bool:
    """Whether no admissible pair that was not rejected occurs twice in the encoded training
    queries (a pair of adjacent symbols is admissible where together they are a sibling run)."""
    rejected = {(s.left, s.right) for s in model.steps if not s.accepted}
    counts: Counter[tuple[int, int]] = Counter()
    for q in train:
        tokens = sql_tokens(q)
        tree = children_of(sql_parse(q)[0], len(tokens))
        index = {e: k for k, e in enumerate(np.cumsum([0, *map(len, tokens)]).tolist())}
        ids = model.encode(q).tolist()
        ends = [index[e] for e in np.cumsum([0, *map(len, model.symbols(q))]).tolist()]
        for k in range(len(ids) - 1):
            if not model.syntax or is_sibling_run(tree, ends[k], ends[k + 2]):
                counts[ids[k], ids[k + 1]] += 1
    return all(c < 2 for pair, c in counts.items() if pair not in rejected)


@pytest.mark.parametrize("syntax", [False, True])
def test_stopping_criterion_bookkeeping(
    datasets: dict[str, tuple[dict[str, list[str]], list[str]]],
    models: dict[tuple[str, bool], SqlBpe],
    syntax: bool,
) -> None:
    for name, (splits, _) in datasets.items():
        model = models[name, syntax]
        train, valid = splits["train"], splits["dev"]
        before = rare_types([sql_tokens(q) for q in train], [sql_tokens(q) for q in valid], 100)
        assert model.rare_types_before == before
        steps = model.steps
        assert sum(s.accepted for s in steps) == model.num_merges
        assert all(s.rare_types == before for s in steps if s.accepted)
        assert all(s.rare_types != before for s in steps if not s.accepted)
        assert model.rejections == 20 or merges_ran_out(model, train), name
        # Replay from the encodings: after every accepted merge the count is unchanged, and
        # encoding made the new symbol exactly as often as training merged it.
        accepted = [s for s in steps if s.accepted]
        for k in range(model.num_merges + 1):
            t = [model.encode(q, merges=k).tolist() for q in train]
            v = [model.encode(q, merges=k).tolist() for q in valid]
            assert rare_types(t, v, 100) == before, (name, k)
            if k:
                made = sum(q.count(model.base_size + k - 1) for q in t)
                assert made == accepted[k - 1].count, (name, k)


def test_rejections_stop_short_when_merges_run_out() -> None:
    model = train_sql_bpe(["SELECT a ;"] * 3, ["SELECT b ;"], max_rejections=20)
    assert model.rejections < 20 and model.num_merges >= 1


def test_unbalanced_queries_fall_back_and_are_counted() -> None:
    train = ['SELECT a FROM t WHERE x = "unclosed ;', "SELECT ( a FROM t ;", "SELECT a ;"]
    model = train_sql_bpe(train * 3, merges=20)
    assert model.unparsed == 6
    assert all(model.decode(model.encode(q)) == q for q in train)
    assert not sql_parse(train[0])[1] and sql_parse(train[2])[1]


def test_sql_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="valid"):
        train_sql_bpe(["SELECT a ;"], [])
    with pytest.raises(InvalidInputError, match="max_rejections"):
        train_sql_bpe(["SELECT a ;"], ["SELECT a ;"], max_rejections=-1)
    with pytest.raises(TypeError, match=r"train\[1\]"):
        train_sql_bpe(["SELECT a ;", 3], merges=3)  # type: ignore[list-item]
    model = train_sql_bpe(["SELECT a ;"] * 2, merges=3)
    with pytest.raises(InvalidInputError, match=r"ids\[1\]"):
        model.decode([1, 10**6])


# ---------------------------------------------------------------- Python code


@pytest.fixture(scope="module")
def stdlib(corpora: Path) -> tuple[list[str], list[str]]:
    """Every 10th standard-library file for training, every 10th from the 5th held out."""
    with (corpora / "pystdlib.jsonl").open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    return texts[::10], texts[5::10]


@pytest.fixture(scope="module")
def python_tokenizer(stdlib: tuple[list[str], list[str]]) -> seqpack.Tokenizer:
    training = seqpack.train_ast_bpe(stdlib[0], 1024, "python", special_tokens=["<|endoftext|>"])
    assert training.documents == len(stdlib[0])
    return training.tokenizer


def test_python_corpus_round_trips(corpora: Path, python_tokenizer: seqpack.Tokenizer) -> None:
    with (corpora / "pystdlib.jsonl").open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    before = python_tokenizer.fallbacks or 0
    for text, ids in zip(texts, python_tokenizer.encode_batch(texts), strict=True):
        assert python_tokenizer.decode_bytes(ids) == text.encode()
    assert (python_tokenizer.fallbacks or 0) - before > 0, "a few stdlib files do not parse"


def python_groups(text: str) -> list[tuple[int, int]]:
    """Byte spans of Python's own tokens (names, numbers, strings, operators, comments) and of
    its expression nodes. Left out: layout tokens (indentation, newlines), tuples without
    parentheses (``x[a, b]``, where tree-sitter has no node) and what lies inside f-strings
    (positions there are unreliable before 3.12)."""
    lines = io.StringIO(text).readlines()
    start = np.cumsum([0, 0, *(len(line.encode()) for line in lines)]).tolist()

    def at(line: int, chars: int) -> int:
        return (
            int(start[line]) + len(lines[line - 1][:chars].encode())
            if line <= len(lines)
            else int(start[line])
        )

    spans: list[tuple[int, int]] = []
    kinds = {tokenize.NAME, tokenize.NUMBER, tokenize.STRING, tokenize.OP, tokenize.COMMENT}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in kinds:
            spans.append((at(*tok.start), at(*tok.end)))

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, ast.expr) and not isinstance(node, ast.Tuple):
            assert node.end_lineno is not None and node.end_col_offset is not None
            spans.append(
                (
                    int(start[node.lineno]) + node.col_offset,
                    int(start[node.end_lineno]) + node.end_col_offset,
                )
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(text))
    return spans


def cut_count(tokenizer: seqpack.Tokenizer, lengths: np.ndarray, text: str) -> int:
    """Tokens of ``text`` that partly overlap one of Python's own spans."""
    bounds = np.cumsum([0, *lengths[tokenizer.encode(text)]])
    groups = np.array(python_groups(text))
    starts, ends = groups[:, 0], groups[:, 1]
    bad = 0
    for s, e in itertools.pairwise(bounds):
        inside_start = (s < starts) & (starts < e) & (e < ends)
        inside_end = (starts < s) & (s < ends) & (ends < e)
        bad += int(np.sum(inside_start | inside_end))
    return bad


def token_lengths(tokenizer: seqpack.Tokenizer) -> np.ndarray:
    return np.array([len(tokenizer.decode_bytes([i])) for i in range(tokenizer.vocab_size)])


def test_python_tokens_never_cut_pythons_own_parse(
    stdlib: tuple[list[str], list[str]], python_tokenizer: seqpack.Tokenizer
) -> None:
    plain = seqpack.train_bpe(stdlib[0], 1024)
    held_out = [t for t in stdlib[1][:20] if t.strip() and "\r" not in t]
    ast_lengths, plain_lengths = token_lengths(python_tokenizer), token_lengths(plain)
    ast_cuts = plain_cuts = 0
    for text in held_out:
        try:
            ast.parse(text)
        except SyntaxError:
            continue
        ast_cuts += cut_count(python_tokenizer, ast_lengths, text)
        plain_cuts += cut_count(plain, plain_lengths, text)
    assert ast_cuts == 0
    assert plain_cuts > 0, "plain byte-level BPE does cut nodes: the check can fail"


def test_crossing_measure_agrees(
    stdlib: tuple[list[str], list[str]], python_tokenizer: seqpack.Tokenizer
) -> None:
    text = stdlib[1][3]
    lengths = token_lengths(python_tokenizer)[python_tokenizer.encode(text)].astype(np.uint32)
    assert syntax_crossing("python", text, lengths) == 0
    whole = np.array([len(text.encode())], dtype=np.uint32)
    assert syntax_crossing("python", text, whole) == 0  # the whole file is the root
    halves = np.array([len(text.encode()) // 2, len(text.encode()) - len(text.encode()) // 2])
    assert syntax_crossing("python", text, halves.astype(np.uint32)) == 2
    assert syntax_crossing("python", "def f(:\n", np.array([8], dtype=np.uint32)) is None
    with pytest.raises(InvalidInputError, match="add up to"):
        syntax_crossing("python", text, lengths[:-1])


def test_unparseable_files_fall_back_and_are_counted() -> None:
    texts = ["def f(x):\n    return x\n"] * 5 + ["def broken(:\n    pass\n", "x = (1,\n"]
    training = seqpack.train_ast_bpe(texts, 300, "python")
    assert (training.documents, training.unparsed) == (7, 2)
    tok = training.tokenizer
    assert tok.fallbacks == 0 and tok.syntax == "python" and tok.native
    for t in texts:
        assert tok.decode_bytes(tok.encode(t)) == t.encode()
    assert tok.fallbacks == 2


def test_file_format_cli_and_preprocess(corpora: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    with (corpora / "pystdlib.jsonl").open(encoding="utf-8") as src, sample.open("w") as dst:
        for _, line in zip(range(40), src, strict=False):
            dst.write(line)
    out = tmp_path / "tok.json"
    args = ["train-bpe", str(sample), "--ast", "python", "--vocab-size", "600"]
    assert main([*args, "--special-token", "<|endoftext|>", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["model"]["type"] == "AstBPE" and len(doc["model"]["merges"]) == 600 - 257
    tok = seqpack.Tokenizer.from_file(out)
    assert tok.syntax == "python" and tok.vocab_size == 600
    assert tok.token_to_id("<|endoftext|>") == 599
    again = seqpack.Tokenizer.from_str(tok.to_str())
    assert again.fingerprint == tok.fingerprint
    manifest = seqpack.preprocess([sample], out, tmp_path / "data", append_eos="<|endoftext|>")
    dataset = seqpack.Dataset(tmp_path / "data")
    with sample.open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    assert manifest["tokenizer"]["fingerprint"] == tok.fingerprint
    for i, text in enumerate(texts):
        assert dataset[i].tolist() == [*tok.encode(text).tolist(), 599]
    assert (
        main(
            [
                "train-bpe",
                str(sample),
                "--ast",
                "python",
                "--pattern",
                "gpt2",
                "--vocab-size",
                "300",
                "--out",
                str(out),
            ]
        )
        == 2
    )


def test_bad_tokenizer_files_name_the_field(tmp_path: Path) -> None:
    bad = {"model": {"type": "AstBPE", "language": "python", "merges": [[0, 300]]}}
    with pytest.raises(TokenizerError, match=r"model\.merges\[0\]"):
        seqpack.Tokenizer.from_str(json.dumps(bad))
    bad["model"]["language"] = "cobol"
    with pytest.raises(TokenizerError, match=r"model\.language"):
        seqpack.Tokenizer.from_str(json.dumps(bad))
    with pytest.raises(InvalidInputError, match="language"):
        seqpack.train_ast_bpe(["x = 1\n"], 300, "cobol")
    with pytest.raises(InvalidInputError, match="vocab_size"):
        seqpack.train_ast_bpe(["x = 1\n"], 10, "python")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x = 1"}\nnot json\n')
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:2"):
        seqpack.train_ast_bpe_files([path], 300, "python")


def test_byte_level_sql_ast_bpe(corpora: Path) -> None:
    with (corpora / "text2sql.jsonl").open(encoding="utf-8") as f:
        queries = [json.loads(line)["text"] for line in f]
    training = seqpack.train_ast_bpe(queries[::2], 1000, "sql")
    tok = training.tokenizer
    assert training.unparsed == 0 and tok.syntax == "sql"
    lengths = token_lengths(tok).astype(np.uint32)
    for q in queries[1::2]:
        ids = tok.encode(q)
        assert tok.decode(ids) == q
        assert syntax_crossing("sql", q, lengths[ids]) == 0
    assert pickle.loads(pickle.dumps(tok)).fingerprint == tok.fingerprint

"""Inputs built to exhaust memory or overflow counts, and output directories that already
hold something: each is a clear error, in bounded memory, with nothing overwritten.

The bombs run in a child process with 2 GiB of address space and a timeout, so a crash, an
abort or a runaway allocation fails the test instead of the suite or the machine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from seqpack.cli import main

from tests.synthetic import write_dataset

BYTE_LEVEL_BPE = {
    "version": "1.0",
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
    "pre_tokenizer": {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": True,
    },
    "decoder": {"type": "ByteLevel"},
}

WORD_LEVEL = {
    "version": "1.0",
    "model": {"type": "WordLevel", "vocab": {"a": 0, "b": 1}, "unk_token": "a"},
    "pre_tokenizer": {"type": "Whitespace"},
}


def _with_id(document: dict[str, object], token: str, id: int) -> str:
    edited = json.loads(json.dumps(document))
    edited["model"]["vocab"][token] = id
    return json.dumps(edited)


def _doubling_ast_bpe(times: int) -> str:
    merges = [[97, 97]] + [[256 + i, 256 + i] for i in range(times - 1)]
    return json.dumps({"model": {"type": "AstBPE", "language": "python", "merges": merges}})


# name: (Python statement run in the child, the outcome expected as a regular expression)
BOMBS = {
    "an AST-BPE token doubled 41 times": (
        f"seqpack.Tokenizer.from_str({_doubling_ast_bpe(41)!r})",
        r"TokenizerError: .*model\.merges\[\d+\]: .*spell more than",
    ),
    "a byte-level BPE id near the largest allowed": (
        f"seqpack.Tokenizer.from_str({_with_id(BYTE_LEVEL_BPE, 'c', (1 << 26) - 1)!r})",
        r"TokenizerError: .*model\.vocab: id 67108863 is far beyond the 3 tokens",
    ),
    "a byte-level BPE id of u32::MAX": (
        f"seqpack.Tokenizer.from_str({_with_id(BYTE_LEVEL_BPE, 'c', 2**32 - 1)!r})",
        r"TokenizerError: .*too large",
    ),
    "a WordLevel id near u32::MAX": (
        f"seqpack.Tokenizer.from_str({_with_id(WORD_LEVEL, 'c', 2**32 - 6)!r})",
        r"Error: .*id 4294967290 is far beyond the 3 tokens",
    ),
    "lengths that sum past 2^64": (
        "seqpack.pack([2**63 - 1, 2**63 - 1, 2], 1)",
        r"InvalidInputError: .*lengths.*document 2 sum past 2\^64",
    ),
    "lengths that sum past 2^64, truncated": (
        "seqpack.pack([2**63 - 1, 2**63 - 1, 2], 1, long_docs='truncate')",
        r"InvalidInputError: .*document 2 sum past 2\^64",
    ),
    "one document of 2^63 fragments": (
        "seqpack.pack([2**63 - 1, 2], 1)",
        r"Error: .*(items|limit)",
    ),
    "truncated tokens beyond 2^63": (
        "print(seqpack.pack([2**62, 2**62, 2], 4, long_docs='truncate').stats()"
        "['truncated_tokens'], end='')",
        rf"ok {2**63 - 8}$",
    ),
}


def _run_in_child(statements: dict[str, str]) -> dict[str, str]:
    script = textwrap.dedent(
        """
        import contextlib, io, json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import seqpack
        for name, statement in json.loads(sys.argv[1]).items():
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    exec(statement)
                outcome = f"ok {printed.getvalue()}"
            except Exception as error:
                outcome = f"{type(error).__name__}: {error}"
            print(json.dumps([name, outcome]), flush=True)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script, json.dumps(statements)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    outcomes = dict(json.loads(line) for line in child.stdout.splitlines())
    assert child.returncode == 0, (
        f"the child died ({child.returncode}) after {list(outcomes)}: {child.stderr[-2000:]}"
    )
    return outcomes


def test_resource_bombs_are_clear_errors_in_bounded_memory() -> None:
    outcomes = _run_in_child({name: statement for name, (statement, _) in BOMBS.items()})
    for name, (_, expected) in BOMBS.items():
        assert re.search(expected, outcomes[name]), f"{name}: {outcomes[name]}"


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("target", ["itself", "another dataset", "a directory of notes"])
def test_pack_out_refuses_a_directory_that_holds_anything(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_dataset(tmp_path / "source", [5, 3, 7, 2, 4])
    out = {
        "itself": source,
        "another dataset": write_dataset(tmp_path / "other", [1, 2, 3]),
        "a directory of notes": tmp_path / "notes",
    }[target]
    if target == "a directory of notes":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    before = _snapshot(source), _snapshot(out)
    code = main(["pack", str(source), "--seq-len", "8", "--out", str(out)])
    assert code == 2
    message = capsys.readouterr().err
    assert f"{out} exists and is not empty" in message, message
    assert (_snapshot(source), _snapshot(out)) == before
    # An empty (or new) directory is still written.
    assert main(["pack", str(source), "--seq-len", "8", "--out", str(tmp_path / "new")]) == 0

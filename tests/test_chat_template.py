"""Chat templates rendered in Rust against the real peer: ``transformers``'
``apply_chat_template(..., tokenize=True, return_dict=True,
return_assistant_tokens_mask=True)`` for templates with generation blocks, and a
prefix-rendering reference built here on transformers' own rendering for templates
without. Every conversation of ``text2sql-chat.jsonl`` for every template style; ids and
masks must be equal."""

from __future__ import annotations

import datetime
import json
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import seqpack
from seqpack import InvalidInputError
from seqpack.cli.show import trained_spans

from tests.chat_templates import (
    CHATML_GENERATION,
    CHATML_PLAIN,
    LLAMA3,
    SPECIAL_TOKENS,
    THINKING,
    THINKING_LAST_TURN,
    TOOLS,
    peer_with_generation,
)

transformers = pytest.importorskip("transformers")

Message = dict[str, Any]

# The tool the tool-call conversations use, its keys in no sorted order: a template that
# prints a dict (`tojson`) writes its keys in the data's order, as Python does.
RUN_SQL = {
    "type": "function",
    "function": {
        "name": "run_sql",
        "description": "Runs a SQL query on the database and returns the rows.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "The SQL query."}},
            "required": ["query"],
        },
    },
}


@pytest.fixture(scope="module")
def conversations(corpora: Path) -> list[list[Message]]:
    with (corpora / "text2sql-chat.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["messages"] for line in f]


@pytest.fixture(scope="module")
def model_dir(conversations: list[list[Message]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder as HF saves one: a small byte-level BPE ``tokenizer.json`` with the
    templates' special tokens, and ``tokenizer_config.json`` with the special tokens and
    two named chat templates."""
    root = tmp_path_factory.mktemp("chat-model")
    texts = [m["content"] for conversation in conversations[:2000] for m in conversation]
    seqpack.train_bpe(texts, 1024, special_tokens=SPECIAL_TOKENS, out=root / "tokenizer.json")
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|begin_of_text|>",
        "eos_token": {"__type": "AddedToken", "content": "<|im_end|>", "special": True},
        "chat_template": [
            {"name": "default", "template": CHATML_GENERATION},
            {"name": "tool_use", "template": TOOLS},
        ],
    }
    (root / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def ours(model_dir: Path) -> seqpack.Tokenizer:
    return seqpack.Tokenizer.from_file(model_dir / "tokenizer.json")


@pytest.fixture(scope="module")
def hf(model_dir: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(str(model_dir))


def rendered_alike(
    ours: seqpack.Tokenizer, hf: Any, messages: list[Message], template: str, **variables: Any
) -> str:
    """The text seqpack renders, checked to be transformers' own."""
    text = seqpack.apply_chat_template(ours, messages, template, **variables).text
    expected = hf.apply_chat_template(messages, chat_template=template, tokenize=False, **variables)
    assert text == expected
    return text


def assert_equal(
    encoded: seqpack.ChatEncoding, ids: Sequence[int], mask: Sequence[int], what: str
) -> None:
    assert encoded.ids.tolist() == list(ids), f"{what}: ids differ"
    assert encoded.mask.dtype == np.bool_
    assert encoded.mask.tolist() == [bool(m) for m in mask], f"{what}: masks differ"


def peer_by_prefixes(
    hf: Any, messages: list[Message], template: str, **kwargs: Any
) -> tuple[list[int], list[int]]:
    """The prefix-rendering reference on transformers' rendering: assistant message ``i``
    adds the text between ``messages[:i]`` rendered with the generation prompt and
    ``messages[:i + 1]`` rendered without; a token is trained iff its characters overlap
    such text."""

    def render(upto: list[Message], prompt: bool) -> str:
        return str(
            hf.apply_chat_template(
                upto, chat_template=template, tokenize=False, add_generation_prompt=prompt, **kwargs
            )
        )

    full = render(messages, False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before, through = render(messages[:i], True), render(messages[: i + 1], False)
        assert through.startswith(before) and full.startswith(through)
        spans.append((len(before), len(through)))
    out = hf(full, add_special_tokens=False, return_offsets_mapping=True)
    mask = [
        int(any(start < end_span and end > start_span for start_span, end_span in spans))
        for start, end in out["offset_mapping"]
    ]
    return list(out["input_ids"]), mask


def same_as_peer(
    peer: Any,
    hf: Any,
    ours: seqpack.Tokenizer,
    messages: list[Message],
    template: str,
    what: str,
    **kwargs: Any,
) -> seqpack.ChatEncoding:
    """seqpack's encoding of ``messages``, checked equal to ``peer``'s (one of the two
    above) with the same template and keywords."""
    ids, mask = peer(hf, messages, template, **kwargs)
    encoded = seqpack.apply_chat_template(ours, messages, template, **kwargs)
    assert_equal(encoded, ids, mask, what)
    return encoded


def each_same_as_transformers(
    conversations: list[list[Message]],
    hf: Any,
    ours: seqpack.Tokenizer,
    template: str,
    rewrite: Callable[[list[Message], int], list[Message]],
    **kwargs: Any,
) -> Iterator[tuple[int, seqpack.ChatEncoding]]:
    """:func:`same_as_peer` against transformers' generation blocks on each conversation
    ``n``, as ``rewrite(messages, n)`` makes it: ``n`` and seqpack's encoding."""
    for n, messages in enumerate(conversations):
        rewritten = rewrite(messages, n)
        what = f"conversation {n}"
        yield n, same_as_peer(peer_with_generation, hf, ours, rewritten, template, what, **kwargs)


def same_as_llama3(
    hf: Any,
    ours: seqpack.Tokenizer,
    messages: list[Message],
    what: str,
    date: str,
    **kwargs: Any,
) -> seqpack.ChatEncoding:
    """:func:`same_as_peer` for the Llama-3 template: it has no generation blocks, so the peer
    is prefix rendering, and its system header's date (``strftime_now`` unless given) is
    ``date`` for both."""
    return same_as_peer(
        peer_by_prefixes, hf, ours, messages, LLAMA3, what, date_string=date, **kwargs
    )


def with_text_parts(messages: list[Message], n: int) -> list[Message]:
    """In every fifth conversation (``n``), the user's content as a list of text parts."""
    if n % 5:
        return messages
    return [
        {**m, "content": [{"type": "text", "text": m["content"]}]} if m["role"] == "user" else m
        for m in messages
    ]


def as_tool_calls(messages: list[Message], n: int) -> list[Message]:
    """Each answer becomes a call of ``run_sql``, its result, and a closing reply; every
    third conversation's call also carries text."""
    out: list[Message] = []
    for m in messages:
        if m["role"] != "assistant":
            out.append(m)
            continue
        call: Message = {
            "role": "assistant",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {
                        "name": "run_sql",
                        # Not in sorted order: the template prints them as they are.
                        "arguments": {"query": m["content"], "limit": 10 + n % 90},
                    },
                }
            ],
        }
        if n % 3 == 0:
            call["content"] = "Let me run the query."
        out += [
            call,
            {"role": "tool", "content": f"{len(m['content']) % 7} rows"},
            {"role": "assistant", "content": "The query ran; the rows are above."},
        ]
    return out


def with_reasoning(messages: list[Message], n: int) -> list[Message]:
    """Reasoning for each answer: as ``reasoning_content`` in even conversations, inline in
    ``<think>`` tags in odd ones."""
    out: list[Message] = []
    question = ""
    for m in messages:
        if m["role"] == "user":
            question = m["content"]
        if m["role"] != "assistant":
            out.append(m)
            continue
        thought = f"The question is: {question.strip()} I need the right tables."
        if n % 2 == 0:
            out.append({**m, "reasoning_content": thought})
        else:
            out.append({**m, "content": f"<think>\n{thought}\n</think>\n\n{m['content']}"})
    return out


def test_every_conversation_with_generation_blocks_equals_transformers(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any
) -> None:
    assert len(conversations) > 1000
    trained = 0
    each = each_same_as_transformers(conversations, hf, ours, CHATML_GENERATION, with_text_parts)
    for _, encoded in each:
        trained += int(encoded.mask.sum())
    assert trained > 0


def test_every_conversation_without_generation_blocks_equals_prefix_rendering(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any
) -> None:
    for n, messages in enumerate(conversations):
        encoded = same_as_llama3(hf, ours, messages, f"conversation {n}", "26 Jul 2024")
        assert encoded.ids[0] == ours.token_to_id("<|begin_of_text|>")


def test_chatml_without_a_system_prompt_of_its_own(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any
) -> None:
    for n, messages in enumerate(conversations):
        without_system = messages[1:] if n % 2 else messages
        encoded = same_as_peer(
            peer_by_prefixes, hf, ours, without_system, CHATML_PLAIN, f"conversation {n}"
        )
    # The template with a default system prompt adds it where the data has none.
    messages = conversations[0][1:]
    encoded = same_as_peer(
        peer_with_generation, hf, ours, messages, CHATML_GENERATION, "no system message"
    )
    assert encoded.text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")


def test_tool_calls_equal_transformers(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any
) -> None:
    each = each_same_as_transformers(conversations, hf, ours, TOOLS, as_tool_calls, tools=[RUN_SQL])
    for n, encoded in each:
        assert '"arguments": {"query": ' in encoded.text
        assert f', "limit": {10 + n % 90}}}' in encoded.text
    # Tools as indented JSON (`tojson(indent=4)`) in the Llama-3 style.
    messages = conversations[1]
    encoded = same_as_llama3(hf, ours, messages, "tools with indent", "1 Jan 2025", tools=[RUN_SQL])
    assert json.dumps(RUN_SQL, indent=4) in encoded.text


def test_thinking_switch_equals_transformers(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any
) -> None:
    each = each_same_as_transformers(conversations, hf, ours, THINKING, with_reasoning)
    for n, encoded in each:
        assert "<think>\nThe question is:" in encoded.text
        # Asking for an answer without thinking closes an empty think block.
        prompt = conversations[n][:2]
        for enable_thinking in (True, False):
            ids, mask = peer_with_generation(
                hf, prompt, THINKING, add_generation_prompt=True, enable_thinking=enable_thinking
            )
            encoded = seqpack.apply_chat_template(
                ours, prompt, THINKING, add_generation_prompt=True, enable_thinking=enable_thinking
            )
            assert_equal(encoded, ids, mask, f"conversation {n}, enable_thinking={enable_thinking}")
            assert encoded.text.endswith("<think>\n\n</think>\n\n") is not enable_thinking
            assert not encoded.mask.any()


def test_turns_rendered_differently_later_train_what_generation_blocks_mark(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any
) -> None:
    """A template that drops a turn's reasoning once a later question follows does not
    render a conversation as an extension of its shorter ones. Without its generation
    blocks, prefix rendering finds each turn in the whole conversation, and must train what
    transformers marks by the same template's blocks."""
    without_blocks = re.sub(r"\{%-? *(end)?generation *-?%\}", "", THINKING_LAST_TURN)
    assert "{%- generation" not in without_blocks and "endgeneration" not in without_blocks
    rendered_differently = 0
    for n, messages in enumerate(conversations):
        rewritten = with_reasoning(messages, n)
        ids, mask = peer_with_generation(hf, rewritten, THINKING_LAST_TURN)
        encoded = seqpack.apply_chat_template(ours, rewritten, without_blocks)
        assert_equal(encoded, ids, mask, f"conversation {n}")
        # An earlier turn lost its reasoning: the conversation is not an extension of it.
        rendered_differently += encoded.text.count("<think>") < sum(
            m["role"] == "assistant" for m in messages
        )
    assert rendered_differently > 1000


@pytest.fixture(scope="module")
def sentencepiece(
    conversations: list[list[Message]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[seqpack.Tokenizer, Any]:
    """A SentencePiece-style BPE as Llama 2, Mistral and Phi-3 ship it in ``tokenizer.json``:
    spaces as ``▁``, one prepended to each text, byte fallback. seqpack runs it through the
    ``tokenizers`` library."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers

    tokenizer = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    tokenizer.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    texts = [m["content"] for conversation in conversations[:2000] for m in conversation]
    texts += ["system\nuser\nassistant\n<think>\n</think>\n\n"] * 20
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<unk>", *SPECIAL_TOKENS])
    tokenizer.train_from_iterator(texts, trainer)
    path = tmp_path_factory.mktemp("sentencepiece") / "tokenizer.json"
    tokenizer.save(str(path))
    return seqpack.Tokenizer.from_file(path), transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(path)
    )


def test_sentencepiece_tokens_are_placed_where_the_tokenizer_aligns_them(
    conversations: list[list[Message]], sentencepiece: tuple[seqpack.Tokenizer, Any]
) -> None:
    """A SentencePiece token decoded alone loses the space its ``▁`` stands for, and a ``▁``
    may share its character with the token after it: tokens are placed by the library's
    offsets, as transformers places them, for generation blocks and prefix rendering."""
    ours, hf = sentencepiece
    assert ours.implementation == "hf"
    without_blocks = re.sub(r"\{%-? *(end)?generation *-?%\}", "", THINKING_LAST_TURN)
    for n, messages in enumerate(conversations[:600]):
        what = f"conversation {n}"
        parts = with_text_parts(messages, n)
        same_as_peer(peer_with_generation, hf, ours, parts, CHATML_GENERATION, what)
        reasoning = with_reasoning(messages, n)
        ids, mask = peer_with_generation(hf, reasoning, THINKING_LAST_TURN)
        assert_equal(seqpack.apply_chat_template(ours, reasoning, without_blocks), ids, mask, what)


def test_show_writes_sentencepiece_text_with_its_spaces(
    conversations: list[list[Message]], sentencepiece: tuple[seqpack.Tokenizer, Any]
) -> None:
    """``seqpack show`` decodes the trained and untrained runs of a conversation apart; with
    a SentencePiece tokenizer each run's first ``▁`` is still the space it stands for, so the
    runs read as the whole conversation decoded at once."""
    ours, _ = sentencepiece
    for n, messages in enumerate(conversations[:50]):
        encoded = seqpack.apply_chat_template(ours, messages, CHATML_GENERATION)
        spans = trained_spans(encoded.ids.astype(np.uint32), encoded.mask, ours)
        assert len(spans) > 2, f"conversation {n}"
        assert "".join(text for text, _ in spans) == ours.decode(encoded.ids), f"conversation {n}"


def test_the_template_beside_the_tokenizer_is_found_as_transformers_finds_it(
    conversations: list[list[Message]],
    ours: seqpack.Tokenizer,
    hf: Any,
    model_dir: Path,
    tmp_path: Path,
) -> None:
    messages = conversations[2]
    ids, mask = peer_with_generation(hf, messages, hf.get_chat_template())
    assert_equal(seqpack.apply_chat_template(ours, messages), ids, mask, "default template")
    calls = as_tool_calls(messages, 0)
    ids, mask = peer_with_generation(hf, calls, hf.get_chat_template("tool_use"), tools=[RUN_SQL])
    by_name = seqpack.apply_chat_template(ours, calls, "tool_use", tools=[RUN_SQL])
    assert_equal(by_name, ids, mask, "named template")
    # With tools and no template named, transformers picks `tool_use`, as seqpack does.
    ids, mask = peer_with_generation(hf, calls, None, tools=[RUN_SQL])
    assert ids == list(by_name.ids)
    assert_equal(seqpack.apply_chat_template(ours, calls, tools=[RUN_SQL]), ids, mask, "tools")
    # Without tools, the default.
    ids, mask = peer_with_generation(hf, messages, None)
    assert_equal(seqpack.apply_chat_template(ours, messages), ids, mask, "no tools")
    # A template file.
    (tmp_path / "chatml.jinja").write_text(CHATML_PLAIN, encoding="utf-8")
    ids, mask = peer_by_prefixes(hf, messages, CHATML_PLAIN)
    assert_equal(
        seqpack.apply_chat_template(ours, messages, tmp_path / "chatml.jinja"), ids, mask, "file"
    )
    # chat_template.jinja beside the tokenizer comes before tokenizer_config.json.
    saved = tmp_path / "saved"
    saved.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (saved / name).write_bytes((model_dir / name).read_bytes())
    (saved / "chat_template.jinja").write_text(LLAMA3, encoding="utf-8")
    beside = seqpack.Tokenizer.from_file(saved / "tokenizer.json")
    assert beside.path == saved / "tokenizer.json"
    hf_saved = transformers.AutoTokenizer.from_pretrained(str(saved))
    ids, mask = peer_by_prefixes(
        hf_saved, messages, hf_saved.get_chat_template(), date_string="2 Feb 2025"
    )
    encoded = seqpack.apply_chat_template(beside, messages, date_string="2 Feb 2025")
    assert_equal(encoded, ids, mask, "chat_template.jinja")
    # Without a file there is nothing beside it.
    with pytest.raises(InvalidInputError, match="give the template"):
        seqpack.apply_chat_template(seqpack.Tokenizer.from_str(ours.to_str()), messages)
    with pytest.raises(InvalidInputError, match="not among the templates"):
        seqpack.apply_chat_template(ours, messages, "no_such_template")


def test_preprocess_picks_the_tool_use_template_for_records_with_tools(
    conversations: list[list[Message]], hf: Any, model_dir: Path, tmp_path: Path
) -> None:
    records = []
    for n, messages in enumerate(conversations[:60]):
        if n % 2:
            records.append({"messages": as_tool_calls(messages, n), "tools": [RUN_SQL]})
        else:
            records.append({"messages": messages})
    corpus = tmp_path / "chats.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    seqpack.preprocess(corpus, model_dir / "tokenizer.json", tmp_path / "data", progress=False)
    dataset = seqpack.Dataset(tmp_path / "data")
    for n, record in enumerate(records):
        ids, mask = peer_with_generation(hf, record["messages"], None, tools=record.get("tools"))
        assert dataset[n].tolist() == ids, f"record {n}"
        assert dataset.loss_mask(n).tolist() == [bool(m) for m in mask], f"record {n}"


def test_tojson_escapes_as_json_dumps(ours: seqpack.Tokenizer, hf: Any) -> None:
    template = (
        "{{ messages[0].content|tojson }}|{{ messages[0].content|tojson(ensure_ascii=True) }}"
    )
    content = 'a\x7f\x01é\u2028😀"\\\n\t'
    messages = [{"role": "user", "content": content}]
    text = seqpack.apply_chat_template(ours, messages, template).text
    assert text == json.dumps(content, ensure_ascii=False) + "|" + json.dumps(content)
    assert text == hf.apply_chat_template(messages, chat_template=template, tokenize=False)


def test_strip_and_trim_strip_what_python_strips(ours: seqpack.Tokenizer, hf: Any) -> None:
    # Python's whitespace (`str.isspace`) has the separators U+001C-U+001F besides Unicode's
    # White_Space; neither counts the zero-width space or U+180E.
    template = (
        "{% for m in messages %}[{{ m.content.strip() }}|{{ m.content.lstrip() }}|"
        "{{ m.content.rstrip() }}|{{ m.content|trim }}|{{ m.content.strip('\x1cx') }}|"
        "{{ m.content|trim('x') }}]{% endfor %}"
    )
    contents = [
        "\x1c\x1d a b \x1e\x1f",
        "\u3000\u2028\x85 a\xa0\t\n",
        "\u200ba\u180e",
        "x\x1cxa x\x1c",
        "nothing to strip",
        "",
    ]
    messages = [{"role": "user", "content": c} for c in contents]
    text = rendered_alike(ours, hf, messages, template)
    assert "[a b|" in text


# Strings at Python's word and line boundaries that Rust draws elsewhere: the separators
# U+001C-U+001F (whitespace and line breaks to Python), lone \r, \v, \f, NEL, U+2028/9.
AWKWARD_STRINGS = [
    "  a b  c ",
    "a\rb\nc\r\nd\x0be\x0cf\x1cg\x85h\u2028i\u2029j",
    "\x1c x \x1f y\t",
    "",
    "   ",
    "a\n\nb\n",
    "x\u3000y\u200bz,w",
    "k=v=w, a,b,,c",
]

# Each method's result as text: lists by their items (the engine prints a list as Python's
# repr does, but escapes fewer characters).
PYTHON_STRING_METHODS = [
    "c.split()|join('|')",
    "c.split(None, 1)|join('|')",
    "c.split(maxsplit=1)|join('|')",
    "c.split(none, 0)|join('|')",
    "c.split(',')|join('|')",
    "c.split(',', 1)|join('|')",
    "c.split(sep=',')|join('|')",
    "c.rsplit()|join('|')",
    "c.rsplit(None, 1)|join('|')",
    "c.rsplit(',', 1)|join('|')",
    "c.rsplit(',')|join('|')",
    "c.rsplit(sep=',', maxsplit=2)|join('|')",
    "c.splitlines()|join('|')",
    "c.splitlines(true)|join('|')",
    "c.splitlines(keepends=true)|join('|')",
    "c.isspace()",
    "c.partition('=')|join('|')",
    "c.rpartition(',')|join('|')",
    "c.removeprefix('  a')",
    "c.removesuffix('c ')",
    "c.ljust(12, '.')",
    "c.rjust(11)",
    "c.center(12, '*')",
    "c.center(13)",
    "c.zfill(12)",
    "('-' ~ c).zfill(12)",
    "c.index('') ~ c.rindex('')",
    "c|center(15)",
    "c|center",
    "c|wordcount",
    "c|truncate(6)",
    "c|truncate(5, true)",
    "c|truncate(6, end='~', leeway=0)",
    "c|truncate(length=4, killwords=false, end='')",
    "c|int ~ (c ~ '7')|int ~ '0x1f'|int(base=16) ~ c|int(default=-1)",
    "(c ~ \" they're 'q' x2y ÉCOLE\").title()",
    "(c ~ ' MiXeD é').swapcase()",
]


@pytest.mark.parametrize("method", PYTHON_STRING_METHODS)
def test_string_methods_and_filters_are_pythons(
    ours: seqpack.Tokenizer, hf: Any, method: str
) -> None:
    template = "{% for m in messages %}{% set c = m.content %}[{{ " + method + " }}]{% endfor %}"
    messages = [{"role": "user", "content": c} for c in AWKWARD_STRINGS]
    rendered_alike(ours, hf, messages, template)


def test_a_substring_that_is_not_there_raises_in_index(ours: seqpack.Tokenizer) -> None:
    with pytest.raises(InvalidInputError, match="substring not found"):
        seqpack.apply_chat_template(
            ours, [{"role": "user", "content": "abc"}], "{{ 'abc'.index('x') }}"
        )


def test_string_literals_are_read_as_python_reads_them(ours: seqpack.Tokenizer, hf: Any) -> None:
    # Jinja decodes literals with Python's `unicode_escape`: a backslash before a line break
    # continues the line (Mistral's default system prompt is written so), `\a`, `\v` and
    # `\U…` are escapes, an unknown escape such as `\/` keeps its backslash, and line breaks
    # inside a literal become `\n`.
    template = (
        '{%- set system = "You are a model.\\\n'
        'You answer in one line. \\/ \\a\\v \\U0001F600 \\x41\\101 \\\\" %}'
        "{{- system }}|{{ 'two\r\nlines' }}|{{ {'k\\\n': 1}['k'] }}"
        "{% for m in messages %}[{{ m.content }}]{% endfor %}\n{{ undefined_name }}"
    )
    messages = [{"role": "user", "content": "hi"}]
    with warnings.catch_warnings():
        # Python warns of the unknown escape (and keeps it) where the tests make warnings errors.
        warnings.simplefilter("ignore", DeprecationWarning)
        text = rendered_alike(ours, hf, messages, template)
    assert text.startswith("You are a model.You answer in one line. \\/ \x07\x0b 😀 AA \\|")
    # An escape Python refuses stops the template, naming its line.
    with pytest.raises(ValueError, match="line 2"):
        seqpack.apply_chat_template(ours, messages, "x\n{{ 'a\\x4' }}")


def test_printed_values_are_what_python_prints(ours: seqpack.Tokenizer, hf: Any) -> None:
    # Floats printed as they are (`str()`, also through `|string` and `|join`), and lists
    # and dicts of the data (`repr()` of their items); `none` is not iterable, as in Python.
    template = (
        "{% for m in messages %}{% for v in m.vals %}"
        "{% if v is string %}s{% elif v is iterable and v is not mapping %}[{{ v }}]"
        "{% else %}{{ v }}{% endif %};{% endfor %}{{ m.vals }}|{{ m.args }}"
        "|{{ m.vals|join(',') }}|{{ m.vals|string }}|{{ m.args.temperature|string }}{% endfor %}"
    )
    values = [1e20, 3e-05, 1.5e300, 123456789012345678.0, 1e16, 1e15, 0.0001, -0.0, 2.5]
    messages = [
        {
            "role": "user",
            "content": "x",
            "vals": [*values, None, 7, True, "a", [1.0, None, "q'\"r"]],
            "args": {"temperature": 1e-07, "nested": {"b": [False, 2e16]}},
        }
    ]
    text = rendered_alike(ours, hf, messages, template)
    assert text.startswith("1e+20;3e-05;1.5e+300;")


def test_variables_keep_the_order_of_their_keys(ours: seqpack.Tokenizer, hf: Any) -> None:
    template = "{{ controls|tojson }}|{{ controls }}|{% for k in controls %}{{ k }}{% endfor %}"
    messages = [{"role": "user", "content": "x"}]
    for controls in ({"page": 1, "bbox": [0.5]}, {"bbox": [0.5], "page": 1}):
        text = rendered_alike(ours, hf, messages, template, controls=controls)
        assert text.startswith(json.dumps(controls))


def test_todays_date_is_what_python_prints(
    ours: seqpack.Tokenizer, conversations: list[list[Message]]
) -> None:
    before = datetime.datetime.now(datetime.timezone.utc).strftime("%d %b %Y")
    text = seqpack.apply_chat_template(ours, conversations[0], LLAMA3).text
    after = datetime.datetime.now(datetime.timezone.utc).strftime("%d %b %Y")
    assert f"Today Date: {before}\n" in text or f"Today Date: {after}\n" in text


def test_dates_use_the_c_librarys_codes(ours: seqpack.Tokenizer, hf: Any) -> None:
    # `strftime_now` is `datetime.now().strftime`: glibc's codes and flags, no zone.
    template = "{{ strftime_now('%-d %B %Y|%e|%^a|%x %X|%c|%D %R %r|%u %C|%P|[%Z%z]') }}"
    messages = [{"role": "user", "content": "x"}]
    for _ in range(3):  # a second may turn between the two renderings
        text = seqpack.apply_chat_template(ours, messages, template).text
        if text == hf.apply_chat_template(messages, chat_template=template, tokenize=False):
            break
    else:
        pytest.fail(f"{text!r} is not transformers' rendering")
    assert text.endswith("|[]")


def runs(mask: Sequence[int]) -> list[tuple[int, int]]:
    """The runs of trained tokens, as (start, end)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def test_last_assistant_and_the_data_choose_turns(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any
) -> None:
    multi = [c for c in conversations if sum(m["role"] == "assistant" for m in c) >= 3][:50]
    assert multi
    for template, peer in (
        (CHATML_GENERATION, peer_with_generation),
        (CHATML_PLAIN, peer_by_prefixes),
    ):
        for messages in multi:
            ids, mask = peer(hf, messages, template)
            turns = runs(mask)
            assert len(turns) == sum(m["role"] == "assistant" for m in messages)
            last = np.zeros(len(ids), dtype=bool)
            last[turns[-1][0] : turns[-1][1]] = True
            encoded = seqpack.apply_chat_template(
                ours, messages, template, train_on="last-assistant"
            )
            assert_equal(encoded, ids, last.tolist(), "last-assistant")
            # The first answer not trained, the second by weight: the rest as before.
            first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
            second = next(
                i for i, m in enumerate(messages) if m["role"] == "assistant" and i > first
            )
            chosen = [dict(m) for m in messages]
            chosen[first]["train"] = False
            chosen[second]["weight"] = 0.0
            expected = np.asarray(mask, dtype=bool)
            for start, end in turns[:2]:
                expected[start:end] = False
            encoded = seqpack.apply_chat_template(ours, chosen, template)
            assert_equal(encoded, ids, expected.tolist(), "train/weight")
            everything = seqpack.apply_chat_template(ours, messages, template, train_on="all")
            assert everything.mask.all() and everything.ids.tolist() == ids


def test_bad_conversations_say_what_is_wrong(ours: seqpack.Tokenizer) -> None:
    user = {"role": "user", "content": "hi"}
    cases: list[tuple[list[Any], str]] = [
        ([{"role": "wizard", "content": "hi"}], r'\[unknown_role\] message 0 has role "wizard"'),
        ([{"content": "hi"}], r"\[unknown_role\] message 0 has no `role`"),
        ([{"role": "user", "content": 5}], r"\[bad_content\] message 0: `content` is a number"),
        (
            [user, {"role": "user", "content": [{"type": "image_url"}]}],
            r"\[bad_content\] message 1, content part 0",
        ),
        (
            [{"role": "user", "content": "hi", "train": True}],
            r"\[bad_override\] message 0 \(user\)",
        ),
        ([user, {"role": "tool", "content": "x"}], r"\[raise_exception\] .*not tool"),
    ]
    for messages, pattern in cases:
        with pytest.raises(InvalidInputError, match=pattern):
            seqpack.apply_chat_template(ours, messages, CHATML_GENERATION)
    broken = "{% for m in messages %}\n{{ m.content }}\n{{ m.content.no.such.thing }}\n{% endfor %}"
    with pytest.raises(
        InvalidInputError,
        match=r"\[template_error\] template line 3 \(\{\{ m.content.no.such.thing \}\}\)",
    ):
        seqpack.apply_chat_template(ours, [user], broken)
    with pytest.raises(InvalidInputError, match="line 2"):
        seqpack.apply_chat_template(ours, [user], "ok\n{% if %}")
    # A template that does not write the question when it is the last message: the prompt
    # for the first answer has no text to lead into its turn from.
    unasked = (
        "{% for m in messages %}{{ '?' if loop.last and m.role == 'user' else m.content }}"
        "{{ '!' if loop.last and m.role == 'assistant' else '' }}|{% endfor %}"
    )
    answer = {"role": "assistant", "content": "SELECT 1"}
    with pytest.raises(InvalidInputError, match=r"\[not_a_prefix\] assistant message 1: "):
        seqpack.apply_chat_template(ours, [user, answer, user, answer], unasked)
    with pytest.raises(InvalidInputError, match="train_on"):
        seqpack.apply_chat_template(ours, [user], CHATML_GENERATION, train_on="completion")
    with pytest.raises(InvalidInputError, match="train_on"):
        seqpack.apply_chat_template(ours, [user], CHATML_GENERATION, train_on="everything")


def test_edges_inside_tokens_are_counted(ours: seqpack.Tokenizer, hf: Any) -> None:
    # The generated text starts in the middle of a word, so one token holds both sides.
    template = (
        "{% for m in messages %}{% if m.role == 'assistant' %}"
        "{% generation %}{{ m.content }}{% endgeneration %}"
        "{% else %}{{ m.content }}{% endif %}{% endfor %}"
    )
    messages = [
        {"role": "user", "content": "SEL"},
        {"role": "assistant", "content": "ECT name FROM users"},
    ]
    encoded = same_as_peer(
        peer_with_generation, hf, ours, messages, template, "edge inside a token"
    )
    assert encoded.text == "SELECT name FROM users"
    first = ours.decode(encoded.ids[:1])
    assert first.startswith("SEL") and len(first) > 3, "the vocabulary should hold SELECT"
    assert encoded.edges_inside_tokens == 1
    assert encoded.mask[0] and encoded.mask.all()


def test_preprocess_stores_what_apply_chat_template_gives(
    conversations: list[list[Message]], ours: seqpack.Tokenizer, hf: Any, tmp_path: Path
) -> None:
    """Conversations through preprocess: the template beside the tokenizer by default, a
    template file with another `train_on` when given; every record's ids and mask are what
    `apply_chat_template` gives it (itself checked against transformers above), and the
    manifest counts the trained tokens."""
    chosen = conversations[:300]
    corpus = tmp_path / "chat.jsonl"
    corpus.write_text("".join(json.dumps({"messages": m}) + "\n" for m in chosen))
    manifest = seqpack.preprocess(corpus, ours, tmp_path / "beside", progress=False)
    dataset = seqpack.Dataset(tmp_path / "beside")
    assert len(dataset) == len(chosen)
    trained = 0
    for i, messages in enumerate(chosen):
        expected = seqpack.apply_chat_template(ours, messages)
        assert dataset[i].tolist() == expected.ids.tolist(), f"record {i}: ids"
        assert dataset.loss_mask(i).tolist() == expected.mask.tolist(), f"record {i}: mask"
        trained += int(expected.mask.sum())
    ids, mask = peer_with_generation(hf, chosen[0], hf.get_chat_template())
    assert dataset[0].tolist() == list(ids) and dataset.loss_mask(0).tolist() == [
        bool(m) for m in mask
    ]
    assert manifest["loss_mask"]["trained_tokens"] == trained

    (tmp_path / "llama3.jinja").write_text(LLAMA3, encoding="utf-8")
    seqpack.preprocess(
        corpus,
        ours,
        tmp_path / "file",
        chat_template=tmp_path / "llama3.jinja",
        train_on="last-assistant",
        template_vars={"date_string": "2 Feb 2025"},
        progress=False,
    )
    dataset = seqpack.Dataset(tmp_path / "file")
    for i in range(0, len(chosen), 7):
        expected = seqpack.apply_chat_template(
            ours, chosen[i], LLAMA3, train_on="last-assistant", date_string="2 Feb 2025"
        )
        assert dataset[i].tolist() == expected.ids.tolist(), f"record {i}: ids"
        assert dataset.loss_mask(i).tolist() == expected.mask.tolist(), f"record {i}: mask"


def test_preprocess_names_the_template_and_the_record_that_fail(
    ours: seqpack.Tokenizer, tmp_path: Path
) -> None:
    corpus = tmp_path / "chat.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}
    bad = {"messages": [{"role": "wizard", "content": "hi"}]}
    corpus.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% for m in messages %}{{ m.content }", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"broken\.jinja"):
        seqpack.preprocess(corpus, ours, tmp_path / "a", chat_template=broken, progress=False)
    with pytest.raises(InvalidInputError, match=r"chat\.jsonl:2: message 0 has role \"wizard\""):
        seqpack.preprocess(corpus, ours, tmp_path / "b", progress=False)
    manifest = seqpack.preprocess(corpus, ours, tmp_path / "c", on_error="skip", progress=False)
    assert manifest["total_rows"] == 1 and manifest["skipped"] == {"unknown_role": 1}
    # Without a template beside the tokenizer, a conversation file stops the run, named.
    bare = seqpack.Tokenizer.from_str(ours.to_str())
    with pytest.raises(seqpack.SeqpackError, match=r"chat\.jsonl"):
        seqpack.preprocess(corpus, bare, tmp_path / "d", progress=False)

"""Chat templates rendered in Rust: a conversation to token ids and a loss mask.

The template is the model's Jinja chat template, rendered as HuggingFace's
``apply_chat_template`` renders it (same variables, whitespace rules, ``|tojson`` and
Python string methods); the text is tokenized with special tokens recognised and nothing
added around it. What is trained on comes from the template's ``{% generation %}`` blocks
or, for templates without them, from rendering the conversation prefix by prefix; the
data's per-message ``"train"``/``"weight"`` choose among assistant turns. A token is
trained iff it overlaps trained text (HF's rule).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from seqpack import _core
from seqpack.errors import InvalidInputError
from seqpack.tokenizer import Tokenizer

__all__ = ["TRAIN_ON", "ChatEncoding", "TrainOn", "apply_chat_template"]

TRAIN_ON: tuple[str, ...] = _core.TRAIN_ON
TrainOn = Literal["assistant", "last-assistant", "all", "completion"]
"""What can be trained on: ``"assistant"`` (every assistant turn), ``"last-assistant"``,
``"all"`` (every token), and ``"completion"`` (for prompt/completion records)."""

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class ChatEncoding:
    """A conversation encoded: ``ids`` (``uint32``), ``mask`` (``bool``, True where the
    token is trained on), the rendered ``text``, and ``edges_inside_tokens``: the ends of
    trained text that fell inside a token (that token is trained)."""

    ids: npt.NDArray[np.uint32]
    mask: npt.NDArray[np.bool_]
    text: str
    edges_inside_tokens: int


def apply_chat_template(
    tokenizer: Tokenizer,
    messages: Sequence[Mapping[str, Any]],
    template: str | os.PathLike[str] | None = None,
    *,
    add_generation_prompt: bool = False,
    train_on: TrainOn = "assistant",
    tools: Sequence[Mapping[str, Any]] | None = None,
    **variables: Any,
) -> ChatEncoding:
    """Renders ``messages`` with a chat template, tokenizes the text and masks it.

    ``template`` is the template's text, a path to a ``.jinja`` file, or the name of one of
    the templates beside the tokenizer's file; ``None`` takes the one transformers takes
    there (``chat_template.jinja``, or ``chat_template`` in ``tokenizer_config.json``, as HF
    loads them: the ``tool_use`` template when ``tools`` are given and there is one, else
    the default). The special tokens of ``tokenizer_config.json`` beside the tokenizer are
    passed as HF passes them (``bos_token``, ``eos_token``, …); ``variables`` add to them or
    override them (``enable_thinking=False``). ``train_on`` is one of :data:`TRAIN_ON`.

    A bad conversation (no messages, an unknown role, content neither a string nor text
    parts) or a template that fails or calls ``raise_exception`` raises
    :class:`seqpack.InvalidInputError` whose message starts with the reason in brackets.
    """
    chat = _template(tokenizer, template, train_on, dict(variables), with_tools=tools is not None)
    ids, mask, text, edges = chat.apply(
        tokenizer._core,
        list(messages),
        tools=None if tools is None else list(tools),
        add_generation_prompt=add_generation_prompt,
    )
    return ChatEncoding(ids=ids, mask=mask, text=text, edges_inside_tokens=edges)


def _template(
    tokenizer: Tokenizer,
    template: str | os.PathLike[str] | None,
    train_on: str,
    variables: dict[str, Any],
    *,
    with_tools: bool = False,
) -> _core.ChatTemplate:
    path = tokenizer.path
    beside = None if path is None else os.fspath(path)
    if template is None or (isinstance(template, str) and _is_name(template)):
        if beside is None:
            raise InvalidInputError(
                "template: the tokenizer was not read from a file, so there is no chat "
                "template beside it; give the template"
            )
        text, origin = _core.chat_template_beside(beside, name=template, with_tools=with_tools)
    elif isinstance(template, os.PathLike) or ("{" not in template and os.path.isfile(template)):
        origin = os.fspath(template)
        with open(origin, encoding="utf-8") as handle:
            text = handle.read()
    else:
        text, origin = template, "template"
    try:
        # In the order given: a dict inside a variable renders its keys in that order.
        key = json.dumps(variables)
    except (TypeError, ValueError):  # not JSON data: the core says what is wrong with it
        return _core.ChatTemplate(
            text, origin=origin, tokenizer_path=beside, train_on=train_on, variables=variables
        )
    return _compiled(text, origin, beside, _config_version(beside), train_on, key)


@functools.lru_cache(maxsize=16)
def _compiled(
    text: str,
    origin: str,
    beside: str | None,
    config_version: tuple[int, int] | None,
    train_on: str,
    variables: str,
) -> _core.ChatTemplate:
    """A template compiled once for the calls that share it (``config_version`` is there so
    that a changed ``tokenizer_config.json`` is read again)."""
    return _core.ChatTemplate(
        text,
        origin=origin,
        tokenizer_path=beside,
        train_on=train_on,
        variables=json.loads(variables),
    )


def _config_version(tokenizer_path: str | None) -> tuple[int, int] | None:
    """When and how large the ``tokenizer_config.json`` beside the tokenizer was last
    written, which the special tokens come from."""
    if tokenizer_path is None:
        return None
    try:
        stat = os.stat(os.path.join(os.path.dirname(tokenizer_path), "tokenizer_config.json"))
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _is_name(template: str) -> bool:
    """A template's name (``"default"``, ``"tool_use"``) rather than its text or a path."""
    return template.replace("_", "").replace("-", "").isalnum()

"""Data mixtures: several datasets in scheduled, token-exact shares.

A :class:`Mixture` says which datasets a loader draws from and in which proportions (of
real tokens), possibly changing by stage; the core (``_core.Mixture``) plans it: each
source is packed on its own, epoch by epoch, and at every row the source furthest behind
its share of the real tokens so far gives the next row (the deficit rule; see the README's
"Mixtures" section for the bound it keeps). A mixture can be written as a JSON (or, with
PyYAML installed, YAML) file::

    {"sources": [{"path": "data/web", "weight": 0.6},
                 {"path": "data/code", "weight": 0.3},
                 {"path": "data/sql", "weight": 0.1, "max_epochs": 4}],
     "schedule": {"unit": "steps", "interpolation": "step",
                  "stages": [{"at": 9000, "weights": {"data/web": 0.3, "data/code": 0.3,
                                                      "data/sql": 0.4}}]},
     "on_exhausted": "redistribute"}

``sources`` may also map paths to weights. Relative paths in a file are relative to it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from seqpack import _core
from seqpack.dataset import Dataset, default_long_docs
from seqpack.errors import InvalidInputError, SeqpackError
from seqpack.packing import Algorithm, LongDocs
from seqpack.plan import epoch_planner

__all__ = ["Mixture", "Source", "mixture_planner"]

OnExhausted = Literal["redistribute", "stop"]
ScheduleUnit = Literal["steps", "tokens"]
Interpolation = Literal["step", "linear"]


@dataclass(frozen=True)
class Source:
    """One dataset of a mixture: its ``path``, its ``weight`` (share of the real tokens,
    relative to the others'), ``max_epochs`` (``None``: it repeats forever; each repetition
    is packed anew), its own ``algorithm``/``long_docs`` (``None``: the loader's), and the
    ``name`` that schedules, errors and reports use (its path by default)."""

    path: str | os.PathLike[str]
    weight: float = 1.0
    max_epochs: int | None = None
    algorithm: Algorithm | None = None
    long_docs: LongDocs | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.path)


_SOURCE_KEYS = {"path", "weight", "max_epochs", "algorithm", "long_docs", "name"}


def _source(item: Source | Mapping[str, Any], base: Path | None) -> Source:
    if isinstance(item, Source):
        source = item
    elif isinstance(item, Mapping):
        unknown = sorted(set(item) - _SOURCE_KEYS)
        if unknown or "path" not in item:
            raise InvalidInputError(
                f"mixture source {item!r}: needs a 'path' and knows only "
                f"{', '.join(sorted(_SOURCE_KEYS))}"
            )
        source = Source(**item)
    else:
        raise InvalidInputError(f"mixture source {item!r} is not a Source or a mapping")
    if base is not None and not Path(source.path).is_absolute():
        source = Source(
            base / source.path,
            source.weight,
            source.max_epochs,
            source.algorithm,
            source.long_docs,
            source.name if source.name is not None else str(source.path),
        )
    return source


class Mixture:
    """Datasets in scheduled shares of real tokens.

    ``sources``: :class:`Source` objects (or mappings of their fields), or a mapping of
    paths to weights. ``schedule``: later stages, each ``{"at": position, "weights":
    {source name: weight}}`` (a source a stage leaves out has weight 0), positions counted
    in ``unit`` (``"steps"`` or ``"tokens"`` of real tokens seen); with ``interpolation=
    "linear"`` the weights move linearly from one stage to the next, with ``"step"`` they
    switch. The sources' own weights make the stage at 0 (unless the schedule gives one).
    ``on_exhausted``: once a source has given its ``max_epochs``, its share goes to the
    others (``"redistribute"``) or the mixture ends after that step (``"stop"``).
    Weights are checked by the core when a loader plans the mixture."""

    def __init__(
        self,
        sources: Sequence[Source | Mapping[str, Any]] | Mapping[str | os.PathLike[str], float],
        *,
        schedule: Sequence[Mapping[str, Any]] = (),
        unit: ScheduleUnit = "steps",
        interpolation: Interpolation = "step",
        on_exhausted: OnExhausted = "redistribute",
        base: str | os.PathLike[str] | None = None,
    ) -> None:
        root = None if base is None else Path(base)
        if isinstance(sources, Mapping):
            items: list[Source | Mapping[str, Any]] = [
                Source(path, weight) for path, weight in sources.items()
            ]
        elif isinstance(sources, (str, os.PathLike)):
            raise InvalidInputError("a mixture's sources must be a list or a mapping")
        else:
            items = list(sources)
        self.sources = tuple(_source(item, root) for item in items)
        if not self.sources:
            raise InvalidInputError("a mixture needs at least one source")
        self.schedule = [dict(stage) for stage in schedule]
        self.unit = unit
        self.interpolation = interpolation
        self.on_exhausted = on_exhausted

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Mixture:
        """Reads a mixture file (JSON, or YAML with a ``.yaml``/``.yml`` suffix if PyYAML
        is installed); relative source paths are relative to the file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInputError(f"{path}: cannot read the mixture file ({error})") from error
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml  # type: ignore[import-untyped,unused-ignore]
            except ImportError as error:
                raise InvalidInputError(
                    f"{path}: reading a YAML mixture needs PyYAML (pip install pyyaml); "
                    "or write the mixture as JSON"
                ) from error
            try:
                spec = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise InvalidInputError(f"{path}: not valid YAML ({error})") from error
        else:
            try:
                spec = json.loads(text)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(spec, Mapping) or "sources" not in spec:
            raise InvalidInputError(f"{path}: a mixture file is a mapping with 'sources'")
        schedule = spec.get("schedule") or {}
        unknown = sorted(set(spec) - {"sources", "schedule", "on_exhausted"})
        if unknown or not isinstance(schedule, Mapping):
            raise InvalidInputError(
                f"{path}: a mixture file holds sources, schedule (a mapping) and "
                f"on_exhausted, not {unknown or 'a schedule of another type'}"
            )
        return cls(
            spec["sources"],
            schedule=schedule.get("stages", ()),
            unit=schedule.get("unit", "steps"),
            interpolation=schedule.get("interpolation", "step"),
            on_exhausted=spec.get("on_exhausted", "redistribute"),
            base=path.parent,
        )

    @property
    def names(self) -> list[str]:
        return [source.label for source in self.sources]

    def spec(self) -> dict[str, Any]:
        """The schedule and end policy as the core reads them (weights by source name)."""
        first = {
            "at": 0,
            "weights": {s.label: _weight(s) for s in self.sources},
        }
        stages = list(self.schedule)
        if not any(stage.get("at") == 0 for stage in stages):
            stages.insert(0, first)
        return {
            "unit": self.unit,
            "interpolation": self.interpolation,
            "stages": stages,
            "on_exhausted": self.on_exhausted,
        }

    def __repr__(self) -> str:
        return f"Mixture({[(s.label, s.weight) for s in self.sources]!r})"


def _weight(source: Source) -> float:
    weight = source.weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise InvalidInputError(
            f"mixture source {source.label!r}: weight must be a number, got {weight!r}"
        )
    # JSON has no NaN or infinity: the core would only see a null.
    if not math.isfinite(weight):
        raise InvalidInputError(
            f"mixture source {source.label!r}: weight must be a finite number ≥ 0, got {weight}"
        )
    return float(weight)


def mixture_planner(
    mixture: Mixture,
    seq_len: int,
    options: Mapping[str, Any] | None = None,
    *,
    verify: bool = True,
) -> _core.Mixture:
    """Opens every source (a missing or corrupt one raises naming it) and plans the
    mixture with a loader's packing ``options`` (the keyword options of
    :func:`~seqpack.plan.epoch_planner`; ``long_docs`` may be ``None``). A source may set
    its own ``algorithm`` and ``long_docs``; without either, a source's ``long_docs`` is
    :func:`default_long_docs` of it."""
    options = dict(options or {})
    planners = []
    tokenizers = []
    for source in mixture.sources:
        try:
            dataset = Dataset(source.path, verify=verify)
        except SeqpackError as error:
            raise type(error)(f"mixture source {source.label!r}: {error}") from error
        tokenizers.append(dataset._core.tokenizer_fingerprint)
        own = {
            "algorithm": source.algorithm or options.get("algorithm", "obfd"),
            "long_docs": source.long_docs or options.get("long_docs") or default_long_docs(dataset),
        }
        planners.append(epoch_planner(dataset, seq_len, **(options | own)))
    return _core.Mixture(
        planners,
        mixture.names,
        tokenizers,
        [s.max_epochs for s in mixture.sources],
        mixture.spec(),
    )

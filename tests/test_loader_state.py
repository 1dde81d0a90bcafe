"""The loaders' resumable state: one versioned layout from the core, states of the older
formats (saved before the sampler moved into the core, in ``fixtures/``) still load and
resume, bad states are refused naming the key, and the order of every epoch is a pure
function of (dataset, seed, options) for every loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import seqpack
from seqpack.errors import InvalidInputError

from .synthetic import write_dataset

torch = pytest.importorskip("torch")
from seqpack.torch import DecomposedLoader, GrowLengthSchedule, PackedLoader  # noqa: E402

FIXTURE = json.loads((Path(__file__).parent / "fixtures/loader_states_v1.json").read_text())
KEYS = ("input_ids", "labels", "position_ids", "document_ids", "cu_seqlens")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset the v1 states were saved over."""
    return write_dataset(tmp_path_factory.mktemp("state") / "in", FIXTURE["lengths"])


@pytest.fixture(scope="module")
def decomposition(data: Path) -> Path:
    options = FIXTURE["decomposed"][0]["decompose"]
    out = data.parent / "dd"
    seqpack.decompose(data, out, **options)
    return out


def as_lists(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch[k].tolist() for k in KEYS}


def packed(data: Path, options: dict[str, Any]) -> PackedLoader:
    return PackedLoader(
        data,
        options["seq_len"],
        options["batch_size"],
        shuffle=options["shuffle"],
        seed=options["seed"],
    )


@pytest.mark.parametrize(
    "saved", FIXTURE["packed"], ids=lambda s: f"shuffle={s['options']['shuffle']}"
)
def test_a_v1_packed_loader_state_loads_and_resumes_at_its_position(
    data: Path, saved: dict[str, Any]
) -> None:
    loader = packed(data, saved["options"])
    loader.load_state_dict(saved["state"])
    v1 = saved["state"]
    assert (loader.epoch, loader.consumed) == (v1["epoch"], v1["consumed_rows"])
    state = loader.state_dict()
    assert (state["version"], state["epoch"], state["consumed"]) == (2, 1, 12)
    rest = [as_lists(b) for b in loader]
    assert len(rest) == saved["batches_left_in_epoch"]
    assert loader.epoch == v1["epoch"] + 1
    if not saved["options"]["shuffle"]:
        # No random choice: the very batches that followed before.
        assert rest[: len(saved["following"])] == saved["following"]
    with pytest.raises(InvalidInputError, match="other options: seed = 7 there, 8 here"):
        packed(data, {**saved["options"], "seed": 8}).load_state_dict(v1)


def test_a_v1_decomposed_loader_state_loads_and_resumes_at_its_position(
    decomposition: Path,
) -> None:
    saved = FIXTURE["decomposed"][0]
    options = saved["options"]
    loader = DecomposedLoader(decomposition, options["tokens_per_step"], seed=9, cycles=2)
    assert len(loader) == saved["steps_per_epoch"]
    loader.load_state_dict(saved["state"])
    assert (loader.epoch, loader.step) == (0, 5)
    assert loader.state_dict()["consumed"] == 5
    rest = list(loader)
    assert len(rest) == saved["batches_left_in_epoch"]
    assert all(b["input_ids"].numel() == options["tokens_per_step"] for b in rest)
    with pytest.raises(InvalidInputError, match="cycles = 2 there, 3 here"):
        DecomposedLoader(decomposition, 1024, seed=9, cycles=3).load_state_dict(saved["state"])


def bad_states(state: dict[str, Any], position: str) -> list[tuple[Any, str]]:
    return [
        ([state], "state must be a mapping"),
        (None, "state must be a mapping"),
        ({**state, "version": 7}, "key 'version' = 7 is unknown"),
        ({**state, "epoch": 1.5}, "key 'epoch' must be a non-negative integer, got 1.5"),
        ({**state, "epoch": "1"}, "key 'epoch' must be a non-negative integer"),
        ({**state, "epoch": True}, "key 'epoch' must be a non-negative integer"),
        ({k: v for k, v in state.items() if k != "epoch"}, "key 'epoch' is missing"),
        (
            {**state, "consumed": 10**6},
            f"key 'consumed' = 1000000 is beyond epoch 0, which has {position}",
        ),
        ({**state, "options": 3}, "key 'options' must be a mapping"),
        ({**state, "loader": "other"}, "key 'loader' must be"),
    ]


def test_bad_packed_loader_states_name_the_key(data: Path) -> None:
    loader = PackedLoader(data, 64, 4)
    rows = loader.stats()["rows"]
    state = loader.state_dict()
    for bad, message in bad_states(state, f"{rows} rows"):
        with pytest.raises(InvalidInputError, match=message):
            loader.load_state_dict(bad)
    v1 = FIXTURE["packed"][0]["state"]
    with pytest.raises(InvalidInputError, match="key 'consumed_rows' = 999 is beyond epoch 1"):
        packed(data, FIXTURE["packed"][0]["options"]).load_state_dict({**v1, "consumed_rows": 999})
    assert (loader.epoch, loader.consumed) == (0, 0), "a refused state leaves the loader as it was"


def test_bad_decomposed_loader_states_name_the_key(decomposition: Path) -> None:
    loader = DecomposedLoader(decomposition, 1024, seed=9, cycles=2)
    for bad, message in bad_states(loader.state_dict(), f"{len(loader)} steps"):
        with pytest.raises(InvalidInputError, match=message):
            loader.load_state_dict(bad)
    with pytest.raises(InvalidInputError, match="not of a decomposed one"):
        loader.load_state_dict(PackedLoader(decomposition / "D06", 64, 4).state_dict())


def epochs(loader: Any, n: int) -> list[torch.Tensor]:
    return [b["input_ids"] for _ in range(n) for b in loader]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b, strict=False)
    )


def test_every_loader_is_a_pure_function_of_dataset_seed_and_options(
    data: Path, decomposition: Path
) -> None:
    makers = {
        "packed": lambda seed: PackedLoader(data, 64, 4, seed=seed),
        "packed nf": lambda seed: PackedLoader(data, 64, 4, seed=seed, algorithm="nf"),
        "decomposed": lambda seed: DecomposedLoader(decomposition, 1024, seed=seed, cycles=2),
    }
    for name, make in makers.items():
        first = epochs(make(3), 3)
        assert same(first, epochs(make(3), 3)), name
        assert not same(first, epochs(make(4), 3)), name
        per_epoch = len(first) // 3
        assert not same(first[:per_epoch], first[per_epoch : 2 * per_epoch]), name
    schedule = GrowLengthSchedule([(64, 20 * 1024), (256, 10 * 1024)], 1024)

    def grow(seed: int) -> list[torch.Tensor]:
        return [b["input_ids"] for _, b in schedule.batches(data, seed=seed)]

    run = grow(3)
    assert len(run) == 30 and same(run, grow(3)) and not same(run, grow(4))


def test_integer_options_are_read_once_in_the_core_naming_the_parameter(
    data: Path, decomposition: Path
) -> None:
    import numpy as np

    same_seed = [PackedLoader(data, 64, 4, seed=s).state_dict() for s in (3, np.int64(3))]
    assert same_seed[0] == same_seed[1]
    for kwargs, message in [
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"pad_id": 1.0}, "pad_id must be a non-negative integer, got 1.0"),
        ({"max_docs_per_pack": 0}, "max_docs_per_pack must be a positive integer, got 0"),
        ({"rank": 0, "world_size": 0}, "world_size must be a positive integer, got 0"),
    ]:
        args = {"seq_len": 64, "batch_size": 4, **kwargs}
        with pytest.raises(InvalidInputError, match=message):
            PackedLoader(data, **args)
    with pytest.raises(InvalidInputError, match="seed must be a non-negative integer"):
        DecomposedLoader(decomposition, 1024, seed=-2)

"""The GPU benchmark's script, run in its CPU smoke mode so that it never rots: every way
trains (or, for FlexAttention, which has no CPU backward, runs forward), writes its table,
and the isolation check passes while its contaminated control is flagged."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

SCRIPT = Path(__file__).resolve().parents[1] / "benches" / "bench_gpu.py"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("gpu-out")
    work = tmp_path_factory.mktemp("gpu-work")
    argv = ["--device", "cpu", "--smoke", "--out", str(out), "--work", str(work)]
    return module.main(argv), out


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_every_cpu_way_runs_and_is_written(smoke: tuple[dict[str, Any], Path]) -> None:
    results, out = smoke
    ways = {r["way"]: r for r in results["ways"]}
    assert set(ways) == {"padded", "packed-sdpa", "packed-flex", "packed-varlen"}
    written = json.loads((out / "gpu-smoke.json").read_text())["ways"]
    assert written == json.loads(json.dumps(results["ways"]))
    table = (out / "gpu-smoke.md").read_text()
    assert all(f"| {way} |" in table for way in ways)
    for row in results["ways"]:
        if row["trained"]:
            assert row["real_tokens"] >= results["setup"]["budget_tokens"]
            curve = row["eval_curve"]
            assert all(math.isfinite(loss) for _, loss in curve)
            assert curve[-1][1] < curve[0][1], f"{row['way']}: evaluation loss did not fall"
    assert not ways["packed-flex"]["trained"]


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_packed_rows_carry_more_real_tokens_than_padded(smoke: tuple[dict[str, Any], Path]) -> None:
    ways = {r["way"]: r for r in smoke[0]["ways"]}
    # The same token budget needs fewer steps when rows are packed.
    assert ways["packed-sdpa"]["steps"] < ways["padded"]["steps"]
    # Packed through sdpa and through the varlen function is the same computation.
    varlen, sdpa = ways["packed-varlen"]["eval_curve"], ways["packed-sdpa"]["eval_curve"]
    assert [tokens for tokens, _ in varlen] == [tokens for tokens, _ in sdpa]
    assert [loss for _, loss in varlen] == pytest.approx([loss for _, loss in sdpa], rel=1e-4)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_isolation_holds_and_its_control_bites(smoke: tuple[dict[str, Any], Path]) -> None:
    for row in smoke[0]["ways"]:
        if row["way"] == "padded":
            continue
        check = row["isolation"]
        assert check["documents"] > 2
        assert check["max_rel_diff"] <= check["tolerance"], row["way"]
        assert check["control_rel_diff"] > 10 * check["tolerance"], row["way"]
        assert check["isolated"]

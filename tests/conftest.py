from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder that sits beside the checkout (CI lays it there too)."""
    assert SHARED.is_dir(), f"{SHARED} is missing: the shared data must sit beside the checkout"
    return SHARED


def read_histogram(path: Path) -> npt.NDArray[np.int64]:
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64)
    return np.repeat(data[:, 0], data[:, 1])


@pytest.fixture(scope="session")
def corpora(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small real corpora (Python standard library, text2sql) as JSONL, made offline."""
    out = tmp_path_factory.mktemp("corpora")
    subprocess.run(
        ["bash", str(shared_dir / "corpora/make-corpora"), str(out)],
        check=True,
        env={**os.environ, "SKIP_LINUX": "1", "PYTHON": sys.executable},
        capture_output=True,
    )
    return out

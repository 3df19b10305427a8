"""Shared fixtures. Real data nobody here wrote lives in ../shared/data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MAVP_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA} (set MAVP_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mepave_sample_dir(shared_data: Path) -> Path:
    return shared_data / "mepave-sample"


@pytest.fixture(scope="session")
def imat_label_map(shared_data: Path) -> Path:
    return shared_data / "imat" / "iMat_fashion_2018_label_map_228.csv"

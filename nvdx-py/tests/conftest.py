"""Shared paths for the nvdx Python tests.

Run from the repository root (`python -m pytest nvdx-py/tests`); the fixtures are the
repository's `fixtures/` (override with NVDX_FIXTURES) and the benchmark clips are in
$NVDX_MEDIA_DIR.
"""

import ctypes
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(os.environ.get("NVDX_FIXTURES", ROOT / "fixtures"))


def have_driver() -> bool:
    try:
        ctypes.CDLL(os.environ.get("NVDX_LIBCUDA_PATH", "libcuda.so.1"))
        return True
    except OSError:
        return False


@pytest.fixture
def fixtures() -> pathlib.Path:
    return FIXTURES

"""Shared fixtures: the bundled data, and system tools that skip locally but fail in CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reports.model import Model
from reports.sources import read_sources
from reports.validate import DataSet, validate

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_SOURCES = ROOT / "sources"


def require_tool(name: str) -> str:
    """Path of a system tool; skips with a clear message locally, fails when CI is set."""
    path = shutil.which(name)
    if path:
        return path
    message = (f"{name} is not installed (Debian: apt-get install poppler-utils qpdf "
               "libreoffice-calc-nogui); .ci/run installs it")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def bundled_dataset() -> DataSet:
    data, problems = validate(read_sources(BUNDLED_SOURCES))
    assert data is not None, [str(p) for p in problems]
    return data


@pytest.fixture(scope="session")
def bundled_model(bundled_dataset: DataSet) -> Model:
    return Model(bundled_dataset)

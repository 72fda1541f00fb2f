"""scripts/run-reports and scripts/test install exactly the locked versions."""

from __future__ import annotations

import re
from importlib import metadata

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.M)


def pins(lock: str) -> dict[str, str]:
    return {name.lower(): version
            for name, version in PIN.findall((ROOT / lock).read_text(encoding="utf-8"))}


def test_the_environment_holds_exactly_the_locked_versions() -> None:
    locked = pins("requirements-test.txt")
    assert {"pandas", "openpyxl", "reportlab", "pytest"} <= set(locked)
    for name, version in locked.items():
        assert metadata.version(name) == version, name


def test_the_job_lock_and_the_test_lock_agree() -> None:
    job, test = pins("requirements.txt"), pins("requirements-test.txt")
    assert job and set(job) <= set(test)
    assert {name: test[name] for name in job} == job
    # every file of the lock is pinned by hash: pip refuses anything else
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]

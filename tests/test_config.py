"""Every bad configuration value is a ConfigError (exit 2) naming the key, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reports.config import load_settings
from reports.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEEP = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"

BAD = [
    # (name, TOML text, what the message must name)
    ("deeply_nested_array", DEEP, "nested too deeply"),
    ("deeply_nested_inline_table", "a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n",
     "nested too deeply"),
]


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "agreement-reports.toml"
    config.write_text(text, encoding="utf-8")
    return config


@pytest.mark.parametrize(("text", "names"), [(t, n) for _, t, n in BAD],
                         ids=[name for name, _, _ in BAD])
def test_a_bad_value_is_a_configuration_error_naming_the_key(tmp_path: Path, text: str,
                                                              names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert names in str(caught.value)
    assert "\n" not in str(caught.value)


def validate_cli(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "reports", "validate", "--config", str(config)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                          check=False)


@pytest.mark.parametrize(("text", "names"), [
    (DEEP, "not valid TOML (nested too deeply)"),
], ids=["deeply_nested_array"])
def test_the_cli_exits_2_with_one_line_naming_the_key(tmp_path: Path, text: str,
                                                       names: str) -> None:
    result = validate_cli(write(tmp_path, text))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and names in line

"""The docs live in the project and say what the code does."""

from __future__ import annotations

import re

from reports.cli import cli_reference, main
from tests.conftest import ROOT


def test_the_cli_reference_is_what_help_prints() -> None:
    # out of date: run scripts/make-cli-docs
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == cli_reference()


def test_every_command_has_help() -> None:
    for name, command in main.commands.items():
        assert command.help and len(command.help) > 20, name
        for option in command.params:
            if option.name not in ("help",):
                assert getattr(option, "help", None), (name, option.name)


def test_the_readme_links_only_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme
    for target in re.findall(r"`(docs/[^`]+)`", readme):
        assert (ROOT / target).exists(), target


def test_every_problem_code_is_documented_with_an_example() -> None:
    from reports.problems import CODES

    docs = (ROOT / "docs" / "data-format.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", docs, re.M))
    assert documented == set(CODES)
    # and the code uses no code that is not in the list
    used = set()
    for path in (ROOT / "reports").rglob("*.py"):
        used |= {c for c in re.findall(r'"([a-z]+(?:-[a-z0-9]+)+)"', path.read_text())
                 if c in CODES or c.startswith(("invalid-", "missing-", "unknown-"))}
    assert used <= set(CODES), used - set(CODES)

"""One small tree of exceptions; each maps to one exit status of the CLI."""

from __future__ import annotations

import datetime


class ReportsError(Exception):
    """Base of every error the job reports to a person in one line."""

    exit_status = 3


class ConfigError(ReportsError):
    """The configuration file or a command-line option is invalid."""

    exit_status = 2


class InvalidData(ReportsError):
    """The curated data has at least one error; the problems are attached."""

    exit_status = 1

    def __init__(self, problems: list) -> None:  # list[Problem]
        self.problems = problems
        n = sum(1 for p in problems if p.is_error)
        super().__init__(f"the data has {n} error{'s' if n != 1 else ''}; nothing was written")


class RunLocked(ReportsError):
    """Another run holds the lock on the output folder (`pid` and `since` when known)."""

    exit_status = 75

    def __init__(self, message: str, *, pid: int | None = None,
                 since: datetime.datetime | None = None) -> None:
        super().__init__(message)
        self.pid = pid
        self.since = since


class PublishError(ReportsError):
    """A run could not be written or published; the previous run is untouched."""

    exit_status = 4


class DeliveryError(ReportsError):
    """Briefings could not be delivered."""

    exit_status = 5

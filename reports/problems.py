"""Problems in curated data are values, not exceptions: collected, sorted, printed."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong (error) or worth a look (warning), with where it is."""

    severity: str
    file: str
    row: int | None
    column: str | None
    message: str
    expected: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:{self.row}"
        text = f"{where}: "
        if self.column:
            text += f"column '{self.column}': "
        text += self.message
        if self.expected:
            text += f"; expected {self.expected}"
        if not self.is_error:
            text = f"{text} (warning)"
        return text

    def sort_key(self) -> tuple:
        return (0 if self.is_error else 1, self.file, self.row or 0, self.column or "",
                self.message)


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Errors first, then warnings; each sorted by file and row."""
    return sorted(set(problems), key=Problem.sort_key)


def count_line(problems: list[Problem]) -> str:
    errors = sum(1 for p in problems if p.is_error)
    warnings = len(problems) - errors
    return (f"{errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}")

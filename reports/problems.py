"""Problems in curated data are values, not exceptions: collected, sorted, printed."""

from __future__ import annotations

import re
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"

# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: each could
# end or rewrite a printed line; lone surrogates (undecodable bytes of a file name) could
# not be written to a UTF-8 stream at all
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """`text` as one printable line: newlines, tabs and other control characters escaped
    as \\n, \\r, \\t, \\xNN or \\uNNNN (a file name may hold any of them)."""
    return _CONTROL_RE.sub(_escape, text)


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
        return one_line(text)

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

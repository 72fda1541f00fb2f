"""Problems in curated data are values, not exceptions: collected, sorted, printed."""

from __future__ import annotations

import re
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"

# Every problem's stable code, with what it means: docs/data-format.md lists them with
# an example each (a test keeps the two in step). Tools match on codes, not wording.
CODES = {
    # reading the files
    "not-a-data-set": "the sources path is neither a folder of CSV files nor an .xlsx file",
    "missing-file": "one of the six tables (or the contacts file) is missing",
    "bad-encoding": "a file is not UTF-8 (or UTF-16 with a byte-order mark)",
    "not-csv": "a file cannot be read as CSV",
    "cell-too-large": "a cell holds more than the 1,048,576 characters a cell may hold",
    "missing-header": "row 1 holds no column names",
    "unnamed-column": "a header cell is empty",
    "duplicate-column": "a column name appears twice in the header",
    "extra-cells": "a row has more cells than the header",
    "not-xlsx": "the file is not an .xlsx workbook",
    "unreadable-workbook": "the workbook cannot be read",
    "missing-sheet": "the workbook lacks one of the six sheets",
    "unreadable-sheet": "a sheet cannot be read",
    "workbook-too-large": "the workbook unpacks to more than the limit (a zip bomb?)",
    "workbook-too-compressed": "a part of the workbook is compressed suspiciously well",
    "workbook-with-entities": "the workbook declares a DTD or XML entities",
    # columns and values
    "missing-column": "a required column is missing",
    "empty-value": "a required cell is empty",
    "invalid-id": "an identifier has characters other than a-z, 0-9 and '-'",
    "invalid-id-list": "a list of identifiers is malformed",
    "not-allowed": "a value is not one of the column's allowed values",
    "invalid-date": "a date is not a real date in the expected form",
    "invalid-year": "a year is not four digits",
    "invalid-number": "a value is not a number",
    "invalid-url": "a web address does not start with http:// or https://",
    "invalid-country": "a country is not an ISO 3166-1 alpha-2 code",
    "duplicate-id": "an identifier is used twice in its table",
    "unknown-reference": "an identifier refers to nothing in the table it names",
    "parent-cycle": "parent_id leads back to the row itself",
    "missing-top-level-theme": "green-economy, smes or digitalization is not a top-level theme",
    "agreement-without-party": "an agreement has no row in participation",
    "duplicate-participation": "a party takes the same role in an agreement twice",
    # warnings: the run goes on
    "text-trimmed": "spaces around a cell were removed",
    "characters-removed": "characters a workbook cannot hold were removed",
    "text-normalised": "text was normalised to Unicode NFC",
    "party-takes-part-in-nothing": "a party takes part in no agreement",
    "inferred-participation": "a participation is inferred, not stated by the source",
    "unused-theme": "no agreement is under a theme",
    "likely-duplicate-party": "two parties look like the same party",
    "dated-after-sources": "an agreement is dated after every date of its sources",
    "unprintable-characters": "the briefings' font has no glyph for some characters",
    "text-cut": "a text longer than an Excel cell holds was cut in the workbook",
    "previous-run-unreadable": "the last published run cannot be read; changes not computed",
    # the contacts file of [delivery.contacts]
    "unknown-party": "a contact's party_id is not a party of the data",
    "invalid-email": "a contact's address is not an e-mail address",
    "invalid-subscription": "a contact's 'also' holds something that is not a subscription",
}

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
    code: str = ""  # stable, lower-case, hyphenated: what tools and tests match on

    def as_json(self) -> dict:
        """The problem as `validate --format json` prints it."""
        message = self.message + (f"; expected {self.expected}" if self.expected else "")
        return {"file": self.file, "row": self.row, "column": self.column, "code": self.code,
                "severity": self.severity, "message": message}

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

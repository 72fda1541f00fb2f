"""Data-driven delivery: a CSV of the people who receive each party's briefing.

    party_id,email,also
    ministry-of-economy,focal.point@economy.example,overview
    kobia,sme.desk@kobia.example,theme:smes;overview

Each row's address receives the briefing of its party (ministry, company or party
scope, with everything rolled up below it) plus the row's `also` and the
configuration's `[delivery.contacts] also`. The file is checked like the sources:
every problem at once, one line each, with its row and column; any problem is a
configuration error (exit 2) before anything is written or sent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass

from .config import EMAIL_RE, ContactsSettings, subscription_problem
from .errors import ConfigError
from .problems import ERROR, Problem, count_line, sort_problems

REQUIRED = ("party_id", "email")


@dataclass(frozen=True)
class Contact:
    party_id: str
    email: str
    also: tuple[str, ...]  # the row's own subscriptions, besides its party's briefing


class ContactsInvalid(ConfigError):
    """The contacts file has problems; they are attached, one per line when printed."""

    def __init__(self, problems: list[Problem], name: str) -> None:
        self.problems = sort_problems(problems)
        super().__init__(f"the contacts file {name} has {count_line(self.problems)}; nothing "
                         "was written or sent")


def read_contacts(settings: ContactsSettings, parties: Collection[str]) -> list[Contact]:
    """Every contact of the file, checked against the parties of the data."""
    path = settings.file
    name = path.name
    problems: list[Problem] = []

    def problem(code: str, row: int | None, column: str | None, message: str,
                expected: str | None = None) -> None:
        problems.append(Problem(ERROR, name, row, column, message, expected, code))

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ContactsInvalid([Problem(ERROR, name, None, None, f"file is missing ({path})",
                                       "the file named in [delivery.contacts] file",
                                       "missing-file")],
                              name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactsInvalid([Problem(ERROR, name, None, None, f"cannot be read ({exc})",
                                       "a UTF-8 CSV file", "bad-encoding")], name) from None
    # quoted cells may hold line breaks; a line break is only \n, \r\n or \r (never a
    # U+2028 inside a cell, which splitlines() would break on); contact cells are short,
    # so csv's own field limit stands, and a file csv cannot read is one line
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ContactsInvalid([Problem(ERROR, name, reader.line_num or None, None,
                                       f"the file cannot be read as CSV ({exc})",
                                       "comma-separated values with double-quoted cells",
                                       "not-csv")], name) from None
    header = [h.strip() for h in rows[0]] if rows else []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        for column in missing:
            problem("missing-column", 1 if rows else None, column, "column is missing",
                    "a header row with party_id, email and optionally also")
        raise ContactsInvalid(problems, name)
    at = {column: header.index(column) for column in (*REQUIRED, "also") if column in header}
    contacts: list[Contact] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line

        def cell(column: str, row: list[str] = row) -> str:
            index = at.get(column)
            return row[index].strip() if index is not None and index < len(row) else ""

        party_id, email = cell("party_id"), cell("email")
        also = tuple(s.strip() for s in cell("also").split(";") if s.strip())
        ok = True
        if party_id not in parties:
            problem("unknown-party" if party_id else "empty-value", number, "party_id",
                    f"{party_id!r} is not a party of the data" if party_id
                    else "is empty", "a party_id of parties.csv")
            ok = False
        if not EMAIL_RE.match(email):
            problem("invalid-email" if email else "empty-value", number, "email",
                    f"{email!r} is not an e-mail address" if email
                    else "is empty", "an address such as focal.point@example.org")
            ok = False
        for subscription in also:
            why = subscription_problem(subscription)
            if why:
                problem("invalid-subscription", number, "also", why,
                        "subscriptions separated by ';', such as overview;theme:smes;country:az")
                ok = False
        if ok:
            contacts.append(Contact(party_id, email, also))
    if problems:
        raise ContactsInvalid(problems, name)
    return contacts

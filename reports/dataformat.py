"""Curated data format v1: the six tables, their columns and allowed values.

The contract with curators is ../docs/curated-data-format.md (copied in the README);
this module is its single machine-readable statement.
"""

from __future__ import annotations

from dataclasses import dataclass

AGREEMENT_KINDS = (
    "agreement", "memorandum", "charter", "declaration", "joint_venture", "contract",
    "discussion", "other",
)
STATUSES = ("signed", "open", "in_progress", "completed", "stalled", "cancelled")
PARTY_KINDS = (
    "ministry", "agency", "company", "state_company", "international_organization",
    "government", "ngo", "other",
)
ROLES = (
    "signatory", "initiator", "partner", "technology_provider", "joint_venture", "beneficiary",
    "other",
)
CERTAINTIES = ("stated", "inferred")
COMPANY_KINDS = ("company", "state_company")

# column kinds understood by the validator
ID, TEXT, ENUM, IDLIST, PARTIAL_DATE, DATE, YEAR, NUMBER, URL, COUNTRY, REF = (
    "id", "text", "enum", "idlist", "partial_date", "date", "year", "number", "url",
    "country", "ref",
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False
    allowed: tuple[str, ...] = ()
    default: str = ""
    refers_to: str = ""  # table whose id this column names (ref / idlist)


@dataclass(frozen=True)
class Table:
    name: str
    key: str  # the id column, or "" when the table has no single key
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


TABLES: tuple[Table, ...] = (
    Table("agreements", "agreement_id", (
        Column("agreement_id", ID, True),
        Column("title", TEXT, True),
        Column("kind", ENUM, True, AGREEMENT_KINDS),
        Column("signed_on", PARTIAL_DATE),
        Column("event", TEXT),
        Column("location", TEXT),
        Column("status", ENUM, False, STATUSES, default="signed"),
        Column("themes", IDLIST, True, refers_to="themes"),
        Column("summary", TEXT),
        Column("source_ids", IDLIST, True, refers_to="sources"),
    )),
    Table("parties", "party_id", (
        Column("party_id", ID, True),
        Column("name", TEXT, True),
        Column("short_name", TEXT),
        Column("kind", ENUM, True, PARTY_KINDS),
        Column("country", COUNTRY),
        Column("parent_id", REF, refers_to="parties"),
        Column("aliases", TEXT),
    )),
    Table("participation", "", (
        Column("agreement_id", REF, True, refers_to="agreements"),
        Column("party_id", REF, True, refers_to="parties"),
        Column("role", ENUM, True, ROLES),
        Column("certainty", ENUM, False, CERTAINTIES, default="stated"),
        Column("note", TEXT),
    )),
    Table("themes", "theme_id", (
        Column("theme_id", ID, True),
        Column("name", TEXT, True),
        Column("parent_id", REF, refers_to="themes"),
        Column("description", TEXT),
    )),
    Table("targets", "", (
        Column("agreement_id", REF, True, refers_to="agreements"),
        Column("description", TEXT, True),
        Column("metric", TEXT),
        Column("value", NUMBER),
        Column("unit", TEXT),
        Column("target_year", YEAR),
    )),
    Table("sources", "source_id", (
        Column("source_id", ID, True),
        Column("publisher", TEXT, True),
        Column("title", TEXT),
        Column("url", URL),
        Column("published_on", DATE),
        Column("accessed_on", DATE),
    )),
)
TABLES_BY_NAME = {t.name: t for t in TABLES}
REQUIRED_TOP_THEMES = ("green-economy", "smes", "digitalization")

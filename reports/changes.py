"""What differs between this run's data and the last published run's.

Each run stores a snapshot of its validated data (`data/snapshot.json` in the
run folder); the next run compares against it field by field.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .validate import DataSet

if TYPE_CHECKING:
    from .briefings import Plan
    from .model import Model

MAX_CHANGE_LINES = 40  # per briefing; the workbook's Changes table has them all
SNAPSHOT_PATH = "data/snapshot.json.gz"  # gzip: about a tenth of the JSON at scale
# how rows are identified per table, and their label in change lines
KEYS: dict[str, tuple[str, ...]] = {
    "agreements": ("agreement_id",),
    "parties": ("party_id",),
    "participation": ("agreement_id", "party_id", "role"),
    "themes": ("theme_id",),
    "targets": ("agreement_id", "description"),
    "sources": ("source_id",),
}
SINGULAR = {"agreements": "agreement", "parties": "party", "participation": "participation",
            "themes": "theme", "targets": "target", "sources": "source"}


@dataclass(frozen=True)
class Change:
    change: str  # added | removed | changed
    table: str
    id: str
    field: str
    before: str
    after: str
    agreements: tuple[str, ...]  # agreement ids the change concerns
    parties: tuple[str, ...]  # party ids the change concerns
    line: str  # one plain sentence for readers


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, tuple | list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def snapshot(data: DataSet) -> dict[str, dict[str, dict[str, str]]]:
    """The data as {table: {row key: {column: text}}}, ready to store as JSON."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for table, key in KEYS.items():
        frame = data.table(table)
        columns = [c for c in frame.columns if c != "_row"]
        # a column at a time: plain text as it is (most cells), others through _text
        texts = [[v if v.__class__ is str else _text(v) for v in frame[c].tolist()]
                 for c in columns]
        rows: dict[str, dict[str, str]] = {}
        at = [columns.index(k) for k in key]
        for record in zip(*texts, strict=True):
            values = dict(zip(columns, record, strict=True))
            row_key = "/".join(record[i] for i in at)
            if row_key in rows:  # targets have no id: a repeated one keeps its own row
                n = 2
                while f"{row_key}#{n}" in rows:
                    n += 1
                row_key = f"{row_key}#{n}"
            rows[row_key] = values
        out[table] = rows
    return out


SNAPSHOT_CHUNK = 5_000  # rows encoded at a time


def write_snapshot(snap: dict, folder: Path) -> Path:
    """Store the snapshot as gzipped JSON: the text json.dump(snap, sort_keys=True) writes.

    Encoded a chunk of rows at a time with json.dumps, whose C encoder is several times
    faster than the pure-Python one json.dump streams with, while never holding more
    than a chunk's text in memory. Fast compression: it is read once, by the next run.
    """
    path = folder / SNAPSHOT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)

    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    # mtime=0 keeps the file identical for identical data
    with (path.open("wb") as raw,
          gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1) as packed,
          io.TextIOWrapper(packed, encoding="utf-8", write_through=False) as text):
        text.write("{")
        for n, table in enumerate(sorted(snap)):
            rows = snap[table]
            text.write(f"{', ' if n else ''}{dumps(table)}: ")
            if not isinstance(rows, dict) or not rows:
                text.write(dumps(rows))
                continue
            keys = sorted(rows)
            text.write("{")
            for start in range(0, len(keys), SNAPSHOT_CHUNK):
                chunk = {k: rows[k] for k in keys[start:start + SNAPSHOT_CHUNK]}
                text.write((", " if start else "") + dumps(chunk)[1:-1])
            text.write("}")
        text.write("}")
    return path


class UnreadableSnapshot(Exception):
    """The previous run's snapshot is missing, damaged or not of the shape this job writes."""


def read_snapshot(run_folder: Path) -> dict:
    """The snapshot a run stored; raises UnreadableSnapshot (with the reason) when it cannot
    be trusted, so that changes are never computed against a damaged run."""
    path = run_folder / SNAPSHOT_PATH
    try:
        with gzip.open(path, "rb") as handle:
            snap = json.load(handle)
    except FileNotFoundError:
        raise UnreadableSnapshot(f"{path} is missing") from None
    except (OSError, ValueError, EOFError) as exc:
        raise UnreadableSnapshot(f"{path} is damaged ({exc})") from None
    if not isinstance(snap, dict) or set(snap) != set(KEYS):
        raise UnreadableSnapshot(f"{path} does not hold the tables "
                                 f"{', '.join(sorted(KEYS))}")
    for table, key in KEYS.items():
        rows = snap[table]
        if not isinstance(rows, dict) or not all(
                isinstance(row, dict) and all(isinstance(row.get(k), str) for k in key)
                and all(isinstance(v, str) for v in row.values()) for row in rows.values()):
            raise UnreadableSnapshot(f"{path}: the {table} table is not of the shape this "
                                     "job writes")
    return snap


def _name(snap: dict, table: str, key: str, fallback: dict) -> str:
    row = snap.get(table, {}).get(key) or fallback.get(table, {}).get(key) or {}
    return row.get("title") or row.get("name") or row.get("description") or key


def diff(before: dict, after: dict) -> list[Change]:
    """Every added, removed and changed row, field by field, in a stable order."""
    changes: list[Change] = []
    for table in KEYS:
        old, new = before.get(table, {}), after.get(table, {})
        for key in sorted(old.keys() | new.keys()):
            o, n = old.get(key), new.get(key)
            if o == n:  # most rows: nothing to say, nothing to label
                continue
            row = n or o or {}
            agreements = tuple(filter(None, [row.get("agreement_id", "")]))
            parties = tuple(filter(None, [row.get("party_id", "")]))
            what = SINGULAR[table]
            label = _label(table, row, before, after)
            if o is None:
                changes.append(Change("added", table, key, "", "", "", agreements, parties,
                                      f"Added {what}: {label}."))
            elif n is None:
                changes.append(Change("removed", table, key, "", "", "", agreements, parties,
                                      f"Removed {what}: {label}."))
            else:
                for column in sorted(o.keys() | n.keys()):
                    b, a = o.get(column, ""), n.get(column, "")
                    if b != a:
                        changes.append(Change(
                            "changed", table, key, column, b, a, agreements, parties,
                            f"{what.capitalize()} {label}: {FIELD_LABELS.get(column, column)} "
                            f"{_quote(b, column)} \u2192 {_quote(a, column)}."))
    return changes


# each field as readers call it, in change lines ("date signed “2024-11” → “2024-11-20”")
FIELD_LABELS = {
    "signed_on": "date signed", "source_ids": "sources", "short_name": "short name",
    "parent_id": "parent", "party_id": "party", "agreement_id": "agreement",
    "theme_id": "theme", "target_year": "target year", "published_on": "publication date",
    "accessed_on": "access date", "url": "web address",
}
_CODED = {"status", "kind", "role", "certainty"}  # values that are codes: in words


def _quote(value: str, column: str = "") -> str:
    if not value:
        return "(empty)"
    if column in _CODED:
        value = value.replace("_", " ")
    text = value if len(value) <= 80 else value[:77] + "…"
    return f"\u201c{text}\u201d"


def importance(change: Change) -> int:
    """Which changes a reader needs first: status, then targets, agreements added or
    removed, parties and who takes part, then the rest."""
    if change.table == "agreements" and change.field == "status":
        return 0
    if change.table == "targets":
        return 1
    if change.table == "agreements" and change.change in ("added", "removed"):
        return 2
    if change.table in ("parties", "participation"):
        return 3
    return 4


def _label(table: str, row: dict, before: dict, after: dict) -> str:
    if table == "participation":
        party = _name(after, "parties", row.get("party_id", ""), before)
        agreement = _name(after, "agreements", row.get("agreement_id", ""), before)
        return f"{party} as {row.get('role', '')} in \u201c{agreement}\u201d"
    if table == "targets":
        agreement = _name(after, "agreements", row.get("agreement_id", ""), before)
        return f"\u201c{row.get('description', '')}\u201d in \u201c{agreement}\u201d"
    name = row.get("title") or row.get("name") or row.get("publisher") or ""
    return f"\u201c{name}\u201d"


def participants(snap: dict) -> dict[str, set[str]]:
    """agreement_id -> party ids taking part, from a snapshot."""
    out: dict[str, set[str]] = {}
    for row in snap.get("participation", {}).values():
        out.setdefault(row["agreement_id"], set()).add(row["party_id"])
    return out


def changes_frame(changes: list[Change]):  # -> pandas.DataFrame
    import pandas as pd

    return pd.DataFrame([(c.change, c.table, c.id, c.field, c.before, c.after) for c in changes],
                        columns=["change", "table", "id", "field", "before", "after"])


@dataclass
class Then:
    """What the briefings need to know of the last run's data once the changes are known:
    a few look-ups instead of the whole snapshot (which is dropped after the diff)."""

    parties_of: dict[str, set[str]]  # agreement -> parties taking part
    themes_of: dict[str, list[str]]  # agreement -> theme ids as curated
    party_country: dict[str, str]
    party_parent: dict[str, str]
    sources_of: dict[str, set[str]]  # agreement -> source ids it cites

    @classmethod
    def of(cls, before: dict) -> Then:
        agreements = before.get("agreements", {})
        parties = before.get("parties", {})
        return cls(
            participants(before),
            {aid: [t.strip() for t in row.get("themes", "").split(";")]
             for aid, row in agreements.items()},
            {pid: row.get("country", "") for pid, row in parties.items()},
            {pid: row.get("parent_id", "") for pid, row in parties.items()},
            {aid: {s.strip() for s in row.get("source_ids", "").split(";")}
             for aid, row in agreements.items()})


def change_lines(model: Model, plans: list[Plan], changes: list[Change],
                 then: Then) -> dict[str, tuple[str, ...]]:
    """Each briefing's (by name) 'since the last briefing' lines: the changes that concern it.

    The overview gets every change; a party's briefing those about the party, a
    party below it, or an agreement it covers now or covered in the last run; a
    country's those about a party of the country now or then, or an agreement it
    covers now or then; a theme's those about an agreement under it now or then, or
    about its themes.
    """
    return {plan.name: _lines(relevant) for plan, relevant in
            zip(plans, _relevant_changes(model, plans, changes, then), strict=True)}


def _relevant_changes(model: Model, plans: list[Plan], changes: list[Change],
                     then: Then) -> list[list[Change]]:
    """The changes that concern each briefing planned (see change_lines), in its order."""
    # previous run: agreement -> its parties, theme -> agreements under it (built once)
    old_parties = then.parties_of
    old_by_theme: dict[str, set[str]] = {}
    for aid, themes in then.themes_of.items():
        for tid in themes:
            for ancestor in model.theme_ancestors.get(tid, ()):
                old_by_theme.setdefault(ancestor, set()).add(aid)
    # a country's parties, now or in the last run (a party that moved is in both)
    countries_parties: dict[str, set[str]] = {}
    for pid, code in zip(model.parties.index, model.parties["country"], strict=True):
        countries_parties.setdefault(code, set()).add(pid)
    for pid, code in then.party_country.items():
        countries_parties.setdefault(code, set()).add(pid)
    nothing: frozenset[str] = frozenset()
    # the changes' agreements in the data now, as positions: (change, position) pairs
    index = model.agreements.index
    change_of, position = [], []
    for n, c in enumerate(changes):
        for a in c.agreements:
            if a in index:
                change_of.append(n)
                position.append(index.get_loc(a))
    changed_at, changed_positions = np.array(change_of, dtype=np.int64), np.array(position,
                                                                                  dtype=np.int64)
    out = []
    for plan in plans:
        if plan.scope == "overview" or not changes:
            out.append(changes)
            continue
        # the changes of an agreement it covers now
        now = set(changed_at[plan.covers(changed_positions)].tolist())
        if plan.scope == "theme":
            under_then = old_by_theme.get(plan.subject_id, nothing)
            theme_rows = {t for t, chain in model.theme_ancestors.items()
                          if plan.subject_id in chain}
            out.append([c for n, c in enumerate(changes)
                        if n in now or any(a in under_then for a in c.agreements)
                        or (c.table == "themes" and c.id in theme_rows)])
            continue
        members = (countries_parties.get(plan.subject_id.upper(), nothing)
                   if plan.scope == "country" else plan.members or nothing)
        # an agreement it covers now, or one a party of its own took part in then
        out.append([c for n, c in enumerate(changes) if not members.isdisjoint(c.parties)
                    or n in now or any(not members.isdisjoint(old_parties.get(a, nothing))
                                       for a in c.agreements)])
    return out


def _lines(relevant: list[Change]) -> tuple[str, ...]:
    relevant = sorted(relevant, key=importance)  # stable: the diff's order within each
    lines = [c.line for c in relevant[:MAX_CHANGE_LINES]]
    if len(relevant) > MAX_CHANGE_LINES:
        lines.append(f"… and {len(relevant) - MAX_CHANGE_LINES} more changes: see the "
                     "Changes table of the workbook.")
    return tuple(lines)

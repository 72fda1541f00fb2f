"""What differs between this run's data and the last published run's.

Each run stores a snapshot of its validated data (reports/snapshot.py); the next
run finds the rows that differ from it and says, field by field, what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .snapshot import KEYS, Compared

if TYPE_CHECKING:
    from .briefings import Plan
    from .model import Model
    from .snapshot import Snapshot

MAX_CHANGE_LINES = 40  # per briefing; the workbook's Changes table has them all
# each table's rows in change lines (rows are identified as snapshot.KEYS says)
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


Tables = Mapping[str, Mapping[str, Mapping[str, str]]]  # table -> row key -> column -> text


def _name(snap: Tables, table: str, key: str, fallback: Tables) -> str:
    row = snap.get(table, {}).get(key) or fallback.get(table, {}).get(key) or {}
    return row.get("title") or row.get("name") or row.get("description") or key


def diff(before: Tables, after: Tables, keys: Mapping[str, set[str]] | None = None
         ) -> list[Change]:
    """Every added, removed and changed row, field by field, in a stable order.

    `keys` limits it to the rows of those keys per table (snapshot.compare's: every
    other row is the same); `before` then needs to hold only those rows.
    """
    changes: list[Change] = []
    for table in KEYS:
        old, new = before.get(table, {}), after.get(table, {})
        candidates = keys[table] if keys is not None else old.keys() | new.keys()
        for key in sorted(candidates):
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


def _label(table: str, row: Mapping[str, str], before: Tables, after: Tables) -> str:
    if table == "participation":
        party = _name(after, "parties", row.get("party_id", ""), before)
        agreement = _name(after, "agreements", row.get("agreement_id", ""), before)
        return f"{party} as {row.get('role', '')} in \u201c{agreement}\u201d"
    if table == "targets":
        agreement = _name(after, "agreements", row.get("agreement_id", ""), before)
        return f"\u201c{row.get('description', '')}\u201d in \u201c{agreement}\u201d"
    name = row.get("title") or row.get("name") or row.get("publisher") or ""
    return f"\u201c{name}\u201d"


def changes_frame(changes: list[Change]):  # -> pandas.DataFrame
    import pandas as pd

    return pd.DataFrame([(c.change, c.table, c.id, c.field, c.before, c.after) for c in changes],
                        columns=["change", "table", "id", "field", "before", "after"])


class Then:
    """The last run's data, as the briefings need it once the changes are known, from
    what snapshot.compare found: a row it holds (changed or removed) as it was, a row
    added since as absent, and every other row as it is now. Agreements are looked up
    only among those a change concerns; nothing else of the last run is read.
    """

    def __init__(self, compared: Compared, snap: Snapshot) -> None:
        before, now = compared.before, snap.views()
        self.added_parties = compared.added("parties")
        concerned: set[str] = set()  # the agreements any change concerns
        for table in ("agreements", "participation", "targets"):
            for key in compared.keys[table]:
                row = before[table].get(key) or now[table][key]
                concerned.add(row["agreement_id"])
        # agreement -> parties taking part then: now, but for rows added since and with
        # the rows changed or removed since
        self.parties_of: dict[str, set[str]] = {a: set() for a in concerned}
        part = snap.tables["participation"]
        added = compared.added("participation")
        agreement_ids = part.texts[part.columns.index("agreement_id")]
        party_ids = part.texts[part.columns.index("party_id")]
        for n, aid in enumerate(agreement_ids):
            if aid in concerned and part.keys[n] not in added:
                self.parties_of[aid].add(party_ids[n])
        for row in before["participation"].values():
            self.parties_of[row["agreement_id"]].add(row["party_id"])
        # agreement -> theme ids as curated then
        added_agreements = compared.added("agreements")
        self.themes_of: dict[str, list[str]] = {}
        for aid in concerned:
            if aid in added_agreements:
                continue
            row = before["agreements"].get(aid) or now["agreements"][aid]
            self.themes_of[aid] = [t.strip() for t in row.get("themes", "").split(";")]
        # the parties whose row changed or was removed, as they were
        self.party_country = {pid: row.get("country", "")
                              for pid, row in before["parties"].items()}
        self._party_parent = {pid: row.get("parent_id", "")
                              for pid, row in before["parties"].items()}

    def parent(self, party_id: str, now: Mapping[str, str]) -> str:
        """The party's parent then, given the parents now."""
        if party_id in self._party_parent:
            return self._party_parent[party_id]
        return "" if party_id in self.added_parties else now.get(party_id, "")


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

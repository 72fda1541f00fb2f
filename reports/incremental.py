"""Which of the last run's briefings still stand, known before any briefing is built.

A routine run follows a curator's edit of a few records. Building every briefing's
content to find the few that changed costs as much as the edit is small; instead the
run plans its briefings (briefings.plan_briefings: which agreements and parties each
covers), and a briefing of the last run stands, its file reused as it is, when nothing
it shows can have changed:

- the last run published it, with the same content format, as-of date, event and
  themes (briefings.content_key), and no theme changed;
- no change concerns it now ("since the last briefing" is empty) nor did in the last run
  (it said nothing changed then either), so that its lines are the same;
- no agreement it covers and no party it counts as its own is touched by a change.

An agreement is touched by a change of its own row, its participation or its targets; by
a change of any party taking part in it now or then (a party's name, kind and country
are shown wherever it takes part) or of a source it cites now or then. A party is
touched by a change of its own row, its participation, and a party changed below it now
or then (its members, named in its briefing). Every other briefing is built and
versioned as in a full run, and rendered only when its version changed: the result is
the same files, byte for byte, as a run that builds everything (tests/test_incremental.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .briefings import Plan
    from .changes import Change, Then
    from .model import Model


def standing(plans: list[Plan], lines: dict[str, tuple[str, ...]], changes: list[Change],
             then: Then, model: Model, previous: dict | None, key: str) -> dict[str, dict]:
    """Planned briefing name -> the last run's manifest entry, for each briefing that stands."""
    if previous is None or previous.get("content_key") != key:
        return {}
    if any(c.table == "themes" for c in changes):  # theme names are in every briefing
        return {}
    old = {f.get("path"): f for f in previous.get("files", []) if f.get("kind") == "briefing"}
    agreements, parties = touched(changes, then, model)
    # the agreements touched that are in the data now (a plan covers no other), by position
    where = model.agreements.index.get_indexer(list(agreements))
    is_touched = np.zeros(len(model.agreements), dtype=bool)
    is_touched[where[where >= 0]] = True
    out: dict[str, dict] = {}
    for plan in plans:
        entry = old.get(f"briefings/{plan.name}.pdf")
        if (entry is None or not entry.get("version") or lines.get(plan.name) != ()
                or entry.get("changes") != []):
            continue
        if is_touched[plan.positions].any():
            continue
        if plan.members is not None and not plan.members.isdisjoint(parties):
            continue
        out[plan.name] = entry
    return out


def touched(changes: list[Change], then: Then, model: Model) -> tuple[set[str], set[str]]:
    """The agreements and the parties whose briefings' content a change can alter."""
    agreements: set[str] = set()
    parties: set[str] = set()
    changed_parties = {c.id for c in changes if c.table == "parties"}
    changed_sources = {c.id for c in changes if c.table == "sources"}
    for c in changes:
        agreements.update(c.agreements)
        parties.update(c.parties)
    # What a party or source touched in the last run needs no look-up of it: a party
    # took part then in an agreement where it takes part now, unless its participation
    # row was removed (a change naming that agreement); an agreement cited a source then
    # as it does now, unless its sources changed or it was removed (a change of its own).
    if changed_parties:
        part = model.participation
        for aid, pid in zip(part["agreement_id"].tolist(), part["party_id"].tolist(),
                            strict=True):
            if pid in changed_parties:
                agreements.add(aid)
        parent_now = dict(zip(model.parties.index, model.parties["parent_id"], strict=True))
        for pid in changed_parties:
            parties.add(pid)
            for parent in (lambda p: parent_now.get(p, ""),
                           lambda p: then.parent(p, parent_now)):
                node, seen = parent(pid), set()
                while node and node not in seen:  # a cycle is the validator's to refuse
                    seen.add(node)
                    parties.add(node)
                    node = parent(node)
    if changed_sources:
        for aid, cited in zip(model.agreements.index, model.agreements["source_ids"],
                              strict=True):
            if not changed_sources.isdisjoint(cited):
                agreements.add(aid)
    return agreements, parties

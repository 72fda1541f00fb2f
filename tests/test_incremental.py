"""Routine runs build only what changed, and publish exactly what a run building everything
publishes.

A routine run follows a curator's edit. It reads of the last run's snapshot only the
rows that differ (reports/snapshot.py), decides from the change and the briefings'
plans which of the last run's briefings still stand (reports/incremental.py) and builds
only the others. Each test here runs the same edit twice from the same last run: as the
job does it, and with the last snapshot read whole and nothing standing (every briefing
built, then reused only when its data version is the same: what a full run does). Every
file must be the same, byte for byte, and the manifests must say the same.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reports import incremental, pipeline, snapshot
from reports.config import Settings
from reports.errors import InvalidData
from tests.datasets import read_table, write_table
from tests.test_scripts import synthetic

AGREEMENTS = 150


def settings_for(sources: Path, output: Path) -> Settings:
    return Settings(sources=sources, output=output, workers=2)


@pytest.fixture(scope="module", autouse=True)
def small_chunks() -> Iterator[None]:
    """Snapshot chunks of 16 rows: several per table, so that reading only those that
    differ is tested, and the same size for every run of this module."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(snapshot, "SNAPSHOT_CHUNK", 16)
        yield


@pytest.fixture(scope="module")
def routine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Synthetic sources and an output whose last run had a run before it (so that its
    briefings say "no change since the last briefing", as in every routine run)."""
    root = tmp_path_factory.mktemp("routine")
    sources = synthetic(root / "sources", AGREEMENTS, seed=3)
    output = root / "output"
    pipeline.run(settings_for(sources, output))
    forced = pipeline.run(Settings(sources=sources, output=output, force=True, workers=2))
    assert forced.changes == 0
    return sources, output


def _copy(routine: tuple[Path, Path], to: Path) -> tuple[Path, Path, Path]:
    sources, output = routine
    shutil.copytree(sources, to / "sources")
    shutil.copytree(output, to / "incremental", symlinks=True)
    shutil.copytree(output, to / "full", symlinks=True)
    return to / "sources", to / "incremental", to / "full"


def _run_both(sources: Path, incremental_out: Path, full_out: Path,
              monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    one = pipeline.run(settings_for(sources, incremental_out))
    with monkeypatch.context() as m:  # nothing stands: every briefing is built
        m.setattr(incremental, "standing", lambda *_, **__: {})
        # no index: the last snapshot read whole, every chunk of the new one encoded
        m.setattr(snapshot._Index, "read", classmethod(lambda cls, folder: None))
        two = pipeline.run(settings_for(sources, full_out))
    assert one.outcome == two.outcome == "published"
    assert one.manifest is not None and two.manifest is not None
    return one.manifest, two.manifest


def _briefings(manifest: dict) -> dict[str, dict]:
    return {f["path"]: f for f in manifest["files"] if f["kind"] == "briefing"}


def assert_same_briefings(incremental_out: Path, full_out: Path, one: dict, two: dict) -> None:
    """The same briefings, the same entries (reused flags included), the same bytes."""
    a, b = _briefings(one), _briefings(two)
    assert list(a) == list(b)
    for path in a:
        assert a[path] == b[path], path
        assert ((incremental_out / "latest" / path).read_bytes()
                == (full_out / "latest" / path).read_bytes()), path
    index = "briefings/index.html"
    assert ((incremental_out / "latest" / index).read_text().replace(one["run_id"], "")
            == (full_out / "latest" / index).read_text().replace(two["run_id"], ""))
    for data in (snapshot.SNAPSHOT_PATH, snapshot.INDEX_PATH):
        assert ((incremental_out / "latest" / data).read_bytes()
                == (full_out / "latest" / data).read_bytes()), data
    assert one["changes"] == two["changes"]


def _expected_after_title_change(sources: Path, agreement_id: str) -> set[str]:
    """The briefings that show the agreement, from the CSV files: the overview, each
    party taking part and every party above it, their countries, its top-level themes."""
    parties = {r["party_id"]: r for r in read_table(sources, "parties")}
    themes = {r["theme_id"]: r for r in read_table(sources, "themes")}
    scope = {"ministry": "ministry", "company": "company", "state_company": "company"}
    out = {"overview"}
    for r in read_table(sources, "participation"):
        if r["agreement_id"] != agreement_id:
            continue
        node = r["party_id"]
        if parties[node]["country"]:
            out.add(f"country-{parties[node]['country'].lower()}")
        while node:
            out.add(f"{scope.get(parties[node]['kind'], 'party')}-{node}")
            node = parties[node]["parent_id"]
    row = next(r for r in read_table(sources, "agreements") if r["agreement_id"] == agreement_id)
    for theme in row["themes"].split(";"):
        node = theme.strip()
        while themes[node]["parent_id"]:
            node = themes[node]["parent_id"]
        out.add(f"theme-{node}")
    return {f"briefings/{name}.pdf" for name in out}


def test_one_title_changed_re_renders_exactly_the_briefings_that_show_it(
        routine: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources, inc, full = _copy(routine, tmp_path)
    rows = read_table(sources, "agreements")
    edited = rows[7]
    edited["title"] += " (revised)"
    write_table(sources, "agreements", rows)
    one, two = _run_both(sources, inc, full, monkeypatch)
    assert_same_briefings(inc, full, one, two)
    rendered = {p for p, f in _briefings(one).items() if not f["reused"]}
    assert rendered == _expected_after_title_change(sources, edited["agreement_id"])
    assert len(rendered) < len(_briefings(one)) / 5  # the check above is not vacuous
    for path in rendered:  # each says what changed
        assert any("(revised)" in line for line in _briefings(one)[path]["changes"]), path


def _edit(table: str, change: Callable[[list[dict[str, str]]], None]
          ) -> Callable[[Path], None]:
    def apply(sources: Path) -> None:
        rows = read_table(sources, table)
        header = list(rows[0])
        change(rows)
        write_table(sources, table, rows, header)
    return apply


def _most_active_party(sources: Path) -> str:
    counts: dict[str, int] = {}
    for r in read_table(sources, "participation"):
        counts[r["party_id"]] = counts.get(r["party_id"], 0) + 1
    return max(counts, key=lambda p: (counts[p], p))


def _with_parent(rows: list[dict[str, str]]) -> dict[str, str]:
    return next(r for r in rows if r["parent_id"])


def _set(row: dict[str, str], **values: str) -> None:
    row.update(values)


def _remove_agreement(sources: Path, index: int) -> None:
    """The agreement, its participation and its targets."""
    removed = read_table(sources, "agreements")[index]["agreement_id"]
    for table in ("agreements", "participation", "targets"):
        _edit(table, lambda rows: rows.__setitem__(slice(None), [
            r for r in rows if r["agreement_id"] != removed]))(sources)


EDITS: dict[str, Callable[[Path], None]] = {
    "a title": _edit("agreements", lambda rows: _set(rows[3], title=rows[3]["title"] + " II")),
    "a date, which reorders": _edit("agreements", lambda rows: _set(rows[5],
                                                                   signed_on="2019-01-02")),
    "an agreement made a discussion": _edit("agreements",
                                            lambda rows: _set(rows[9], kind="discussion")),
    "an agreement removed": lambda s: _remove_agreement(s, 11),
    "a party renamed": lambda s: _edit("parties", lambda rows: _set(
        next(r for r in rows if r["party_id"] == _most_active_party(s)),
        name="Renamed Partner Ltd"))(s),
    "a party's country": _edit("parties", lambda rows: _set(
        next(r for r in rows if r["country"] not in ("", "AZ")), country="NO")),
    "a party moved under another": _edit("parties", lambda rows: _set(_with_parent(rows),
                                                                     parent_id="")),
    "a role": _edit("participation", lambda rows: _set(
        rows[4], role="beneficiary" if rows[4]["role"] != "beneficiary" else "partner")),
    "a participation removed": _edit("participation", lambda rows: rows.pop(6)),
    "a target's value": _edit("targets", lambda rows: _set(rows[0], value="123")),
    "a source's title": _edit("sources", lambda rows: _set(rows[0], title="Another title")),
    "a theme renamed": _edit("themes", lambda rows: _set(rows[1], name="Renamed theme")),
}


def test_every_kind_of_edit_publishes_what_building_everything_publishes(
        routine: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One edit after another, each run both ways from the same last run; the runs
    after an edit also turn its "since the last briefing" lines back to nothing."""
    sources, inc, full = _copy(routine, tmp_path)
    reused = []
    for what, edit in EDITS.items():
        edit(sources)
        try:
            one, two = _run_both(sources, inc, full, monkeypatch)
        except InvalidData as exc:  # the edit itself must be valid
            raise AssertionError(f"{what}: {[str(p) for p in exc.problems]}") from None
        assert one["changes"] != {"added": 0, "removed": 0, "changed": 0}, what
        assert_same_briefings(inc, full, one, two)
        reused.append(sum(f["reused"] for f in _briefings(one).values()))
    assert all(reused), reused  # every edit left some briefings standing


@pytest.mark.parametrize("ahead", [True, False], ids=["checked-ahead", "checked-in-process"])
def test_a_damaged_file_of_the_last_run_is_rendered_again_not_reused(
        routine: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        ahead: bool) -> None:
    """The last run's files are checked against its manifest: ahead, in a process of
    their own while the data is loaded (the usual case), or in-process when few."""
    checked_by = tmp_path / "checked-by"
    digests = pipeline._digests

    def recorded(*args: object, **kwargs: object) -> dict[str, str | None]:
        with checked_by.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return digests(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_digests", recorded)
    monkeypatch.setattr(pipeline, "CHECK_AHEAD_FROM", 1 if ahead else 10**9)
    sources, inc, full = _copy(routine, tmp_path)
    last = _briefings(pipeline.pub.read_manifest((inc / "latest").resolve()) or {})
    rows = read_table(sources, "agreements")
    shown = _expected_after_title_change(sources, rows[2]["agreement_id"])
    victim = next(p for p in last if p.startswith("briefings/party-") and p not in shown)
    for out in (inc, full):  # a torn write: the same size, other bytes
        path = (out / "latest").resolve() / victim
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.unlink()  # the file is a hard link shared with earlier runs
        path.write_bytes(bytes(data))
    rows[2]["title"] += " (revised)"
    write_table(sources, "agreements", rows)
    one, two = _run_both(sources, inc, full, monkeypatch)
    assert not _briefings(one)[victim]["reused"]
    assert _briefings(one)[victim]["sha256"] == last[victim]["sha256"]  # as it was, intact
    assert_same_briefings(inc, full, one, two)
    pids = checked_by.read_text().split()
    assert len(pids) == 2  # once per run
    assert all((pid != str(os.getpid())) == ahead for pid in pids), pids


def test_a_checker_that_dies_fails_the_run_and_publishes_nothing(
        routine: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed while it checks the last run's files (out of memory, say): the run stops
    with one clear line, and `latest` is still the last run."""
    from reports.errors import ReportsError

    sources, inc, _ = _copy(routine, tmp_path)
    before = (inc / "latest").resolve()
    runs = sorted(inc.rglob("*"))
    monkeypatch.setattr(pipeline, "CHECK_AHEAD_FROM", 1)
    monkeypatch.setattr(pipeline, "_digests", lambda *_, **__: os._exit(9))
    rows = read_table(sources, "agreements")
    rows[3]["title"] += " (revised)"
    write_table(sources, "agreements", rows)
    with pytest.raises(ReportsError, match=r"the briefing checker stopped without a result"):
        pipeline.run(settings_for(sources, inc))
    assert (inc / "latest").resolve() == before
    # nothing else either: no new run, no staging folder left behind
    assert sorted(p for p in inc.rglob("*") if p.name != "history.jsonl") == \
        [p for p in runs if p.name != "history.jsonl"]


def test_a_change_to_how_briefings_are_drawn_renders_every_briefing_again(
        routine: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code that draws them is part of every data version: a new layout is never
    kept out of a routine run by the last run's files."""
    from reports import briefings

    sources, inc, _ = _copy(routine, tmp_path)
    rows = read_table(sources, "agreements")
    rows[4]["title"] += " (revised)"
    write_table(sources, "agreements", rows)
    monkeypatch.setattr(briefings, "drawing_version", lambda: "another drawing code")
    result = pipeline.run(settings_for(sources, inc))
    assert result.manifest is not None
    assert not any(f["reused"] for f in _briefings(result.manifest).values())


def test_a_party_taken_off_an_agreement_is_told_what_else_changed_in_it(
        routine: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agreement was in the party's last briefing: its new title is news to the party,
    though the party no longer takes part (the last run's participation, as it was)."""
    sources, inc, full = _copy(routine, tmp_path)
    rows = read_table(sources, "participation")
    counts: dict[str, int] = {}
    for r in rows:
        for key in (r["party_id"], r["agreement_id"]):
            counts[key] = counts.get(key, 0) + 1
    parties = read_table(sources, "parties")
    related = {p["party_id"] for p in parties if p["parent_id"]} | {p["parent_id"] for p in parties}
    # a party with a briefing still, in an agreement that keeps a party, taking part once
    # and on its own (no party above or below it, whose agreements its briefing counts)
    removed = next(r for r in rows if counts[r["party_id"]] > 1 and counts[r["agreement_id"]] > 1
                   and r["party_id"] not in related
                   and sum(o["party_id"] == r["party_id"] and o["agreement_id"]
                           == r["agreement_id"] for o in rows) == 1)
    rows.remove(removed)
    write_table(sources, "participation", rows)
    _edit("agreements", lambda agreements: _set(
        next(r for r in agreements if r["agreement_id"] == removed["agreement_id"]),
        title="Retitled without one of its parties"))(sources)
    one, two = _run_both(sources, inc, full, monkeypatch)
    assert_same_briefings(inc, full, one, two)
    party = next(f for p, f in _briefings(one).items()
                 if p.endswith(f"-{removed['party_id']}.pdf"))
    assert any(line.startswith("Agreement ") and "\u2192 \u201cRetitled without" in line
               for line in party["changes"]), party["changes"]
    assert any(line.startswith("Removed participation") for line in party["changes"])

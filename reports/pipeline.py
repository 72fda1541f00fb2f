"""The only place where the stages are chained: `run(settings) -> RunResult`.

sources -> load -> validate -> model -> summaries -> render (xlsx, pdf) -> publish.
The CLI and the scheduler both call `run`; nothing here knows which one did.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import processes
from . import publish as pub
from .config import Settings
from .errors import ConfigError, InvalidData, PublishError, ReportsError, RunLocked
from .problems import WARNING, Problem
from .processes import Job
from .sources import sources_sha256

if TYPE_CHECKING:
    import pandas as pd

    from .briefings import Plan
    from .changes import Change, Then
    from .model import Model

    # what a run learns of the last one: its changes and what the briefings need of its
    # data; the reason its data cannot be read; None when there is no last run
    Found = tuple[list[Change], Then] | str | None

log = logging.getLogger(__name__)
WORKBOOK = "agreements.xlsx"
UNREADABLE_LINE = ("Changes since the last briefing could not be computed: the last published "
                   "run's data could not be read.")


@dataclass
class RunResult:
    outcome: str  # published | unchanged
    run_id: str | None
    folder: Path | None
    manifest: dict | None = None
    warnings: list[Problem] = field(default_factory=list)
    changes: int | None = None  # None: nothing to compare with
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""
    deliveries: dict[str, str] = field(default_factory=dict)  # recipient -> outcome
    not_compared: str | None = None  # why changes were not computed, when a last run exists
    contacts: list | None = None  # [delivery.contacts], checked; None: not read by this run


@dataclass
class _Clock:
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        log.debug("stage %s started", name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start,
                                       4)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _local(settings: Settings, moment: dt.datetime) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(settings.schedule.timezone))


def run(settings: Settings, *, trigger: str = "manual") -> RunResult:
    """Validate, summarise, render and publish one complete run, or raise and publish nothing.

    Every attempt is recorded in output/history.jsonl: a published run the moment it is
    published, before any delivery. With `[delivery]`, the newest run's delivery is then
    finished: this run's, or, when nothing changed, what the last published run left
    unsent.
    """
    output = settings.output
    started = _now()
    clock = _Clock()
    record: dict = {"event": "run", "trigger": trigger, "started_at": started.isoformat(),
                    "pid": os.getpid()}
    recorded = False
    try:
        with pub.run_lock(output):
            # a run killed with SIGKILL can record nothing more: this line shows it started
            _append(output, {"event": "start", "trigger": trigger,
                             "started_at": started.isoformat(), "pid": os.getpid()})
            result = _run_locked(settings, started, clock)
            _record(output, record, started, result.outcome, clock, run_id=result.run_id,
                    changes=result.changes,
                    files=len((result.manifest or {}).get("files", [])),
                    warnings=len(result.warnings))
            recorded = True
            if settings.delivery is not None and result.run_id is not None:
                with clock.stage("deliver"):
                    result.deliveries = _deliver(settings, result.run_id, result.contacts)
    except ReportsError as exc:
        if not recorded:
            outcome = ("invalid" if isinstance(exc, InvalidData)
                       else "locked" if isinstance(exc, RunLocked) else "failed")
            _record(output, record, started, outcome, clock, reason=str(exc))
        raise
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into it by the CLI
        if not recorded:
            _record(output, record, started, "interrupted", clock,
                    reason="interrupted before the run was published")
        raise
    except OSError as exc:  # a full disk, a folder that cannot be written: one line, exit 4
        where = f" ({exc.filename})" if exc.filename else ""
        failure = PublishError(f"could not write the run in {output}: "
                               f"{exc.strerror or exc}{where}; nothing was published")
        if not recorded:
            _record(output, record, started, "failed", clock, reason=str(failure))
        raise failure from exc
    except Exception as exc:
        if not recorded:
            _record(output, record, started, "failed", clock,
                    reason=f"{type(exc).__name__}: {exc}")
        raise
    result.timings = clock.timings
    return result


def _record(output: Path, record: dict, started: dt.datetime, outcome: str, clock: _Clock,
            **fields: object) -> None:
    finished = _now()
    record.update(fields, outcome=outcome, finished_at=finished.isoformat(),
                  duration_s=round((finished - started).total_seconds(), 3),
                  timings=clock.timings)
    _append(output, record)


def _append(output: Path, record: dict) -> None:
    try:
        pub.append_history(output, record)
    except OSError as exc:  # history must never hide the run's own outcome
        log.warning("could not append to %s: %s", output / pub.HISTORY, exc)


# Data sets with fewer agreements than this write their workbook in-process: forking
# costs more than the overlap saves.
BACKGROUND_FROM = 2_000


def _run_locked(settings: Settings, started: dt.datetime, clock: _Clock) -> RunResult:
    output = settings.output
    with clock.stage("hash"):
        data_sha = sources_sha256(settings.sources)
        fingerprint = settings.output_fingerprint()
        previous_folder = pub.latest_run(output)
        previous = pub.read_manifest(previous_folder) if previous_folder else None
    stale = pub.remove_stale_staging(output)  # a killed run's leftovers, whatever happens next
    if stale:
        log.info("removed staging left by an interrupted run: %s", ", ".join(stale))
    if previous_folder is not None and previous is None:
        log.warning("the last published run (%s) has no readable manifest: it is not compared "
                    "with", previous_folder)
        previous_folder = None
    if (previous and not settings.force and previous.get("sources_sha256") == data_sha
            and previous.get("config_sha256") == fingerprint):
        return RunResult("unchanged", previous.get("run_id"), previous_folder, previous,
                         message="nothing to do: the data and configuration are the ones "
                                 f"run {previous.get('run_id')} used (--force runs anyway)")
    pub.check_latest(output)  # before any work: a run that could not be published is waste
    # the last run's briefing files are checked against its manifest while this run
    # loads and validates its data, when a core is otherwise idle
    paths = _last_briefings(previous)
    ahead = len(paths) >= CHECK_AHEAD_FROM and settings.workers != 1
    with Job[dict[str, str | None]](
            lambda: _digests(previous_folder, paths, threads=1 if ahead else 2),
            background=ahead, name="briefing checker",
            nicer=processes.BACKGROUND_NICENESS) as checked:
        return _run_checked(settings, started, clock, data_sha, fingerprint, previous_folder,
                            previous, checked)


def _run_checked(settings: Settings, started: dt.datetime, clock: _Clock, data_sha: str,
                 fingerprint: str, previous_folder: Path | None, previous: dict | None,
                 checked: Job[dict[str, str | None]]) -> RunResult:
    """The run, once it is known to be needed; `checked` gives the SHA-256 of each of the
    last run's briefing files (by manifest path)."""
    output = settings.output
    from .briefings import content_key, plan_briefings
    from .changes import Then, change_lines, diff
    from .model import Model
    from .snapshot import Snapshot, UnreadableSnapshot, compare
    from .sources import read_sources
    from .validate import validate

    with clock.stage("load"):
        raw = read_sources(settings.sources, parallel=settings.workers != 1)
    with clock.stage("validate"):
        from .render.fonts import missing_glyphs

        data, problems = validate(raw, can_print=missing_glyphs)
    del raw  # the tables hold what is needed; the raw rows are not kept while rendering
    if data is None:
        raise InvalidData(problems)
    contacts = None
    if settings.delivery is not None and settings.delivery.contacts is not None:
        from .contacts import read_contacts

        # checked like the sources, before anything is written or sent
        contacts = read_contacts(settings.delivery.contacts, set(data.parties["party_id"]))
    warnings = [p for p in problems if not p.is_error]
    run_id = pub.new_run_id(started, data_sha)
    bump = 0
    while (output / pub.RUNS / run_id).exists():  # two forced runs within one second
        bump += 1
        run_id = pub.new_run_id(started + dt.timedelta(seconds=bump), data_sha)
    # the snapshot and the workbook are written in forked processes while this one goes
    # on (each keeps a core busy); small data sets do it all here: forking costs more
    background = len(data.agreements) >= BACKGROUND_FROM and settings.workers != 1
    with pub.staging_folder(output, run_id) as staging:
        from .changes import changes_frame
        from .snapshot import write_snapshot

        def compare_and_store() -> Generator[Found, None, None]:
            """What changed since the last run (handed over as soon as it is known, while
            the model and figures are made: the changes and what the briefings need of
            the last run's data; the reason when it cannot be read; None when there is
            none), then this run's snapshot, written."""
            snap = Snapshot(data)
            found: Found = None
            last = None  # the last snapshot's index, read once: compared, then copied from
            if previous_folder is not None:
                try:  # reads of the last run's snapshot only the rows that differ
                    compared = compare(previous_folder, snap)
                    found = (diff(compared.before, snap.views(), compared.keys),
                             Then(compared, snap))
                    last = compared.index
                    del compared
                except UnreadableSnapshot as exc:
                    found = str(exc)
            yield found
            del found
            write_snapshot(snap, staging, last)

        with Job[None](compare_and_store, background=background, name="snapshot writer",
                       staged=True, nicer_after_first=processes.SNAPSHOT_NICENESS) as stored, \
                ExitStack() as jobs:
            with clock.stage("summaries"):
                from .figures import compute_all

                model = Model(data)
                compute_all(model)
                as_of = settings.as_of or _as_of(model)
                given = list(warnings)

                def write_files(later: Callable[[], tuple[pd.DataFrame | None, list[Problem]]]
                                ) -> tuple[list[Problem], float]:
                    """The workbook, begun as soon as the figures are made; the changes
                    (its last sheet, with their warnings) come when the snapshot writer
                    has found them (`later`)."""
                    from .render.xlsx import write_workbook

                    start, waited = time.perf_counter(), 0.0

                    def changes_when_known() -> tuple[pd.DataFrame | None, list[Problem]]:
                        nonlocal waited
                        asked = time.perf_counter()
                        try:
                            return later()
                        finally:
                            waited = time.perf_counter() - asked

                    cut = write_workbook(
                        model, staging / WORKBOOK, as_of=as_of,
                        generated_at=_local(settings, started), warnings=given, changes=None,
                        sources_label=str(settings.sources), run_id=run_id,
                        previous=previous_folder / WORKBOOK if previous_folder is not None
                        else None, later=changes_when_known)
                    return cut or [], time.perf_counter() - start - waited

                workbook = jobs.enter_context(Job[tuple[list[Problem], float]](
                    write_files, background=background, name="workbook writer", inbox=True))
                found = stored.first()
            changes: list[Change] | None = None
            then: Then | None = None
            unreadable = None
            added: list[Problem] = []
            if isinstance(found, str):
                unreadable = (f"the last published run's data cannot be read ({found}); "
                              "changes since it are not computed")
                log.warning("%s", unreadable)
                assert previous_folder is not None
                added.append(Problem(WARNING, str(previous_folder.name), None, None,
                                     unreadable, code="previous-run-unreadable"))
                warnings.extend(added)
                previous, previous_folder = None, None
            elif isinstance(found, tuple):
                changes, then = found
            workbook.send((changes_frame(changes) if changes is not None else None, added))
            with clock.stage("briefings"):
                plans = plan_briefings(model, settings.scopes)
                if settings.delivery is not None:
                    from .deliver import check_subscriptions

                    check_subscriptions(settings.delivery, plans, contacts or ())
                key = content_key(model, as_of)
                lines: dict[str, tuple[str, ...]] | None = None
                stand: dict[str, dict] = {}
                if changes is not None and then is not None:
                    from .incremental import standing

                    lines = change_lines(model, plans, changes, then)
                    stand = standing(plans, lines, changes, then, model, previous, key)
                elif unreadable is not None:  # say so: never "first briefing" nor invented
                    lines = {p.name: (UNREADABLE_LINE,) for p in plans}
                then = None
                entries = _briefing_files(settings, model, as_of, plans, lines, stand,
                                          staging, previous_folder, previous, checked)
            with clock.stage("workbook wait"):
                cut, seconds = workbook.result()
            clock.timings["workbook"] = round(seconds, 4)
            warnings.extend(cut)
            with clock.stage("snapshot wait"):
                stored.result()
        with clock.stage("publish"):
            manifest = _manifest(settings, run_id, started, as_of, data_sha, fingerprint,
                                 previous, model, warnings, staging, entries, changes, key)
            _write_index(staging, entries, manifest)
            (staging / "manifest.json").write_text(
                json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
            final = pub.publish(staging, output, run_id)
    with clock.stage("retention"):
        removed = pub.remove_old_runs(output, settings.keep_runs, _protected_runs(output))
        if removed:
            from .deliver import forget_runs

            forget_runs(output, removed)
            log.info("removed %d old run(s): %s", len(removed), ", ".join(removed))
    return RunResult("published", run_id, final, manifest, warnings,
                     None if changes is None else len(changes), not_compared=unreadable,
                     contacts=contacts)


def _deliver(settings: Settings, run_id: str, contacts: list | None) -> dict[str, str]:
    """Deliver a published run; a delivery failure never unpublishes it nor hides that it
    was published (the next run, or `deliver --run`, finishes it). A configuration error
    (a bad contacts file) is the operator's to fix: it is raised (exit 2)."""
    from .deliver import deliver_run

    try:
        return deliver_run(settings, run_id, contacts=contacts)
    except ConfigError:
        raise
    except ReportsError as exc:
        log.error("delivery of run %s failed: %s", run_id, exc)
        return {"*": f"failed: {exc}"}
    except Exception as exc:
        log.error("delivery of run %s failed: %s: %s", run_id, type(exc).__name__, exc,
                  exc_info=log.isEnabledFor(logging.DEBUG))
        return {"*": f"failed: {type(exc).__name__}: {exc}"}


def _protected_runs(output: Path) -> set[str]:
    """Runs whose delivery is unfinished are kept past keep_runs."""
    from .deliver import unfinished_runs

    return unfinished_runs(output)


def _as_of(model: Model) -> str:
    """The data's as-of date, from the data alone: never the wall clock, so that the same
    data gives the same briefings whatever day it is run (`--as-of` overrides it).

    - the newest `accessed_on` or `published_on` among the sources; else
    - the newest `signed_on` among the agreements, as it stands: a partial date stays
      partial ("2024-11"). Dates are compared by the earliest day each could be
      ("2024-11" as 2024-11-01, "2024" as 2024-01-01), so "2024-11-05" is newer than
      "2024-11"; on the same earliest day the more precise one wins ("2024-11-01" over
      "2024-11" over "2024"); else
    - "" when nothing in the data carries a date (the outputs say "not dated").
    """
    from .validate import newest_date

    newest = newest_date(d for column in ("accessed_on", "published_on")
                         for d in model.sources[column])
    return newest or newest_date(model.agreements["signed_on"])


def _briefing_files(settings: Settings, model: Model, as_of: str, plans: list[Plan],
                    lines: dict[str, tuple[str, ...]] | None, stand: dict[str, dict],
                    staging: Path, previous_folder: Path | None,
                    previous: dict | None, checked: Job[dict[str, str | None]]
                    ) -> list[pub.FileEntry]:
    """Each planned briefing's file: the last run's, when it stands (see incremental) or
    when the briefing built again has the same data version; else rendered. `checked`
    gives the SHA-256 of the last run's files (see _digests)."""
    from .briefings import build_briefings
    from .render.pdf import render_briefings

    folder = staging / "briefings"
    folder.mkdir(parents=True, exist_ok=True)
    old = {f["path"]: f for f in (previous or {}).get("files", []) if f.get("kind") == "briefing"}
    reused: dict[str, dict] = {}  # name -> last run's manifest entry, checked against the file
    digests = checked.result() if previous_folder is not None else {}

    def reuse(name: str, entry: dict | None) -> bool:
        """Link the last run's file when it is intact; `entry` is its manifest entry."""
        if not (entry and entry.get("version") and previous_folder is not None):
            return False
        filename = f"briefings/{name}.pdf"
        digest = digests.get(filename)
        if digest is None or digest != entry.get("sha256"):
            return False
        try:
            os.link(previous_folder / filename, staging / filename)
        except OSError:
            shutil.copyfile(previous_folder / filename, staging / filename)
        reused[name] = entry
        return True

    to_build = [p for p in plans if not reuse(p.name, stand.get(p.name))]
    briefings = {b.name: b for b in build_briefings(model, as_of, plans=to_build,
                                                    changes=lines)} if to_build else {}
    to_render = [b for b in briefings.values()
                 if (entry := old.get(b.filename)) is None or entry.get("version") != b.version
                 or not reuse(b.name, entry)]
    # size, hash and version come back from the renderer: no file read again, no version
    # computed twice (in a worker the parent's briefings never computed theirs)
    rendered = render_briefings(to_render, folder, workers=settings.workers,
                                progress=settings.progress) if to_render else {}
    entries = []
    for plan in plans:
        old_entry = reused.get(plan.name)
        b = briefings.get(plan.name)
        if b is None:  # it stands: all it shows is the last run's
            assert old_entry is not None
            entries.append(pub.FileEntry.from_json(old_entry, reused=True))
            continue
        if old_entry:  # its bytes were verified above: no second read
            size, digest, count = old_entry["bytes"], old_entry["sha256"], old_entry["pages"]
            version = old_entry["version"]
        else:
            made = rendered[b.name]
            size, digest, count, version = made.bytes, made.sha256, made.pages, made.version
        entries.append(pub.FileEntry(b.filename, "briefing", b.scope, b.subject, size, digest,
                                     version, b.title, count, old_entry is not None,
                                     b.subject_id, b.changes, b.figures))
    return entries


# The last run's briefing files are checked ahead in a forked process when there are at
# least this many; fewer are checked in-process, when their turn comes.
CHECK_AHEAD_FROM = 200
_BRIEFING_PATH = re.compile(r"briefings/[^/\\.][^/\\]*\.pdf")


def _last_briefings(previous: dict | None) -> list[str]:
    """The paths of the last run's briefing files, as its manifest lists them (only plain
    names inside briefings/: a manifest never leads the job elsewhere)."""
    return [f["path"] for f in (previous or {}).get("files", [])
            if isinstance(f, dict) and f.get("kind") == "briefing"
            and isinstance(f.get("path"), str) and _BRIEFING_PATH.fullmatch(f["path"])]


def _digests(folder: Path | None, paths: list[str], *, threads: int) -> dict[str, str | None]:
    """path -> the SHA-256 of the file at `folder/path`; None when it is not a file."""
    from concurrent.futures import ThreadPoolExecutor

    if folder is None or not paths:
        return {}
    root = folder

    def digest(path: str) -> str | None:
        file = root / path
        try:
            return pub.sha256_file(file) if file.is_file() else None
        except OSError:  # gone or unreadable: rendered again
            return None

    with ThreadPoolExecutor(threads) as pool:  # hashlib lets go of the GIL
        return dict(zip(paths, pool.map(digest, paths), strict=True))


def _manifest(settings: Settings, run_id: str, started: dt.datetime, as_of: str, data_sha: str,
              fingerprint: str, previous: dict | None, model: Model, warnings: list[Problem],
              staging: Path, briefings: list[pub.FileEntry],
              changes: list[Change] | None, key: str) -> dict:
    from .briefings import dataset_name
    from .figures import agreement_targets, overview_figures, target_totals
    from .summaries import key_counts

    workbook = staging / WORKBOOK
    files = [pub.FileEntry(WORKBOOK, "workbook", "overview", "", workbook.stat().st_size,
                           pub.sha256_file(workbook)), *briefings]
    counts = key_counts(model)
    counts["warnings"] = len(warnings)
    targets = agreement_targets(model)
    summary = None
    if changes is not None:
        summary = {kind: sum(1 for c in changes if c.change == kind)
                   for kind in ("added", "removed", "changed")}
    return {
        "run_id": run_id,
        "dataset": dataset_name(model),
        "started_at": started.isoformat(),
        "finished_at": _now().isoformat(),
        "as_of": as_of,
        "sources": str(settings.sources),
        "sources_sha256": data_sha,
        "config_sha256": fingerprint,
        "previous_run_id": previous.get("run_id") if previous else None,
        "changes": summary,
        "content_key": key,  # what every briefing shows (see incremental.standing)
        "counts": counts,
        "figures": {f.label: f.value for f in overview_figures(model)},
        "target_totals": [{"unit": t.unit, "targets": t.targets, "total": t.total}
                          for t in target_totals(targets["value"].tolist(),
                                                 targets["unit"].tolist())],
        "files": [f.as_json() for f in files],
    }


def _write_index(staging: Path, entries: list[pub.FileEntry], manifest: dict) -> None:
    from html import escape

    rows = []
    for e in entries:
        shown = "<br>".join(f"{escape(label)}: {escape(value)}" for label, value in e.figures)
        rows.append(f"<tr><td><a href=\"{escape(Path(e.path).name)}\">{escape(e.title)}</a></td>"
                    f"<td>{escape(e.scope)}</td><td>{escape(e.subject)}</td>"
                    f"<td>{shown}</td><td>{e.pages}</td><td>{escape(e.version)}</td></tr>")
    html = ("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
            f"<title>Briefings of run {escape(manifest['run_id'])}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;"
            "text-align:left;border-bottom:1px solid #ddd}</style>"
            f"<h1>Briefings</h1><p>Data as of {escape(manifest['as_of'])} · run "
            f"{escape(manifest['run_id'])}</p><table><tr><th>Title</th><th>Scope</th>"
            "<th>Subject</th><th>Key figures</th><th>Pages</th><th>Data version</th></tr>"
            + "".join(rows) + "</table></html>\n")
    (staging / "briefings" / "index.html").write_text(html, encoding="utf-8")

"""End to end: the bundled data in, a published run out; failures publish nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reports import pipeline, processes
from reports.config import Settings
from reports.errors import InvalidData, PublishError
from tests.conftest import BUNDLED_SOURCES, ROOT, require_tool
from tests.datasets import copy_bundled, read_table, set_cell

AS_OF = "2024-11-27"


def settings_for(sources: Path, output: Path, **kw: object) -> Settings:
    return Settings(**{"sources": sources, "output": output, "workers": 1, **kw})


def cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def snapshot_of(output: Path) -> dict[str, bytes]:
    """Every file under output/ except history and logs, with its bytes."""
    files = {}
    for path in sorted(output.rglob("*")):
        rel = path.relative_to(output).as_posix()
        if path.is_file() and not rel.startswith(("history.jsonl", "logs", ".lock")):
            files[rel] = path.read_bytes()
    files["latest ->"] = os.readlink(output / "latest").encode() if (
        output / "latest").is_symlink() else b""
    return files


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of the command on the bundled data (shared by the tests below)."""
    output = tmp_path_factory.mktemp("e2e") / "output"
    done = cli("run", "--sources", str(BUNDLED_SOURCES), "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert "published run" in done.stdout
    return output / "latest"


def test_run_publishes_a_complete_run_with_manifest(bundled_run: Path) -> None:
    manifest = json.loads((bundled_run / "manifest.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", manifest["run_id"])
    assert bundled_run.resolve().name == manifest["run_id"]
    assert manifest["as_of"] == AS_OF  # the report's date, not the day the job ran
    assert manifest["previous_run_id"] is None
    # counted by hand from the news report: 7 signed instruments and one discussion,
    # 21 parties named (with the parents bp and SOCAR), 24 participations
    assert manifest["counts"] == {"agreements": 7, "discussions": 1, "parties": 21,
                                  "participation": 24, "themes": 11, "targets": 1,
                                  "sources": 1, "warnings": 1}
    paths = {f["path"] for f in manifest["files"]}
    assert "agreements.xlsx" in paths
    for entry in manifest["files"]:
        data = (bundled_run / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data)
        import hashlib

        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert (bundled_run / "briefings" / "index.html").is_file()
    assert not [p for p in bundled_run.parent.parent.iterdir() if p.name.startswith(".staging")]


def test_workbook_read_by_an_independent_reader_holds_every_agreement_and_party(
        bundled_run: Path) -> None:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(bundled_run / "agreements.xlsx"))

    def column(sheet: str, name: str) -> list[str]:
        rows = book.get_sheet_by_name(sheet).to_python()
        index = rows[0].index(name)
        return [row[index] for row in rows[1:]]

    assert set(column("Agreements", "agreement_id")) == {
        r["agreement_id"] for r in read_table(BUNDLED_SOURCES, "agreements")}
    assert set(column("Parties", "party_id")) == {
        r["party_id"] for r in read_table(BUNDLED_SOURCES, "parties")}

    def counts(sheet: str, key: str) -> dict[str, tuple[int, int]]:
        rows = book.get_sheet_by_name(sheet).to_python()
        h = rows[0]
        return {r[h.index(key)]: (int(r[h.index("Agreements")]), int(r[h.index("Discussions")]))
                for r in rows[1:]}

    # counted by hand from the news report and the curation choices in the README
    assert counts("ByMinistry", "party_id") == {
        "ministry-of-economy": (1, 1),
        "ministry-of-digital-development-and-transport": (1, 0),
        "ministry-of-finance": (1, 0)}
    companies = counts("ByCompany", "party_id")
    assert companies["aic"] == (4, 0)  # deposit, carbon, battery (inferred), Ecostar charter
    assert {k for k, v in companies.items() if v == (1, 0)} == {
        "byd", "sarda-group", "electrify-azerbaijan", "dias", "carbonbit", "masdar", "volts",
        "socar-downstream", "technip-energies-italy", "ecostar", "alterra"}
    assert companies["bp"] == companies["socar"] == (0, 0)
    assert counts("ByTheme", "theme_id") == {
        "green-economy": (5, 0), "e-mobility": (1, 0), "circular-economy": (2, 0),
        "carbon-technologies": (1, 0), "energy-storage": (1, 0), "smes": (2, 0),
        "sme-green-transition": (2, 0), "sme-international-cooperation": (1, 0),
        "digitalization": (0, 1), "artificial-intelligence": (0, 1),
        "climate-digitalization": (0, 1)}


def normalised_text(pdf: Path) -> str:
    pdftotext = require_tool("pdftotext")
    text = subprocess.run([pdftotext, "-layout", "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


def test_overview_briefing_shows_names_with_their_own_letters(bundled_run: Path) -> None:
    text = normalised_text(bundled_run / "briefings" / "overview.pdf")
    assert "Dias Bilişim ve Teknoloji Hizmetleri A.Ş." in text
    assert "KOBİA" in text
    pdffonts = require_tool("pdffonts")
    listing = subprocess.run([pdffonts, str(bundled_run / "briefings" / "overview.pdf")],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    fonts = listing[2:]
    assert fonts, listing
    for line in fonts:
        # columns: name type encoding emb sub uni object ID
        assert line.split()[-5] == "yes", line


def test_second_run_on_unchanged_data_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "output"
    first = pipeline.run(settings_for(BUNDLED_SOURCES, output))
    before = snapshot_of(output)
    second = pipeline.run(settings_for(BUNDLED_SOURCES, output))
    assert (first.outcome, second.outcome) == ("published", "unchanged")
    assert snapshot_of(output) == before
    history = [json.loads(line) for line in (output / "history.jsonl").read_text().splitlines()]
    assert [h["outcome"] for h in history if h["event"] == "run"] == ["published", "unchanged"]
    assert [h["event"] for h in history] == ["start", "run", "start", "run"]
    forced = pipeline.run(settings_for(BUNDLED_SOURCES, output, force=True))
    assert forced.outcome == "published" and forced.changes == 0
    # the first run had nothing to compare with; from now on each briefing says
    # "no change since the last briefing", and the next run reuses it byte for byte
    again = pipeline.run(settings_for(BUNDLED_SOURCES, output, force=True))
    assert all(f["reused"] for f in again.manifest["files"] if f["kind"] == "briefing")
    first_files = {f["path"]: f["sha256"] for f in forced.manifest["files"]}
    assert {f["path"]: f["sha256"] for f in again.manifest["files"]
            if f["kind"] == "briefing"}.items() <= first_files.items()


def test_a_status_change_shows_in_changes_overview_and_exactly_the_briefings_covering_it(
        tmp_path: Path) -> None:
    sources = copy_bundled(tmp_path / "sources")
    output = tmp_path / "output"
    pipeline.run(settings_for(sources, output))
    pipeline.run(settings_for(sources, output, force=True))  # a run with something to compare
    # the deposit-management memorandum (AIC with Dias), row 3 of agreements.csv
    set_cell(sources, "agreements", 3, "status", "in_progress")
    result = pipeline.run(settings_for(sources, output))
    assert result.changes == 1
    files = {f["path"]: f for f in result.manifest["files"]}
    changed = {p for p, f in files.items() if f["kind"] == "briefing" and not f["reused"]}
    assert changed == {"briefings/overview.pdf", "briefings/company-aic.pdf",
                       "briefings/company-dias.pdf", "briefings/theme-green-economy.pdf",
                       # AIC is Azerbaijani, Dias Turkish
                       "briefings/country-az.pdf", "briefings/country-tr.pdf"}
    line = "status “signed” → “in progress”"
    for path in changed:
        assert line in normalised_text(output / "latest" / path), path
    assert "No change since the last briefing" in normalised_text(
        output / "latest" / "briefings" / "company-byd.pdf")
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(output / "latest" / "agreements.xlsx")
                                      ).get_sheet_by_name("Changes").to_python()
    assert rows[1][:6] == ["changed", "agreements", "deposit-management-system-mou", "status",
                           "signed", "in_progress"]


def _fail(*_: object, **__: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("stage", ["validation", "workbook", "workbook in a forked process",
                                   "briefing", "briefing while the workbook is forked",
                                   "publish"])
def test_a_failure_at_any_stage_leaves_latest_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    sources = copy_bundled(tmp_path / "sources")
    output = tmp_path / "output"
    pipeline.run(settings_for(sources, output))
    before = snapshot_of(output)
    set_cell(sources, "agreements", 2, "title", "A new title")
    if stage == "validation":
        set_cell(sources, "agreements", 2, "kind", "treaty")
        expected: type[Exception] = InvalidData
    elif stage.startswith("workbook"):
        import reports.render.xlsx

        if "forked" in stage:  # big data sets write the workbook in a forked process
            monkeypatch.setattr(pipeline, "BACKGROUND_FROM", 0)
        monkeypatch.setattr(reports.render.xlsx, "write_workbook", _fail)
        expected = PublishError  # an OSError becomes one line: could not write the run
    elif stage.startswith("briefing"):
        import reports.render.pdf

        if "forked" in stage:  # the workbook's process is stopped, its file discarded
            monkeypatch.setattr(pipeline, "BACKGROUND_FROM", 0)

        monkeypatch.setattr(reports.render.pdf, "render_briefings", _fail)
        expected = PublishError
    else:
        import reports.publish

        monkeypatch.setattr(reports.publish.os, "rename", _fail)
        expected = PublishError
    with pytest.raises(expected):
        # two workers: one worker means no second process, for the workbook either
        pipeline.run(settings_for(sources, output, workers=2 if "forked" in stage else 1))
    assert snapshot_of(output) == before
    assert not [p for p in output.iterdir() if p.name.startswith((".staging", "latest.tmp"))]
    history = [json.loads(line) for line in (output / "history.jsonl").read_text().splitlines()]
    assert history[-1]["outcome"] == ("invalid" if stage == "validation" else "failed")


def test_a_workbook_written_in_a_forked_process_is_the_same_workbook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from python_calamine import CalamineWorkbook

    runs = {}
    for background in (False, True):
        monkeypatch.setattr(pipeline, "BACKGROUND_FROM", 0 if background else 10**9)
        output = tmp_path / f"output-{background}"
        result = pipeline.run(settings_for(BUNDLED_SOURCES, output, workers=2))
        assert result.outcome == "published"
        assert result.timings["workbook"] > 0
        book = CalamineWorkbook.from_path(str(output / "latest" / "agreements.xlsx"))
        sheets = {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names
                  if name != "Overview"}  # the overview shows the run's own time and id
        runs[background] = (sorted(p.name for p in (output / "latest").rglob("*")), sheets)
    assert runs[True] == runs[False]


def test_invalid_data_from_the_command_line_prints_every_problem_and_writes_nothing(
        tmp_path: Path) -> None:
    sources = copy_bundled(tmp_path / "sources")
    set_cell(sources, "agreements", 2, "kind", "treaty")
    set_cell(sources, "parties", 4, "country", "Azerbaijan")
    done = cli("run", "--sources", str(sources), "--output", str(tmp_path / "output"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("agreements.csv:2: column 'kind': 'treaty' is not an allowed")
    assert lines[1].startswith("parties.csv:4: column 'country': 'Azerbaijan' is not an ISO")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "output" / "runs").exists()
    assert not (tmp_path / "output" / "latest").exists()


def test_a_second_run_while_one_holds_the_lock_exits_75(tmp_path: Path) -> None:
    output = tmp_path / "output"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from reports.publish import run_lock\n"
         "with run_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(600)",
         str(output)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        done = cli("run", "--output", str(output))
        assert done.returncode == 75
        assert f"another run is already running (process {holder.pid})" in done.stderr
    finally:
        holder.kill()  # kill -9: the kernel frees the lock
        holder.wait()
    done = cli("run", "--output", str(output))
    assert done.returncode == 0, done.stderr


def test_two_runs_started_together_publish_once(tmp_path: Path) -> None:
    output = tmp_path / "output"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "reports", "run", "--output", str(output)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 75], results
    assert len(list((output / "runs").iterdir())) == 1


def test_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    assert cli("run", "--as-of", "27.11.2024").returncode == 2
    config = tmp_path / "bad.toml"
    config.write_text("keep_runs = 'many'\n", encoding="utf-8")
    done = cli("run", "--config", str(config))
    assert done.returncode == 2
    assert "keep_runs" in done.stderr and "Traceback" not in done.stderr
    assert cli("frobnicate").returncode == 2


@pytest.mark.parametrize("command", ["run", "validate", "schedule", "status"])
def test_every_command_has_help(command: str) -> None:
    done = cli(command, "--help")
    assert done.returncode == 0 and "--debug" in done.stdout


def _wait_for(condition, timeout: float = 180) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_real_scheduler_publishes_each_change_and_stops_on_sigterm(tmp_path: Path) -> None:
    import signal

    sources = copy_bundled(tmp_path / "sources")
    config = tmp_path / "agreement-reports.toml"
    config.write_text('sources = "sources"\noutput = "output"\n'
                      '[schedule]\nevery = "2 seconds"\ntimezone = "Asia/Baku"\n',
                      encoding="utf-8")
    output = tmp_path / "output"
    latest = output / "latest"
    proc = subprocess.Popen([sys.executable, "-m", "reports", "schedule", "--config", str(config)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(latest.is_symlink), "no first run was published"
        first = os.readlink(latest)
        set_cell(sources, "agreements", 2, "status", "completed")
        assert _wait_for(lambda: os.readlink(latest) != first), "the change was not published"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(list((output / "runs").iterdir())) >= 2
    log = (output / "logs" / "scheduler.log").read_text(encoding="utf-8")
    assert "run published" in log and "stopping on SIGTERM" in log
    state = json.loads((output / "scheduler.json").read_text(encoding="utf-8"))
    assert state["failures"] == 0 and state["runs"] >= 2


def test_old_runs_beyond_keep_runs_are_removed_after_a_successful_run(tmp_path: Path) -> None:
    output = tmp_path / "output"
    ids = [pipeline.run(settings_for(BUNDLED_SOURCES, output, force=True, keep_runs=2)).run_id
           for _ in range(3)]
    remaining = sorted(p.name for p in (output / "runs").iterdir())
    assert remaining == sorted(ids[1:])
    assert os.readlink(output / "latest") == f"runs/{ids[2]}"
    manifest = json.loads((output / "latest" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["previous_run_id"] == ids[1]


def test_retention_removes_the_dry_run_outbox_and_delivery_records_of_removed_runs(
        tmp_path: Path) -> None:
    """A dry-run delivery writes each run's e-mails to output/outbox/<run-id>/: they go
    with their run, never pile up week after week (the operators' own folder stays)."""
    from tests.test_faults import run_cli

    config = tmp_path / "agreement-reports.toml"
    config.write_text(
        f'sources = "{BUNDLED_SOURCES}"\noutput = "output"\nkeep_runs = 2\n[delivery]\n'
        'dry_run = true\nsender = "briefings@example.org"\n[[delivery.recipients]]\n'
        'email = "reader@example.org"\nbriefings = ["overview"]\n', encoding="utf-8")
    output = tmp_path / "output"
    (output / "outbox" / "operators").mkdir(parents=True)
    for _ in range(3):
        done = run_cli("run", "--force", "--config", str(config))
        assert done.returncode == 0, done.stderr
    runs = sorted(p.name for p in (output / "runs").iterdir())
    assert len(runs) == 2
    assert sorted(p.name for p in (output / "outbox").iterdir()) == [*runs, "operators"]
    assert all(any((output / "outbox" / r).glob("*.eml")) for r in runs)
    assert sorted(p.name for p in (output / "deliveries").iterdir()) == runs


def test_the_snapshot_is_the_json_of_the_data_and_reads_back_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from reports import snapshot
    from reports.sources import read_sources
    from reports.validate import validate

    data, _ = validate(read_sources(BUNDLED_SOURCES))
    assert data is not None
    snap = snapshot.snapshot(data)
    monkeypatch.setattr(snapshot, "SNAPSHOT_CHUNK", 2)  # several chunks per table, even here
    (tmp_path / "run").mkdir()
    path = snapshot.write_snapshot(snapshot.Snapshot(data), tmp_path / "run")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    assert text == json.dumps(snap, ensure_ascii=False, sort_keys=True)
    assert snapshot.read_snapshot(tmp_path / "run") == snap
    assert len(snap["agreements"]) == 8  # 7 agreements and 1 discussion, by hand


def test_a_forked_writer_that_dies_is_a_clear_error_not_a_hang() -> None:
    from reports.errors import ReportsError

    # what an operator sees if the kernel kills the workbook writer (out of memory, say)
    with processes.Job(lambda: os._exit(9), background=True) as job, \
            pytest.raises(ReportsError, match=r"stopped without a result \(exit code 9\)"):
        job.result()
    with processes.Job(lambda: 41 + 1, background=True) as job:
        assert job.result() == 42

    def fails() -> None:
        raise ValueError("bad cell")

    # an error in the child is raised here, and --debug still shows where it happened
    with processes.Job(fails, background=True) as job, \
            pytest.raises(ValueError, match="bad cell") as raised:
        job.result()
    assert "in fails" in "".join(raised.value.__notes__)


def test_work_that_can_wait_runs_at_lower_priority(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot writer, once it has handed the changes over, and the briefing
    renderers yield the cores to the workbook writer, which finishes a routine run; the
    snapshot writer still comes before the renderers, so that its copy of the data is
    gone before theirs is made (the run's peak memory would hold both)."""
    from reports import snapshot
    from reports.briefings import build_briefings
    from reports.model import Model
    from reports.render import pdf
    from reports.sources import read_sources
    from reports.validate import validate

    here = os.getpriority(os.PRIO_PROCESS, 0)

    def job() -> Iterator[int]:
        yield os.getpriority(os.PRIO_PROCESS, 0)
        return os.getpriority(os.PRIO_PROCESS, 0)

    with processes.Job[int](job, background=True, staged=True,
                            nicer_after_first=processes.BACKGROUND_NICENESS) as staged:
        assert staged.first() == here
        assert staged.result() == min(here + processes.BACKGROUND_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == here  # never this process

    data, _ = validate(read_sources(BUNDLED_SOURCES))
    assert data is not None
    model = Model(data)
    briefings = build_briefings(model, "2024-11-30")[:pdf.PARALLEL_FROM]
    render = pdf._render

    def niceness_as_pages(b: object, path: Path) -> pdf.Rendered:
        return render(b, path)._replace(pages=os.getpriority(os.PRIO_PROCESS, 0))  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as m:  # inherited by the forked workers
        m.setattr(pdf, "_render", niceness_as_pages)
        done = pdf.render_briefings(briefings, tmp_path, workers=2)
    assert {r.pages for r in done.values()} == {min(here + processes.RENDER_NICENESS, 19)}

    # in a real run: the snapshot writer writes at its own priority, forked
    write = snapshot.write_snapshot
    seen = tmp_path / "snapshot-writer-niceness"

    def noting_niceness(*args: object, **kwargs: object) -> Path:
        seen.write_text(f"{os.getpid()} {os.getpriority(os.PRIO_PROCESS, 0)}")
        return write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot, "write_snapshot", noting_niceness)
    monkeypatch.setattr(pipeline, "BACKGROUND_FROM", 0)
    result = pipeline.run(settings_for(BUNDLED_SOURCES, tmp_path / "output", workers=2))
    assert result.outcome == "published"
    pid, niceness = map(int, seen.read_text().split())
    assert pid != os.getpid()
    assert here < niceness == min(here + processes.SNAPSHOT_NICENESS, 19)
    assert processes.SNAPSHOT_NICENESS < processes.RENDER_NICENESS


@pytest.mark.parametrize("background", [True, False])
def test_a_job_with_an_inbox_starts_first_and_gets_its_value_later(background: bool) -> None:
    """The workbook writer starts before the changes are known and is given them later:
    forked or in-process, the job gets exactly the value sent."""
    def job(later: Callable[[], object]) -> tuple[int, object]:
        return os.getpid(), later()

    with processes.Job[tuple[int, object]](job, background=background, inbox=True) as started:
        started.send({"changes": [1, 2]})
        pid, value = started.result()
    assert value == {"changes": [1, 2]}
    assert (pid != os.getpid()) == background


def test_a_job_waiting_for_its_inbox_is_stopped_with_the_run_and_its_death_is_one_line(
        ) -> None:
    """A run that fails before it sends (the snapshot writer died) leaves no workbook
    writer waiting behind it; one that dies while waiting fails the run in one line."""
    from reports.errors import ReportsError

    def waits(later: Callable[[], object]) -> object:
        return later()

    with pytest.raises(RuntimeError, match="snapshot writer died"), \
            processes.Job[object](waits, background=True, inbox=True) as waiting:
        child = waiting._process
        raise RuntimeError("snapshot writer died")
    assert child is not None and not child.is_alive()

    def dies(later: Callable[[], object]) -> object:
        os._exit(7)

    with processes.Job[object](dies, background=True, inbox=True,
                               name="workbook writer") as dying:
        dying.send("changes")  # to a job already gone: never an error here
        with pytest.raises(ReportsError,
                           match=r"the workbook writer stopped without a result \(exit code 7"):
            dying.result()


def test_the_workbook_begins_before_the_changes_are_known_and_still_shows_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A routine run forks the workbook writer as soon as the figures are made, while
    the snapshot writer still looks for the changes; its Changes sheet is the same."""
    from python_calamine import CalamineWorkbook

    from reports import snapshot
    from reports.render import xlsx

    sources = copy_bundled(tmp_path / "sources")
    output = tmp_path / "output"
    monkeypatch.setattr(pipeline, "BACKGROUND_FROM", 0)
    assert pipeline.run(settings_for(sources, output, workers=2)).outcome == "published"
    set_cell(sources, "agreements", 2, "title", "A new title")
    began, seen = tmp_path / "workbook-began", tmp_path / "seen-by-compare"
    tables, compare = xlsx._tables, snapshot.compare

    def noting_tables(*args: object) -> object:  # in the workbook writer
        began.touch()
        return tables(*args)  # type: ignore[arg-type]

    def compare_after_the_workbook_began(*args: object) -> object:  # in the snapshot writer
        deadline = time.monotonic() + 60
        while not began.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.write_text(str(began.exists()))
        return compare(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(xlsx, "_tables", noting_tables)
    monkeypatch.setattr(snapshot, "compare", compare_after_the_workbook_began)
    result = pipeline.run(settings_for(sources, output, workers=2))
    assert result.outcome == "published" and result.changes == 1
    assert seen.read_text() == "True"
    book = CalamineWorkbook.from_path(str(output / "latest" / "agreements.xlsx"))
    rows = book.get_sheet_by_name("Changes").to_python()
    assert rows[0][:4] == ["change", "table", "id", "field"]
    assert [r[:2] + r[3:4] + r[5:6] for r in rows[1:]] == [
        ["changed", "agreements", "title", "A new title"]]


@pytest.mark.parametrize("background", [True, False])
def test_a_staged_job_hands_its_first_value_over_early_and_its_failures_are_raised(
        tmp_path: Path, background: bool) -> None:
    """The snapshot's process hands the changes over before it writes the snapshot: the
    run goes on with them at once, and a failure or death afterwards still fails the run
    (complete or nothing), in a child process or in-process alike."""
    from reports.errors import ReportsError

    written = tmp_path / "written"

    def job() -> Iterator[str]:
        yield "changes"
        written.write_text("snapshot")
        return "done"

    with processes.Job[str](job, background=background, staged=True) as staged:
        assert staged.first() == "changes"
        assert staged.result() == "done"
    assert written.read_text() == "snapshot"

    def dies_after() -> Iterator[str]:
        yield "changes"
        os._exit(9)

    if background:
        with processes.Job[None](dies_after, background=True, staged=True) as staged:
            assert staged.first() == "changes"
            with pytest.raises(ReportsError, match=r"stopped without a result \(exit code 9"):
                staged.result()

    def fails_before() -> Iterator[str]:
        raise ValueError("damaged data")
        yield "never"

    with processes.Job[None](fails_before, background=background, staged=True) as staged:
        with pytest.raises(ValueError, match="damaged data"):
            staged.first()
        if background:  # and result() says the same, never waits for a value
            with pytest.raises(ValueError, match="damaged data"):
                staged.result()


def test_a_data_set_without_agreements_is_published_with_a_workbook_that_says_so(
        tmp_path: Path) -> None:
    """A curator starting a new register: parties and themes, no agreement yet. The
    workbook's per-ministry and party × theme tables used to stop the run with a
    KeyError."""
    from tests.datasets import write_table

    sources = copy_bundled(tmp_path / "sources")
    for table in ("agreements", "participation", "targets"):
        header = list(read_table(sources, table)[0])
        write_table(sources, table, [], header)
    result = pipeline.run(Settings(sources=sources, output=tmp_path / "output", workers=1))
    assert result.outcome == "published"
    assert result.manifest is not None
    assert result.manifest["counts"]["agreements"] == 0
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(result.folder / "agreements.xlsx"))
    header, *ministries = book.get_sheet_by_name("ByMinistry").to_python()
    assert ministries and all(row[header.index("Agreements")] == 0 for row in ministries)
    assert (book.get_sheet_by_name("PartyThemes").to_python()[1][0]
            == "No party takes part in an agreement")

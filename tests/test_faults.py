"""Exactly once under faults: a misbehaving mail server, killed processes, damaged files.

Each test injects one fault a real operator meets, then does what that operator would
do next (the next `run`, or `deliver --run`), and checks what the recipients got, what
history.jsonl says, that no process of the job is left and that the lock is free.
"""

from __future__ import annotations

import email.message
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import reports.deliver
from reports import pipeline
from reports.config import DeliverySettings, Recipient, Settings
from reports.deliver import deliver_run
from tests.conftest import BUNDLED_SOURCES, ROOT
from tests.faulty_smtp import FaultySMTP, faulty_smtp_fixture  # noqa: F401

ANALYST = "analyst@example.org"
AIC = "aic-partners@example.org"
ALL = "everything@example.org"
RECIPIENTS = (
    Recipient(ANALYST, ("overview", "theme:smes", "ministry:*")),
    Recipient(AIC, ("company:aic",)),
    Recipient(ALL, ("overview", "company:*", "theme:*")),
)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports.deliver, "BACKOFF_SECONDS", 0.01)


def settings_for(server: FaultySMTP, tmp_path: Path, recipients: tuple[Recipient, ...] = (
        RECIPIENTS), **delivery: object) -> Settings:
    return Settings(sources=BUNDLED_SOURCES, output=tmp_path / "output", workers=1,
                    delivery=DeliverySettings(smtp_host="127.0.0.1", smtp_port=server.port,
                                              sender="briefings@example.org",
                                              recipients=recipients, **delivery))


def history(output: Path) -> list[dict]:
    """Every line of history.jsonl parsed: a line that does not parse fails the test."""
    return [json.loads(line) for line in (output / "history.jsonl").read_text().splitlines()]


def parts_of(messages: list[email.message.EmailMessage]) -> list[str]:
    """Each message's part, as its subject numbers it ('1/4'), or '1/1'."""
    out = []
    for msg in messages:
        subject = str(msg["Subject"])
        out.append(subject.rsplit("(", 1)[1].rstrip(")") if subject.endswith(")") else "1/1")
    return out


def assert_each_part_once(server: FaultySMTP, address: str, parts: int) -> None:
    """Every part reached the recipient exactly once, each with its own Message-ID."""
    got = parts_of(server.messages_to(address))
    assert sorted(got) == sorted(f"{n}/{parts}" for n in range(1, parts + 1)), got
    ids = server.message_ids(address)
    assert len(set(ids)) == len(ids) == parts


# -- the mail server ---------------------------------------------------------------------

def test_a_dropped_message_is_retried_alone_and_parts_before_it_are_not_sent_again(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    # 0.03 MB per message: the analyst's five briefings go in several messages
    settings = settings_for(faulty_smtp, tmp_path, (RECIPIENTS[0],), max_attachments_mb=0.03)
    faulty_smtp.faults.drop_at_data = {3}
    result = pipeline.run(settings)
    assert result.deliveries == {ANALYST: "sent"}
    parts = len(faulty_smtp.messages_to(ANALYST))
    assert parts >= 4
    assert_each_part_once(faulty_smtp, ANALYST, parts)
    sent = [h for h in history(settings.output) if h["event"] == "message"]
    assert len(sent) == parts


def test_a_server_that_keeps_dropping_leaves_the_rest_to_deliver_run_with_the_same_ids(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path, (RECIPIENTS[0],), max_attachments_mb=0.03)
    faulty_smtp.faults.drop_at_data = set(range(2, 100))  # only the first message gets in
    result = pipeline.run(settings)
    assert result.deliveries == {ANALYST: "failed"}
    first = faulty_smtp.message_ids(ANALYST)
    assert len(first) == 1
    assert reports.deliver.unfinished_runs(settings.output) == {result.run_id}
    faulty_smtp.faults.clear()
    again = deliver_run(settings, result.run_id or "")
    assert again[ANALYST].startswith("sent the ")
    parts = len(faulty_smtp.messages_to(ANALYST))
    assert_each_part_once(faulty_smtp, ANALYST, parts)
    assert faulty_smtp.message_ids(ANALYST)[0] == first[0]
    # the Message-ID a retry would carry is the one of the first try
    assert deliver_run(settings, result.run_id or "") == {ANALYST: "already sent"}
    assert reports.deliver.unfinished_runs(settings.output) == set()


def test_a_421_to_quit_after_the_server_accepted_the_data_counts_as_sent(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path)
    faulty_smtp.faults.quit_421 = True
    result = pipeline.run(settings)
    assert result.deliveries == {r.email: "sent" for r in RECIPIENTS}
    for recipient in RECIPIENTS:
        assert len(faulty_smtp.messages_to(recipient.email)) == 1
    assert not [h for h in history(settings.output) if h.get("outcome") == "failed"]


def test_a_dry_run_is_recorded_as_written_and_the_real_delivery_still_sends(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path)
    assert settings.delivery is not None
    quiet = replace(settings, delivery=replace(settings.delivery, dry_run=True))
    result = pipeline.run(quiet)
    run_id = result.run_id or ""
    assert not faulty_smtp.accepted
    for outcome in result.deliveries.values():
        assert outcome.startswith("written to outbox/" + run_id + "/")
        assert "sent" not in outcome
    assert deliver_run(settings, run_id, dry_run=True) == {
        r.email: "already written" for r in RECIPIENTS}
    assert deliver_run(settings, run_id) == {r.email: "sent" for r in RECIPIENTS}
    for recipient in RECIPIENTS:
        assert len(faulty_smtp.messages_to(recipient.email)) == 1
    assert {h["outcome"] for h in history(settings.output) if h["event"] == "delivery"} == {
        "written", "sent"}


def test_a_trickling_server_is_cut_off_at_timeout_s(faulty_smtp: FaultySMTP,
                                                    tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path, (RECIPIENTS[1],), timeout_s=1.5)
    faulty_smtp.faults.trickle_s = 0.2  # a byte every 0.2 s: no single read ever times out
    result = pipeline.run(settings)
    assert result.outcome == "published"
    assert result.deliveries == {AIC: "failed"}
    failed = [h for h in history(settings.output) if h.get("outcome") == "failed"]
    assert "timeout_s = 1.5 s" in failed[-1]["reason"]
    faulty_smtp.faults.clear()
    assert pipeline.run(settings).deliveries == {AIC: "sent"}  # the next run finishes it


def test_a_server_that_hangs_after_data_is_cut_off_and_the_next_run_delivers(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path, (RECIPIENTS[1],), timeout_s=1)
    faulty_smtp.faults.hang_at_data = True
    first = pipeline.run(settings)
    assert first.deliveries == {AIC: "failed"}
    faulty_smtp.faults.clear()
    again = pipeline.run(settings)  # unchanged data: nothing to publish, the delivery goes on
    assert again.outcome == "unchanged"
    assert again.deliveries == {AIC: "sent"}
    assert len(faulty_smtp.messages_to(AIC)) == 1
    assert pipeline.run(settings).deliveries == {AIC: "already sent"}
    assert len(faulty_smtp.messages_to(AIC)) == 1


# -- a damaged history ---------------------------------------------------------------------

def test_a_torn_last_line_of_history_is_never_glued_to_the_next_record(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path, (RECIPIENTS[1],))
    first = pipeline.run(settings)
    with (settings.output / "history.jsonl").open("a") as handle:
        handle.write('{"event": "delivery", "run_id": "' + (first.run_id or ""))  # torn
    assert deliver_run(settings, first.run_id or "") == {AIC: "already sent"}
    assert pipeline.run(replace(settings, force=True)).deliveries == {AIC: "unchanged"}
    assert len(faulty_smtp.messages_to(AIC)) == 1
    lines = (settings.output / "history.jsonl").read_text().splitlines()
    damaged = [line for line in lines if not line.endswith("}")]
    assert len(damaged) == 1  # the torn line stays alone; every other line parses
    for line in lines:
        if line not in damaged:
            json.loads(line)


def test_binary_garbage_in_history_neither_hides_a_published_run_nor_breaks_status(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path, (RECIPIENTS[1],))
    settings.output.mkdir(parents=True)
    (settings.output / "history.jsonl").write_bytes(b"\x00\xff\xfe garbage \x80\n\xc3(")
    result = pipeline.run(settings)
    assert result.outcome == "published"
    assert result.deliveries == {AIC: "sent"}
    config = tmp_path / "agreement-reports.toml"
    config.write_text('output = "output"\n', encoding="utf-8")
    status = run_cli("status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert [line for line in status.stdout.splitlines()
            if " published " in line and str(result.run_id) in line]
    assert "Traceback" not in status.stderr


# -- killed processes ----------------------------------------------------------------------

def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _as_from_a_terminal() -> None:
    # a test runner started in the background inherits SIGINT ignored, and Python then
    # keeps ignoring it: the job is started as a terminal would start it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reports", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=_as_from_a_terminal)


def children(pid: int) -> set[int]:
    """Every descendant process of `pid` (Linux /proc)."""
    out: set[int] = set()
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return out
    for child in map(int, text.split()):
        out |= {child, *children(child)}
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def config_file(tmp_path: Path, sources: Path, port: int | None = None,
                **delivery: object) -> Path:
    text = f'sources = "{sources}"\noutput = "output"\n'
    if port is not None:
        text += (f'[delivery]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
                 'sender = "briefings@example.org"\n')
        text += "".join(f"{k} = {json.dumps(v)}\n" for k, v in delivery.items())
        for r in RECIPIENTS:
            text += (f'[[delivery.recipients]]\nemail = "{r.email}"\n'
                     f"briefings = {json.dumps(list(r.briefings))}\n")
    path = tmp_path / "agreement-reports.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def synthetic_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 agreements: the workbook is written in a forked process while workers render."""
    from tests.datasets import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("syn") / "sources", pipeline.BACKGROUND_FROM)


def stop_job(job: subprocess.Popen, sig: signal.Signals) -> str:
    """Send `sig` to the job's main process (if it still runs) and wait for it; every
    process it had started must be gone within seconds. Returns its stderr."""
    family = children(job.pid)
    try:
        if job.poll() is None:
            os.kill(job.pid, sig)
        _, stderr = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
    wait_for(lambda: not any(alive(pid) for pid in family), 10, "every child to exit")
    return stderr


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_run_killed_while_briefings_render_leaves_no_process_and_a_free_lock(
        synthetic_sources: Path, tmp_path: Path, sig: signal.Signals) -> None:
    config = config_file(tmp_path, synthetic_sources)
    output = tmp_path / "output"
    job = start_cli("run", "--config", str(config), "--workers", "2")
    # render workers (and the workbook writer, unless it is done already)
    wait_for(lambda: len(children(job.pid)) >= 2 or job.poll() is not None, 300,
             "the render workers")
    assert job.poll() is None, job.communicate()
    stderr = stop_job(job, sig)
    # the signal may land after publication: then the run is there, whole
    assert_latest_complete_or_absent(output)
    if sig == signal.SIGTERM and job.returncode != 0:
        assert job.returncode == 130
        assert "Traceback" not in stderr
        assert history(output)[-1]["outcome"] == "interrupted"
        assert not [p for p in output.iterdir() if p.name.startswith(".staging-")]
    # the lock is free: the next run (on the small bundled data) publishes
    (tmp_path / "agreement-reports.toml").write_text(
        f'sources = "{BUNDLED_SOURCES}"\noutput = "output"\n', encoding="utf-8")
    done = run_cli("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert (output / "latest" / "manifest.json").is_file()
    assert not [p for p in output.iterdir() if p.name.startswith(".staging-")]


def assert_latest_complete_or_absent(output: Path) -> None:
    """`latest` is absent or a run whose every listed file is there with its bytes."""
    import hashlib

    if not (output / "latest").exists():
        return
    manifest = json.loads((output / "latest" / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (output / "latest" / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]


@pytest.mark.parametrize("stage", ["load", "validate", "summaries", "briefings",
                                   "workbook wait", "publish"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_run_killed_at_any_stage_is_complete_or_absent_and_the_next_run_goes_ahead(
        synthetic_sources: Path, tmp_path: Path, stage: str, sig: signal.Signals) -> None:
    config = config_file(tmp_path, synthetic_sources)
    output = tmp_path / "output"
    job = start_cli("run", "--config", str(config), "--workers", "2", "--debug")
    assert job.stderr is not None
    for line in job.stderr:  # the debug log names each stage as it starts
        if f"stage {stage} started" in line:
            break
    stderr = stop_job(job, sig)
    assert_latest_complete_or_absent(output)
    if sig == signal.SIGTERM and job.returncode == 130:
        assert "Traceback" not in stderr
        assert history(output)[-1]["outcome"] == "interrupted"
    history(output)  # every line parses
    (tmp_path / "agreement-reports.toml").write_text(
        f'sources = "{BUNDLED_SOURCES}"\noutput = "output"\n', encoding="utf-8")
    done = run_cli("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert_latest_complete_or_absent(output)
    assert not [p for p in output.iterdir() if p.name.startswith(".staging-")]


def test_ctrl_c_during_a_run_is_recorded_as_interrupted(
        synthetic_sources: Path, tmp_path: Path) -> None:
    config = config_file(tmp_path, synthetic_sources)
    job = start_cli("run", "--config", str(config), "--workers", "2", "--debug")
    assert job.stderr is not None
    for line in job.stderr:  # rendering takes seconds from here: the run is not done
        if "stage briefings started" in line:
            break
    wait_for(lambda: len(children(job.pid)) >= 2 or job.poll() is not None, 300,
             "the render workers")
    stderr = stop_job(job, signal.SIGINT)
    assert job.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert history(tmp_path / "output")[-1]["outcome"] == "interrupted"


def test_killed_after_the_first_recipient_the_next_run_serves_the_others_once(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    config = config_file(tmp_path, BUNDLED_SOURCES, faulty_smtp.port)
    output = tmp_path / "output"
    faulty_smtp.faults.hang_from_data = 2  # the second recipient's message never gets an answer
    job = start_cli("run", "--config", str(config))
    try:
        wait_for(lambda: len(list((output / "deliveries").glob("*/*.sent.json"))) == 1, 60,
                 "the first recipient to be recorded")
        os.kill(job.pid, signal.SIGKILL)
        job.communicate(timeout=30)
    finally:
        if job.poll() is None:
            job.kill()
    published = [h for h in history(output) if h["event"] == "run"]
    assert [h["outcome"] for h in published] == ["published"]
    faulty_smtp.faults.clear()
    done = run_cli("run", "--config", str(config))  # unchanged data: it finishes the delivery
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stdout
    for recipient in RECIPIENTS:
        assert len(faulty_smtp.messages_to(recipient.email)) == 1, recipient.email
    again = run_cli("deliver", "--run", published[0]["run_id"], "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already sent") == 3
    assert len(faulty_smtp.accepted) == 3


# -- a damaged previous run, a stray latest, staging -------------------------------------

def bundled_copy(tmp_path: Path) -> tuple[Path, Path]:
    from tests.datasets import copy_bundled

    return copy_bundled(tmp_path / "sources"), tmp_path / "output"


def rewrite_snapshot(output: Path, value: object) -> None:
    import gzip

    path = output / "latest" / "data" / "snapshot.json.gz"
    path.write_bytes(gzip.compress(json.dumps(value).encode()))


@pytest.mark.parametrize("damage", ["tables renamed", "a JSON list", "not gzip"])
def test_a_damaged_snapshot_is_reported_and_no_change_is_invented(
        tmp_path: Path, damage: str) -> None:
    from reports.snapshot import snapshot
    from tests.datasets import set_cell

    sources, output = bundled_copy(tmp_path)
    pipeline.run(Settings(sources=sources, output=output, workers=1))
    if damage == "tables renamed":
        data, _ = __import__("reports.validate", fromlist=["validate"]).validate(
            __import__("reports.sources", fromlist=["read_sources"]).read_sources(sources))
        rewrite_snapshot(output, {f"old-{k}": v for k, v in snapshot(data).items()})
    elif damage == "a JSON list":
        rewrite_snapshot(output, [1, 2, 3])
    else:
        (output / "latest" / "data" / "snapshot.json.gz").write_bytes(b"not gzip at all")
    set_cell(sources, "agreements", 2, "title", "A new title")
    result = pipeline.run(Settings(sources=sources, output=output, workers=1))
    assert result.outcome == "published"
    assert result.changes is None and result.not_compared
    assert any("cannot be read" in str(w) for w in result.warnings)
    manifest = result.manifest or {}
    assert manifest["changes"] is None and manifest["previous_run_id"] is None
    for entry in manifest["files"]:
        if entry["kind"] == "briefing":
            assert entry["changes"] == [pipeline.UNREADABLE_LINE], entry["path"]
    # the workbook, begun before the changes were looked for, says so too
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(output / "latest" / "agreements.xlsx"))
    quality = [" ".join(map(str, r)) for r in book.get_sheet_by_name("DataQuality").to_python()]
    assert sum("cannot be read" in r for r in quality) == 1
    assert book.get_sheet_by_name("Changes").to_python()[1][0] == "No earlier run to compare with"


def test_latest_as_a_real_folder_is_an_error_and_no_run_is_moved_into_runs(
        tmp_path: Path) -> None:
    output = tmp_path / "output"
    (output / "latest").mkdir(parents=True)
    (output / "latest" / "notes.txt").write_text("the user's own\n")
    config = config_file(tmp_path, BUNDLED_SOURCES)
    for _ in range(2):
        done = run_cli("run", "--config", str(config))
        assert done.returncode == 4, done.stderr
        assert "latest is a folder, not the link this job keeps there" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not (output / "runs").exists() or not list((output / "runs").iterdir())
    assert (output / "latest" / "notes.txt").read_text() == "the user's own\n"


def test_only_the_jobs_own_staging_is_removed_and_stale_staging_goes_on_unchanged_runs(
        tmp_path: Path) -> None:
    from reports.publish import STAGING_MARK

    sources, output = bundled_copy(tmp_path)
    settings = Settings(sources=sources, output=output, workers=1)
    pipeline.run(settings)
    mine = output / ".staging-mydata"
    mine.mkdir()
    (mine / "keep.csv").write_text("a,b\n")
    stale = output / ".staging-20240101-000000-deadbeef"  # a killed run's
    stale.mkdir()
    (stale / STAGING_MARK).write_bytes(b"")
    (stale / "agreements.xlsx").write_bytes(b"half a workbook")
    assert pipeline.run(settings).outcome == "unchanged"
    assert not stale.exists()
    assert (mine / "keep.csv").read_text() == "a,b\n"


def test_without_fork_the_results_are_the_same(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    import reports.render.pdf

    # a platform without fork (macOS' default, Windows): spawn is what there is
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(pipeline, "BACKGROUND_FROM", 0)  # the workbook would be forked
    sources, output = bundled_copy(tmp_path)
    settings = Settings(sources=sources, output=output, workers=2)  # spawned render workers
    first = pipeline.run(settings)
    again = pipeline.run(replace(settings, force=True))
    assert again.changes == 0
    assert (first.manifest or {})["counts"] == (again.manifest or {})["counts"]
    briefings = {f["path"]: f["sha256"] for f in (first.manifest or {})["files"]
                 if f["kind"] == "briefing"}
    assert len(briefings) > reports.render.pdf.PARALLEL_FROM


# -- a full disk -----------------------------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 400 kB file system: a run's files do not fit (root only: mount)."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a small tmpfs: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_a_run_on_a_full_disk_fails_in_one_line_and_publishes_nothing(full_disk: Path) -> None:
    output = full_disk / "output"
    done = run_cli("run", "--sources", str(BUNDLED_SOURCES), "--output", str(output))
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("error: could not write the run")
    assert "No space left on device" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # the error, and perhaps history's
    assert not (output / "latest").exists()
    assert not [p for p in output.iterdir() if p.name.startswith(".staging-")]


def test_the_scheduler_survives_a_heartbeat_it_cannot_write(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from reports.config import ScheduleSettings
    from reports.scheduler import serve

    output = tmp_path / "output"
    output.mkdir()
    (output / ".scheduler.json.tmp").symlink_to("/dev/full")  # every write: ENOSPC
    runs: list[float] = []

    def run(_: Settings) -> object:
        runs.append(time.monotonic())
        if len(runs) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the scheduler stops after this run
        return None

    caplog.set_level(logging.INFO, logger="reports.scheduler")
    settings = Settings(output=output, schedule=ScheduleSettings("1 seconds", "UTC"))
    assert serve(settings, run_now=True, run=run) == 0
    assert len(runs) == 2
    errors = [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()]
    assert len(errors) == 1 and "No space left on device" in errors[0]


def test_runs_skipped_for_a_lock_held_far_too_long_alert_the_operators_once(
        tmp_path: Path) -> None:
    import datetime as dt

    from reports.errors import RunLocked
    from reports.scheduler import JobState, guarded

    settings = Settings(output=tmp_path / "output", delivery=DeliverySettings(
        operators=("ops@example.org",), dry_run=True))
    outbox = tmp_path / "output" / "outbox" / "operators"
    since = dt.datetime.now(dt.UTC)

    def locked(_: Settings) -> object:
        raise RunLocked("another run is already running (process 4242)", pid=4242,
                        since=since)

    state = JobState()
    job = guarded(settings, state, locked)
    job()
    assert not outbox.exists()  # held for a moment: an ordinary overlap
    since -= dt.timedelta(hours=3)
    job()
    job()
    [eml] = list(outbox.glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "agreement-reports: runs skipped, the lock is held too long"
    text = message.get_content()
    assert "4242" in text and "3 h 00 min" in text
    assert state.last_outcome == "skipped"


def test_a_published_run_is_on_disk_but_files_linked_from_the_last_run_are_not_synced_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Power may go at any moment after `latest` switched: every file written by the run
    is fsynced before, and every folder; a file linked from the last run (a briefing that
    stands) was synced when that run was published, and is not read again."""
    from reports import publish

    last = tmp_path / "last.pdf"
    last.write_bytes(b"published by the last run")
    staging = tmp_path / "staging"
    (staging / "briefings").mkdir(parents=True)
    (staging / "briefings" / "new.pdf").write_bytes(b"rendered by this run")
    os.link(last, staging / "briefings" / "kept.pdf")
    synced: list[str] = []
    real_open = os.open

    def recording_open(path: str | Path, flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        synced.append(os.path.relpath(os.path.realpath(path), staging))
        return fd

    monkeypatch.setattr(publish.os, "open", recording_open)
    publish._fsync_tree(staging)
    assert sorted(synced) == [".", "briefings", "briefings/new.pdf"]

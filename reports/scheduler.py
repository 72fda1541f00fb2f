"""Run the pipeline forever on the configured schedule, one boring line per run.

Built on the `schedule` library::

    scheduler = build_scheduler(settings, job)   # job() runs once
    loop(scheduler, settings)                    # until SIGTERM / SIGINT

A job that fails is logged and counted; it never stops the scheduler and never
re-fires on every tick (the wrapper catches it, so `schedule` books the next run).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import schedule

from .config import EVERY_RE, Settings
from .errors import ReportsError, RunLocked
from .problems import one_line

log = logging.getLogger(__name__)
STATE_FILE = "scheduler.json"


@dataclass
class JobState:
    runs: int = 0
    failures: int = 0
    last_outcome: str = ""
    last_run_id: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    alerted_lock: tuple[int | None, dt.datetime | None] | None = None  # holder told about
    state_error: str | None = None  # the heartbeat's last write error, logged once


# The lock counts as held "far longer than a run takes" past this many times the longest
# recent run, and never before this floor.
LOCK_ALERT_FACTOR = 10
LOCK_ALERT_FLOOR = dt.timedelta(minutes=30)


def lock_alert_after(settings: Settings) -> dt.timedelta:
    """How long the lock may be held before the operators are told: ten times the longest
    of the last 20 recorded runs, and at least 30 minutes."""
    from .publish import read_history

    durations = [float(r.get("duration_s") or 0) for r in read_history(settings.output)
                 if r.get("event") == "run" and r.get("outcome") == "published"][-20:]
    longest = dt.timedelta(seconds=max(durations, default=0) * LOCK_ALERT_FACTOR)
    return max(LOCK_ALERT_FLOOR, longest)


def _skipped(settings: Settings, state: JobState, exc: RunLocked) -> None:
    """A run was skipped: tell the operators once per holder when the lock looks stuck."""
    state.last_outcome = "skipped"
    if exc.since is None:
        log.warning("run skipped: %s", exc)
        return
    held = dt.datetime.now(dt.UTC) - exc.since
    limit = lock_alert_after(settings)
    if held <= limit:
        log.warning("run skipped: %s", exc)
        return
    holder = (exc.pid, exc.since)
    log.error("run skipped: %s; held for %s, longer than the %s a run may take",
              exc, _duration(held), _duration(limit))
    if state.alerted_lock != holder:
        state.alerted_lock = holder
        _notify(settings, f"Scheduled runs are being skipped: {exc}. It has been held for "
                          f"{_duration(held)}, far longer than a run takes. If that process "
                          "is stuck, stop it; the next scheduled run then goes ahead.",
                "agreement-reports: runs skipped, the lock is held too long")


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def add_job(scheduler: schedule.Scheduler, every: str, timezone: str,
            job: Callable[[], None]) -> schedule.Job:
    """Book `job` per an `every` string of the config, "at" times read in `timezone`."""
    match = EVERY_RE.match(every.strip().lower())
    if match is None:  # config has checked it; a clear error if called directly
        raise ValueError(f"{every!r} is not a schedule")
    if match["n"]:
        unit = match["unit"].rstrip("s") + "s"
        return getattr(scheduler.every(int(match["n"])), unit).do(job)
    day = match["day"]
    when = scheduler.every().day if day == "day" else getattr(scheduler.every(), day)
    return when.at(match["at"], timezone).do(job)


def guarded(settings: Settings, state: JobState,
            run: Callable[[Settings], object]) -> Callable[[], None]:
    """The job as `schedule` sees it: one run, every outcome logged, nothing raised."""

    def job() -> None:
        if state.stop.is_set():
            return
        started = time.monotonic()
        log.info("run started")
        try:
            result = run(settings)
        except RunLocked as exc:
            _skipped(settings, state, exc)
        except ReportsError as exc:
            state.failures += 1
            state.last_outcome = "failed"
            log.error("run failed after %.1fs: %s", time.monotonic() - started,
                      one_line(str(exc)))
            _notify(settings, f"The scheduled run failed: {exc}")
        except Exception as exc:  # a scheduler must outlive any failure of a run
            state.failures += 1
            state.last_outcome = "failed"
            # the traceback only for --debug: an operator's log gets one line a failure
            log.error("run failed after %.1fs: %s: %s", time.monotonic() - started,
                      type(exc).__name__, one_line(str(exc)),
                      exc_info=log.isEnabledFor(logging.DEBUG))
            _notify(settings, f"The scheduled run failed: {type(exc).__name__}: {exc}")
        else:
            state.runs += 1
            outcome = getattr(result, "outcome", "published")
            state.last_outcome = outcome
            state.last_run_id = getattr(result, "run_id", None)
            log.info("run %s in %.1fs: run id %s", outcome, time.monotonic() - started,
                     state.last_run_id)

    return job


def _notify(settings: Settings, reason: str, subject: str | None = None) -> None:
    if settings.delivery is None or not settings.delivery.operators:
        return
    from .deliver import notify_operators

    try:
        if subject is None:
            notify_operators(settings, reason)
        else:
            notify_operators(settings, reason, subject)
    except Exception as exc:
        log.error("could not tell the operators: %s", one_line(str(exc)))


def setup_logging(output: Path) -> None:
    """Console and a rotating file in output/logs/ (the CLI's job, never the library's)."""
    (output / "logs").mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        output / "logs" / "scheduler.log", maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)


def in_zone(moment: dt.datetime | None, timezone: str) -> str | None:
    """schedule's naive machine-local time, shown in the configured zone (operators read it)."""
    if moment is None:
        return None
    from zoneinfo import ZoneInfo

    return moment.astimezone().astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def write_state(output: Path, scheduler: schedule.Scheduler, state: JobState,
                settings: Settings) -> None:
    """The heartbeat `status` shows, replaced atomically; a failure to write it (a full
    disk) is logged once and never stops the scheduler."""
    try:
        _write_state(output, scheduler, state, settings)
    except OSError as exc:
        if state.state_error != str(exc):
            log.error("could not write the heartbeat %s: %s", output / STATE_FILE, exc)
        state.state_error = str(exc)
    else:
        if state.state_error is not None:
            log.info("heartbeat written again")
        state.state_error = None


def _write_state(output: Path, scheduler: schedule.Scheduler, state: JobState,
                 settings: Settings) -> None:
    next_run = scheduler.next_run
    record = {
        "pid": os.getpid(),
        "heartbeat": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "next_run": in_zone(next_run, settings.schedule.timezone),
        "every": settings.schedule.every, "timezone": settings.schedule.timezone,
        "runs": state.runs, "failures": state.failures, "last_outcome": state.last_outcome,
        "last_run_id": state.last_run_id,
    }
    output.mkdir(parents=True, exist_ok=True)
    temporary = output / f".{STATE_FILE}.tmp"
    temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(temporary, output / STATE_FILE)


def serve(settings: Settings, *, run_now: bool = False,
          run: Callable[[Settings], object] | None = None) -> int:
    """Run on the schedule until SIGTERM or SIGINT; a run in progress finishes first."""
    if run is None:
        from .pipeline import run as pipeline_run

        def run(s: Settings) -> object:
            return pipeline_run(s, trigger="schedule")

    # a log line that cannot be written (a full disk) is dropped, not printed as a traceback
    logging.raiseExceptions = False
    state = JobState()
    scheduler = schedule.Scheduler()
    job = guarded(settings, state, run)
    add_job(scheduler, settings.schedule.every, settings.schedule.timezone, job)

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        state.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("scheduler started: every %s (%s); next run %s", settings.schedule.every,
             settings.schedule.timezone, in_zone(scheduler.next_run, settings.schedule.timezone))
    try:
        if run_now:
            job()
        while not state.stop.is_set():
            scheduler.run_pending()
            write_state(settings.output, scheduler, state, settings)
            state.stop.wait(min(1.0, max(scheduler.idle_seconds or 1.0, 0.05)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        write_state(settings.output, scheduler, state, settings)
    log.info("scheduler stopped after %d run(s), %d failure(s)", state.runs, state.failures)
    return 0

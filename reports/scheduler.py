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

log = logging.getLogger(__name__)
STATE_FILE = "scheduler.json"


@dataclass
class JobState:
    runs: int = 0
    failures: int = 0
    last_outcome: str = ""
    last_run_id: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)


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
            state.last_outcome = "skipped"
            log.warning("run skipped: %s", exc)
        except ReportsError as exc:
            state.failures += 1
            state.last_outcome = "failed"
            log.error("run failed after %.1fs: %s", time.monotonic() - started,
                      str(exc).splitlines()[0])
            _notify_failure(settings, str(exc))
        except Exception as exc:  # a scheduler must outlive any failure of a run
            state.failures += 1
            state.last_outcome = "failed"
            log.exception("run failed after %.1fs: %s: %s", time.monotonic() - started,
                          type(exc).__name__, exc)
            _notify_failure(settings, f"{type(exc).__name__}: {exc}")
        else:
            state.runs += 1
            outcome = getattr(result, "outcome", "published")
            state.last_outcome = outcome
            state.last_run_id = getattr(result, "run_id", None)
            log.info("run %s in %.1fs: run id %s", outcome, time.monotonic() - started,
                     state.last_run_id)

    return job


def _notify_failure(settings: Settings, reason: str) -> None:
    if settings.delivery is None or not settings.delivery.operators:
        return
    from .deliver import notify_operators

    try:
        notify_operators(settings, reason)
    except Exception as exc:
        log.error("could not tell the operators: %s", exc)


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
    """The heartbeat `status` shows, replaced atomically."""
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

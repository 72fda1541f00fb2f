"""The scheduler outlives failures, books the right times, and stops cleanly."""

from __future__ import annotations

import datetime as dt
import logging
import time
import types

import pytest
import schedule

from reports.config import ScheduleSettings, Settings
from reports.errors import ConfigError, PublishError
from reports.scheduler import JobState, add_job, guarded


class FakeClock:
    """Stands in for the datetime module inside `schedule`; `now` moves only when told."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start  # aware, UTC
        clock = self

        class FakeDateTime(dt.datetime):
            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
                moment = clock.current.astimezone(tz) if tz else clock.current.astimezone()
                value = moment if tz else moment.replace(tzinfo=None)
                return cls.fromtimestamp(value.timestamp(), tz) if tz else cls(
                    *value.timetuple()[:6], value.microsecond)

        self.module = types.SimpleNamespace(datetime=FakeDateTime, timedelta=dt.timedelta,
                                            time=dt.time)

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    monkeypatch.setenv("TZ", "UTC")  # a UTC machine
    time.tzset()
    fake = FakeClock(dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC))  # a Wednesday
    monkeypatch.setattr(schedule, "datetime", fake.module)
    yield fake
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("every", "timezone", "expected"), [
    ("2 seconds", "Asia/Baku", dt.datetime(2026, 11, 25, 12, 0, 2)),
    ("15 minutes", "Asia/Baku", dt.datetime(2026, 11, 25, 12, 15)),
    ("6 hours", "Asia/Baku", dt.datetime(2026, 11, 25, 18, 0)),
    # 07:00 in Baku (UTC+4) is 03:00 on a UTC machine
    ("monday at 07:00", "Asia/Baku", dt.datetime(2026, 11, 30, 3, 0)),
    ("day at 07:00", "Asia/Baku", dt.datetime(2026, 11, 26, 3, 0)),
    ("day at 18:30", "Asia/Baku", dt.datetime(2026, 11, 25, 14, 30)),
    ("friday at 09:00", "Europe/London", dt.datetime(2026, 11, 27, 9, 0)),
])
def test_every_forms_and_time_zone_give_the_expected_next_run(
        clock: FakeClock, every: str, timezone: str, expected: dt.datetime) -> None:
    scheduler = schedule.Scheduler()
    job = add_job(scheduler, every, timezone, lambda: None)
    assert job.next_run == expected


def test_a_failing_run_is_logged_and_the_scheduler_goes_on(
        clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[dt.datetime] = []

    def flaky(_: Settings) -> object:
        calls.append(clock.current)
        if len(calls) == 1:
            raise PublishError("disk full")
        if len(calls) == 2:
            raise RuntimeError("a bug")
        return types.SimpleNamespace(outcome="published", run_id="20261125-120300-abcdef12")

    state = JobState()
    scheduler = schedule.Scheduler()
    add_job(scheduler, "1 minutes", "UTC", guarded(Settings(), state, flaky))
    caplog.set_level(logging.INFO, logger="reports.scheduler")
    for _ in range(3):
        clock.advance(minutes=1)
        scheduler.run_pending()
        scheduler.run_pending()  # a second tick at the same moment must not re-fire
    assert len(calls) == 3
    assert (state.failures, state.runs, state.last_run_id) == (2, 1, "20261125-120300-abcdef12")
    messages = [r.getMessage() for r in caplog.records]
    assert any("run failed" in m and "disk full" in m for m in messages)
    assert any("run failed" in m and "RuntimeError: a bug" in m for m in messages)
    assert any("run published" in m and "20261125-120300-abcdef12" in m for m in messages)


@pytest.mark.parametrize("every", ["every monday", "monday at 7", "0 seconds", "day at 25:00",
                                   "3 fortnights"])
def test_a_bad_every_is_a_configuration_error_naming_the_key(tmp_path, every: str) -> None:
    from reports.config import load_settings

    config = tmp_path / "agreement-reports.toml"
    config.write_text(f'[schedule]\nevery = "{every}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="schedule.every"):
        load_settings(config)


def test_a_bad_timezone_is_a_configuration_error(tmp_path) -> None:
    from reports.config import load_settings

    config = tmp_path / "c.toml"
    config.write_text('[schedule]\ntimezone = "Baku"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="schedule.timezone: 'Baku' is not an IANA"):
        load_settings(config)


def test_an_unknown_key_is_a_configuration_error_naming_it(tmp_path) -> None:
    from reports.config import load_settings

    config = tmp_path / "c.toml"
    config.write_text('keep_runs = 3\n[schedule]\nevry = "2 seconds"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="schedule.evry: unknown key"):
        load_settings(config)
    config.write_text('keep_runs = 3\n', encoding="utf-8")
    settings = load_settings(config)
    assert (settings.keep_runs, settings.schedule) == (3, ScheduleSettings())


def test_a_failed_scheduled_run_is_told_to_the_operators(tmp_path, clock: FakeClock) -> None:
    import email
    import email.policy

    from reports.config import DeliverySettings

    settings = Settings(output=tmp_path / "output", delivery=DeliverySettings(
        operators=("ops@example.org",), dry_run=True))

    def broken(_: Settings) -> object:
        raise PublishError("could not publish the run: No space left on device")

    state = JobState()
    guarded(settings, state, broken)()
    assert state.failures == 1
    [eml] = list((tmp_path / "output" / "outbox" / "operators").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ops@example.org"
    assert "No space left on device" in message.get_content()

"""Every bad configuration value is a ConfigError (exit 2) naming the key, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reports.config import load_settings
from reports.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEEP = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"

BAD = [
    # (name, TOML text, what the message must name)
    ("deeply_nested_array", DEEP, "nested too deeply"),
    ("deeply_nested_inline_table", "a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n",
     "nested too deeply"),
    # types: a list of tables, lists of strings
    ("recipients_a_number", "[delivery]\nrecipients = 5\n", "delivery.recipients:"),
    ("recipients_a_table", "[delivery.recipients]\nemail = 'a@example.org'\n",
     "delivery.recipients:"),
    ("recipient_a_string", "[delivery]\nrecipients = ['a@example.org']\n",
     "delivery.recipients[0]"),
    ("recipient_briefings_numbers",
     "[[delivery.recipients]]\nemail = 'a@example.org'\nbriefings = [1, 2]\n",
     "delivery.recipients[0].briefings:"),
    ("recipient_briefings_a_string",
     "[[delivery.recipients]]\nemail = 'a@example.org'\nbriefings = 'overview'\n",
     "delivery.recipients[0].briefings:"),
    ("recipient_email_a_number", "[[delivery.recipients]]\nemail = 5\n",
     "delivery.recipients[0].email:"),
    ("operators_a_string", "[delivery]\noperators = 'ops@example.org'\n", "delivery.operators:"),
    ("operators_holding_a_table", "[delivery]\noperators = [{a = 1}]\n", "delivery.operators:"),
    ("operators_holding_a_list", "[delivery]\noperators = [['ops@example.org']]\n",
     "delivery.operators:"),
    ("scopes_holding_a_number", "[briefings]\nscopes = ['overview', 1]\n", "briefings.scopes:"),
    ("scopes_holding_a_list", "[briefings]\nscopes = [['overview']]\n", "briefings.scopes:"),
    ("scopes_a_string", "[briefings]\nscopes = 'overview'\n", "briefings.scopes:"),
    ("sources_a_number", "sources = 5\n", "sources:"),
    ("output_a_list", "output = ['out']\n", "output:"),
    ("keep_runs_a_float", "keep_runs = 2.5\n", "keep_runs:"),
    ("keep_runs_a_bool", "keep_runs = true\n", "keep_runs:"),
    ("keep_runs_zero", "keep_runs = 0\n", "keep_runs:"),
    ("schedule_a_string", "schedule = 'daily'\n", "schedule:"),
    ("every_a_number", "[schedule]\nevery = 5\n", "schedule.every:"),
    ("timezone_a_number", "[schedule]\ntimezone = 4\n", "schedule.timezone:"),
    ("briefings_a_list", "briefings = ['overview']\n", "briefings:"),
    ("delivery_a_bool", "delivery = true\n", "delivery:"),
    ("smtp_host_a_number", "[delivery]\nsmtp_host = 127\n", "delivery.smtp_host:"),
    ("smtp_port_a_string", "[delivery]\nsmtp_port = '25'\n", "delivery.smtp_port:"),
    ("smtp_port_a_bool", "[delivery]\nsmtp_port = true\n", "delivery.smtp_port:"),
    ("starttls_a_string", "[delivery]\nstarttls = 'yes'\n", "delivery.starttls:"),
    ("dry_run_a_number", "[delivery]\ndry_run = 1\n", "delivery.dry_run:"),
    ("send_unchanged_a_number", "[delivery]\nsend_unchanged = 0\n",
     "delivery.send_unchanged:"),
    ("sender_a_list", "[delivery]\nsender = ['a@example.org']\n", "delivery.sender:"),
    ("max_attachments_mb_a_bool", "[delivery]\nmax_attachments_mb = true\n",
     "delivery.max_attachments_mb:"),
    # schedule.every: N from 1 up to 366 days (schedule overflowed on a huge N)
    ("every_huge", "[schedule]\nevery = '99999999999999999999 hours'\n", "schedule.every:"),
    ("every_over_4300_digits", "[schedule]\nevery = '1" + "0" * 5000 + " hours'\n",
     "schedule.every:"),
    ("every_367_days", "[schedule]\nevery = '8808 hours'\n", "schedule.every:"),
    ("every_zero_minutes", "[schedule]\nevery = '0 minutes'\n", "schedule.every:"),
    ("every_arabic_indic_digits", "[schedule]\nevery = '\u0663 hours'\n", "schedule.every:"),
    ("every_at_arabic_indic_digits", "[schedule]\nevery = 'day at \u0660\u0667:00'\n",
     "schedule.every:"),
    # schedule.timezone: names both zoneinfo and pytz (used by schedule's .at()) know
    ("timezone_localtime", "[schedule]\ntimezone = 'localtime'\n", "schedule.timezone:"),
    ("timezone_factory", "[schedule]\ntimezone = 'Factory'\n", "schedule.timezone:"),
    ("timezone_empty", "[schedule]\ntimezone = ''\n", "schedule.timezone:"),
    ("timezone_a_path", "[schedule]\ntimezone = '/etc/localtime'\n", "schedule.timezone:"),
    ("timezone_relative_path", "[schedule]\ntimezone = '../zoneinfo/UTC'\n",
     "schedule.timezone:"),
    ("timezone_wrong_case", "[schedule]\ntimezone = 'asia/baku'\n", "schedule.timezone:"),
    ("timezone_padded", "[schedule]\ntimezone = ' Asia/Baku'\n", "schedule.timezone:"),
    ("timezone_nul", '[schedule]\ntimezone = "UTC\\u0000"\n', "schedule.timezone:"),
    # numbers: ranges, and nan / inf (TOML allows them) refused for every float key
    ("smtp_port_too_big", "[delivery]\nsmtp_port = 99999\n", "delivery.smtp_port:"),
    ("smtp_port_zero", "[delivery]\nsmtp_port = 0\n", "delivery.smtp_port:"),
    ("smtp_port_negative", "[delivery]\nsmtp_port = -25\n", "delivery.smtp_port:"),
    ("smtp_port_a_float", "[delivery]\nsmtp_port = 25.0\n", "delivery.smtp_port:"),
    ("max_attachments_mb_negative", "[delivery]\nmax_attachments_mb = -5\n",
     "delivery.max_attachments_mb:"),
    ("max_attachments_mb_zero", "[delivery]\nmax_attachments_mb = 0.0\n",
     "delivery.max_attachments_mb:"),
    ("max_attachments_mb_nan", "[delivery]\nmax_attachments_mb = nan\n",
     "delivery.max_attachments_mb:"),
    ("max_attachments_mb_inf", "[delivery]\nmax_attachments_mb = inf\n",
     "delivery.max_attachments_mb:"),
    ("max_attachments_mb_huge", "[delivery]\nmax_attachments_mb = 1e308\n",
     "delivery.max_attachments_mb:"),
    ("max_attachments_mb_huge_int", "[delivery]\nmax_attachments_mb = 99999999999999999999\n",
     "delivery.max_attachments_mb:"),
    ("timeout_s_zero", "[delivery]\ntimeout_s = 0\n", "delivery.timeout_s:"),
    ("timeout_s_negative", "[delivery]\ntimeout_s = -1.5\n", "delivery.timeout_s:"),
    ("timeout_s_nan", "[delivery]\ntimeout_s = nan\n", "delivery.timeout_s:"),
    ("timeout_s_minus_nan", "[delivery]\ntimeout_s = -nan\n", "delivery.timeout_s:"),
    ("timeout_s_inf", "[delivery]\ntimeout_s = +inf\n", "delivery.timeout_s:"),
    ("timeout_s_over_an_hour", "[delivery]\ntimeout_s = 3600.5\n", "delivery.timeout_s:"),
    ("timeout_s_a_bool", "[delivery]\ntimeout_s = true\n", "delivery.timeout_s:"),
    ("timeout_s_a_string", "[delivery]\ntimeout_s = '120'\n", "delivery.timeout_s:"),
    ("timeout_s_a_list", "[delivery]\ntimeout_s = [120]\n", "delivery.timeout_s:"),
    # strings that every later use would refuse or misread
    ("integer_over_4300_digits", "keep_runs = 1" + "0" * 5000 + "\n", "not valid TOML"),
    ("sources_empty", "sources = ''\n", "sources:"),
    ("output_with_nul", 'output = "out\\u0000put"\n', "output:"),
    ("smtp_host_empty", "[delivery]\nsmtp_host = ''\n", "delivery.smtp_host:"),
    ("smtp_host_with_space", "[delivery]\nsmtp_host = 'mail example.org'\n",
     "delivery.smtp_host:"),
    ("sender_with_trailing_newline", '[delivery]\nsender = "a@example.org\\n"\n',
     "delivery.sender:"),
    ("sender_with_nul", '[delivery]\nsender = "a\\u0000@example.org"\n', "delivery.sender:"),
    ("operator_with_trailing_newline", '[delivery]\noperators = ["a@example.org\\n"]\n',
     "delivery.operators:"),
    ("max_attachments_mb_a_string", "[delivery]\nmax_attachments_mb = '20'\n",
     "delivery.max_attachments_mb:"),
]


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "agreement-reports.toml"
    config.write_text(text, encoding="utf-8")
    return config


@pytest.mark.parametrize(("text", "names"), [(t, n) for _, t, n in BAD],
                         ids=[name for name, _, _ in BAD])
def test_a_bad_value_is_a_configuration_error_naming_the_key(tmp_path: Path, text: str,
                                                              names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert names in str(caught.value)
    assert "\n" not in str(caught.value)


def validate_cli(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "reports", "validate", "--config", str(config)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                          check=False)


@pytest.mark.parametrize(("text", "names"), [
    (DEEP, "not valid TOML (nested too deeply)"),
    ("[delivery]\nrecipients = 5\n", "delivery.recipients: 5 is not a list of tables"),
    ("[schedule]\nevery = '99999999999999999999 hours'\n", "at most 366 days"),
    ("[delivery]\nsmtp_port = 99999\n", "delivery.smtp_port: 99999 is out of range"),
    ("[delivery]\ntimeout_s = nan\n", "delivery.timeout_s: nan is out of range"),
], ids=["deeply_nested_array", "recipients_a_number", "every_huge", "smtp_port_too_big",
        "timeout_s_nan"])
def test_the_cli_exits_2_with_one_line_naming_the_key(tmp_path: Path, text: str,
                                                       names: str) -> None:
    result = validate_cli(write(tmp_path, text))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and names in line


@pytest.mark.parametrize("every", ["1 second", "8784 hours", "527040 minutes",
                                   "31622400 seconds", "Monday at 07:00", "day at 23:59"])
def test_every_up_to_366_days_is_accepted_and_booked(tmp_path: Path, every: str) -> None:
    import schedule

    from reports.scheduler import add_job

    settings = load_settings(write(tmp_path, f"[schedule]\nevery = '{every}'\n"))
    assert settings.schedule.every == every.lower()
    job = add_job(schedule.Scheduler(), settings.schedule.every, settings.schedule.timezone,
                  lambda: None)
    assert job.next_run is not None


@pytest.mark.parametrize("timezone", ["Asia/Baku", "Europe/London", "UTC", "America/New_York"])
def test_an_iana_timezone_is_accepted_and_books_an_at_job(tmp_path: Path, timezone: str) -> None:
    import schedule

    from reports.scheduler import add_job

    settings = load_settings(write(tmp_path, f"[schedule]\nevery = 'day at 07:00'\n"
                                             f"timezone = '{timezone}'\n"))
    assert settings.schedule.timezone == timezone
    job = add_job(schedule.Scheduler(), settings.schedule.every, timezone, lambda: None)
    assert job.next_run is not None


@pytest.mark.parametrize(("text", "timeout_s"), [
    ("", 120), ("timeout_s = 30\n", 30), ("timeout_s = 0.5\n", 0.5),
    ("timeout_s = 3600\n", 3600), ("timeout_s = 3600.0\n", 3600.0),
])
def test_delivery_timeout_s_loads(tmp_path: Path, text: str, timeout_s: float) -> None:
    settings = load_settings(write(tmp_path, "[delivery]\nsmtp_port = 587\n"
                                             "max_attachments_mb = 0.5\n" + text))
    assert settings.delivery is not None
    assert settings.delivery.timeout_s == timeout_s
    assert (settings.delivery.smtp_port, settings.delivery.max_attachments_mb) == (587, 0.5)


def test_edge_values_load(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[delivery]\nsmtp_port = 65535\n"
                                             "max_attachments_mb = 10240\ntimeout_s = 1e-3\n"))
    assert settings.delivery is not None
    assert (settings.delivery.smtp_port, settings.delivery.max_attachments_mb,
            settings.delivery.timeout_s) == (65535, 10240, 0.001)


def test_a_newline_in_the_config_file_name_keeps_the_error_on_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad\nname.toml"
    config.write_text("keep_runs = 0\n", encoding="utf-8")
    result = validate_cli(config)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line == f"error: {tmp_path}/bad\\nname.toml: keep_runs: 0 is not at least 1"

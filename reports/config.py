"""Settings from the TOML file, the environment and the command line, as one frozen object."""

from __future__ import annotations

import hashlib
import json
import math
import re
import reprlib
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_CONFIG_NAME = "agreement-reports.toml"
EVERY_RE = re.compile(
    r"^(?:(?P<n>[0-9]{1,9}) (?P<unit>seconds?|minutes?|hours?)"
    r"|(?P<day>day|monday|tuesday|wednesday|thursday|friday|saturday|sunday) at "
    r"(?P<at>[0-9]{2}:[0-9]{2}))$")
EVERY_FORMS = '"N seconds", "N minutes", "N hours", "day at HH:MM" or "<weekday> at HH:MM"'
LONGEST_EVERY_S = 366 * 24 * 3600  # "N units" longer than this is a typo (and can overflow)
UNIT_S = {"second": 1, "minute": 60, "hour": 3600}
SCOPES = ("overview", "ministry", "company", "party", "country", "theme")
EMAIL_RE = re.compile(r"^[^@\s<>\"\x00-\x1f\x7f]+@[^@\s<>\"\x00-\x1f\x7f]+"
                      r"\.[^@\s<>\"\x00-\x1f\x7f]+\Z")
HOST_RE = re.compile(r"^[^\s/@\x00-\x1f\x7f]+\Z")  # a name, an IPv4 or an IPv6 address
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 60
_SHOW.maxlist = _SHOW.maxdict = 4
_SHOW.maxlevel = 3


def _show(value: object) -> str:
    """A value quoted in an error message: its repr, shortened when long or nested."""
    return _SHOW.repr(value)


@dataclass(frozen=True)
class ScheduleSettings:
    every: str = "monday at 07:00"
    timezone: str = "Asia/Baku"


@dataclass(frozen=True)
class Recipient:
    email: str
    briefings: tuple[str, ...]


@dataclass(frozen=True)
class ContactsSettings:
    """[delivery.contacts]: a CSV of party_id,email[,also] and what every contact gets too."""

    file: Path
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliverySettings:
    smtp_host: str = "localhost"
    smtp_port: int = 25
    starttls: bool = False
    sender: str = "briefings@example.org"
    operators: tuple[str, ...] = ()
    dry_run: bool = False
    send_unchanged: bool = False
    max_attachments_mb: float = 20
    timeout_s: float = 120
    recipients: tuple[Recipient, ...] = ()
    contacts: ContactsSettings | None = None


@dataclass(frozen=True)
class Settings:
    sources: Path = Path("sources")
    output: Path = Path("output")
    keep_runs: int = 30
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    scopes: tuple[str, ...] = SCOPES
    delivery: DeliverySettings | None = None
    config_file: Path | None = None
    # command line only
    as_of: str | None = None
    force: bool = False
    progress: bool = False
    workers: int | None = None

    def output_fingerprint(self) -> str:
        """Hash of every setting that shapes the outputs ("nothing to do" compares it)."""
        shaped = {"scopes": list(self.scopes), "as_of": self.as_of,
                  "format": 1}
        return hashlib.sha256(json.dumps(shaped, sort_keys=True).encode()).hexdigest()

    def with_options(self, **options: Any) -> Settings:
        """Command-line options win over the file; None means 'not given'."""
        given = {k: v for k, v in options.items() if v is not None}
        return replace(self, **given)


def _expect(table: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str,
            describe: str) -> Any:
    value = table[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ConfigError(f"{where}{key}: {_show(value)} is not {describe}")
    if not isinstance(value, kinds):
        raise ConfigError(f"{where}{key}: {_show(value)} is not {describe}")
    return value


def _number(table: dict[str, Any], key: str, where: str, describe: str, *,
            most: float) -> float:
    """A finite number (not a boolean) greater than 0 and at most `most`."""
    value = _expect(table, key, (int, float), where, describe)
    if not (isinstance(value, int) or math.isfinite(value)) or not 0 < value <= most:
        raise ConfigError(f"{where}{key}: {_show(value)} is out of range; expected {describe} "
                          f"greater than 0 and at most {most:g}")
    return value


def _path(table: dict[str, Any], key: str, where: str) -> str:
    """A non-empty path string without a NUL (which every file-system call refuses)."""
    value = _expect(table, key, str, where, "a path")
    if not value or "\0" in value:
        raise ConfigError(f"{where}{key}: {_show(value)} is not a path")
    return value


def _strings(table: dict[str, Any], key: str, where: str, describe: str) -> list[str]:
    """A list whose every item is a string, else a ConfigError naming the key."""
    values = _expect(table, key, list, where, describe)
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{where}{key}: {_show(value)} is not a string; expected "
                              f"{describe}")
    return values


def _unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}{key}: unknown key; known keys are "
                              f"{', '.join(sorted(known))}")


def check_every(every: str, where: str = "") -> str:
    """The `every` string of [schedule], checked; `where` is the file prefix of a message."""
    match = EVERY_RE.match(every.strip().lower())
    valid = bool(match)
    if match and match["at"]:
        hour, minute = (int(x) for x in match["at"].split(":"))
        valid = hour < 24 and minute < 60
    if match and match["n"]:
        valid = 1 <= int(match["n"]) * UNIT_S[match["unit"].rstrip("s")] <= LONGEST_EVERY_S
    if not valid:
        raise ConfigError(f"{where}schedule.every: {_show(every)} is not a schedule; expected "
                          f"{EVERY_FORMS}, with N at least 1 and at most 366 days")
    return every.strip().lower()


def check_timezone(name: str, where: str = "") -> str:
    """An IANA zone name that both zoneinfo and pytz (schedule's .at() uses it) know.

    zoneinfo alone also takes "localtime", "Factory" and the like from the system's zone
    folder; pytz refuses those, so the scheduler would crash on them.
    """
    from zoneinfo import ZoneInfo

    import pytz  # type: ignore[import-untyped]  # schedule's own time zones

    known = name in pytz.all_timezones_set
    if known:
        try:
            ZoneInfo(name)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            known = False
    if not known:
        raise ConfigError(f"{where}schedule.timezone: {_show(name)} is not an IANA time zone; "
                          "expected a name such as Asia/Baku or Europe/London")
    return name


def check_as_of(value: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of: {value!r} is not a date; expected YYYY-MM-DD") from None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ConfigError(f"--as-of: {value!r} is not a date; expected YYYY-MM-DD")
    return value


def load_settings(config_file: Path | None) -> Settings:
    """Read the TOML file (the given one, else ./agreement-reports.toml when present)."""
    if config_file is None:
        default = Path(DEFAULT_CONFIG_NAME)
        if not default.is_file():
            return Settings()
        config_file = default
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_file}: no such configuration file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_file}: not valid TOML ({exc})") from None
    except ValueError as exc:  # int() refuses a number of over 4300 digits
        raise ConfigError(f"{config_file}: not valid TOML ({str(exc).split(':')[0]})") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays / inline tables
        raise ConfigError(f"{config_file}: not valid TOML (nested too deeply)") from None
    except OSError as exc:  # a folder, no permission, an I/O error
        raise ConfigError(f"{config_file}: cannot read the configuration file "
                          f"({exc.strerror or exc})") from None
    where = f"{config_file}: "
    _unknown(data, {"sources", "output", "keep_runs", "schedule", "briefings", "delivery"}, where)
    settings = Settings(config_file=config_file)
    base = config_file.parent
    if "sources" in data:
        settings = replace(settings, sources=base / _path(data, "sources", where))
    if "output" in data:
        settings = replace(settings, output=base / _path(data, "output", where))
    if "keep_runs" in data:
        keep = _expect(data, "keep_runs", int, where, "a whole number")
        if keep < 1:
            raise ConfigError(f"{where}keep_runs: {keep} is not at least 1")
        settings = replace(settings, keep_runs=keep)
    if "schedule" in data:
        table = _expect(data, "schedule", dict, where, "a table")
        _unknown(table, {"every", "timezone"}, f"{where}schedule.")
        every = check_every(_expect(table, "every", str, f"{where}schedule.", "a string"),
                            where) if "every" in table else ScheduleSettings.every
        tz = check_timezone(_expect(table, "timezone", str, f"{where}schedule.", "a string"),
                            where) if "timezone" in table else ScheduleSettings.timezone
        settings = replace(settings, schedule=ScheduleSettings(every, tz))
    if "briefings" in data:
        table = _expect(data, "briefings", dict, where, "a table")
        _unknown(table, {"scopes"}, f"{where}briefings.")
        if "scopes" in table:
            scopes = _strings(table, "scopes", f"{where}briefings.", "a list of scope names")
            for scope in scopes:
                if scope not in SCOPES:
                    raise ConfigError(f"{where}briefings.scopes: {_show(scope)} is not a scope; "
                                      f"expected some of {', '.join(SCOPES)}")
            settings = replace(settings, scopes=tuple(scopes))
    if "delivery" in data:
        settings = replace(settings, delivery=_delivery(base,
            _expect(data, "delivery", dict, where, "a table"), f"{where}delivery."))
    return settings


SUBSCRIPTION_RE = re.compile(r"^[a-z]+(?::(?:\*|[a-z0-9-]+))?$")
SUBSCRIPTION_FORMS = "overview, scope, scope:ID (a party_id, theme_id or country code) or scope:*"


def subscription_problem(subscription: str) -> str | None:
    """Why `subscription` is not one, or None: 'overview', 'ministry:*', 'country:az'."""
    scope = subscription.split(":", 1)[0]
    if not SUBSCRIPTION_RE.match(subscription) or scope not in SCOPES:
        return f"{_show(subscription)} is not a subscription"
    return None


def _delivery(base: Path, table: dict[str, Any], where: str) -> DeliverySettings:
    known = set(asdict(DeliverySettings()).keys())
    _unknown(table, known, where)
    values: dict[str, Any] = {}
    for key, kind, describe in (
            ("smtp_host", str, "a host name"), ("smtp_port", int, "a port number"),
            ("starttls", bool, "true or false"), ("sender", str, "an e-mail address"),
            ("dry_run", bool, "true or false"), ("send_unchanged", bool, "true or false")):
        if key in table:
            values[key] = _expect(table, key, kind, where, describe)
    if "smtp_port" in values and not 1 <= values["smtp_port"] <= 65535:
        raise ConfigError(f"{where}smtp_port: {_show(values['smtp_port'])} is out of range; "
                          "expected a port number from 1 to 65535")
    if "max_attachments_mb" in table:
        values["max_attachments_mb"] = _number(table, "max_attachments_mb", where,
                                               "a number of megabytes", most=10240)
    if "timeout_s" in table:
        values["timeout_s"] = _number(table, "timeout_s", where, "a number of seconds",
                                      most=3600)
    if "smtp_host" in values and not HOST_RE.match(values["smtp_host"]):
        raise ConfigError(f"{where}smtp_host: {_show(values['smtp_host'])} is not a host name")
    if "sender" in values and not EMAIL_RE.match(values["sender"]):
        raise ConfigError(f"{where}sender: {_show(values['sender'])} is not an e-mail address")
    if "operators" in table:
        operators = _strings(table, "operators", where, "a list of e-mail addresses")
        for address in operators:
            if not EMAIL_RE.match(address):
                raise ConfigError(f"{where}operators: {_show(address)} is not an e-mail address")
        values["operators"] = tuple(operators)
    recipients = []
    entries = (_expect(table, "recipients", list, where,
                       "a list of tables ([[delivery.recipients]] with email and briefings)")
               if "recipients" in table else [])
    for i, entry in enumerate(entries):
        here = f"{where}recipients[{i}]."
        if not isinstance(entry, dict):
            raise ConfigError(f"{here[:-1]}: expected a table with email and briefings")
        _unknown(entry, {"email", "briefings"}, here)
        email = entry.get("email")
        if not isinstance(email, str) or not EMAIL_RE.match(email):
            raise ConfigError(f"{here}email: {_show(email)} is not an e-mail address")
        briefings = (_strings(entry, "briefings", here, 'a list such as '
                              '["overview", "ministry:*", "theme:smes"]')
                     if "briefings" in entry else ["overview"])
        for sub in briefings:
            if subscription_problem(sub):
                raise ConfigError(f"{here}briefings: {_show(sub)} names no scope; expected "
                                  f"{SUBSCRIPTION_FORMS}")
        recipients.append(Recipient(email, tuple(briefings)))
    values["recipients"] = tuple(recipients)
    if "contacts" in table:
        contacts = _expect(table, "contacts", dict, where,
                           "a table ([delivery.contacts] with file and also)")
        here = f"{where}contacts."
        _unknown(contacts, {"file", "also"}, here)
        if "file" not in contacts:
            raise ConfigError(f"{here}file: missing; expected the path of a CSV file of "
                              "party_id,email[,also]")
        also = (_strings(contacts, "also", here, 'a list such as ["overview"]')
                if "also" in contacts else [])
        for sub in also:
            if subscription_problem(sub):
                raise ConfigError(f"{here}also: {_show(sub)} names no scope; expected "
                                  f"{SUBSCRIPTION_FORMS}")
        values["contacts"] = ContactsSettings(base / _path(contacts, "file", here), tuple(also))
    return DeliverySettings(**values)

"""E-mail each recipient the briefings they subscribe to, exactly once per run.

What was sent to whom for which run is recorded in output/history.jsonl (never
in the published run folder). A recipient already served for a run is skipped;
one whose briefings carry no change since their last delivery gets nothing
unless `send_unchanged`. Failures are retried with backoff, recorded, and left
for `agreement-reports deliver --run RUN_ID`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from .config import DeliverySettings, Recipient, Settings
from .errors import ConfigError, DeliveryError
from .publish import RUNS, append_history, read_history, read_manifest

log = logging.getLogger(__name__)
USER_ENV = "AGREEMENT_REPORTS_SMTP_USER"
PASSWORD_ENV = "AGREEMENT_REPORTS_SMTP_PASSWORD"
RETRIES = 3
BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class Parcel:
    """One recipient's share of a run: the briefing entries of the manifest."""

    recipient: Recipient
    files: tuple[dict, ...]

    @property
    def versions(self) -> dict[str, str]:
        return {f["path"]: f.get("version", "") for f in self.files}


def matches(subscription: str, entry: dict) -> bool:
    scope, _, ident = subscription.partition(":")
    if entry.get("kind") != "briefing" or entry.get("scope") != scope:
        return False
    return scope == "overview" or ident in ("", "*") or entry.get("subject_id") == ident


def parcels(delivery: DeliverySettings, manifest: dict) -> list[Parcel]:
    """Each recipient's briefings; a subscription matching no briefing is a ConfigError."""
    briefings = [f for f in manifest.get("files", []) if f.get("kind") == "briefing"]
    out = []
    for recipient in delivery.recipients:
        chosen: dict[str, dict] = {}
        for subscription in recipient.briefings:
            found = [f for f in briefings if matches(subscription, f)]
            if not found:
                raise ConfigError(f"delivery.recipients: {recipient.email}: the subscription "
                                  f"{subscription!r} matches no briefing of run "
                                  f"{manifest.get('run_id')}")
            for f in found:
                chosen.setdefault(f["path"], f)
        out.append(Parcel(recipient, tuple(chosen.values())))
    return out


def check_subscriptions(delivery: DeliverySettings, briefings: list) -> None:
    """Before a run writes anything: every subscription must match a briefing it makes."""
    entries = [{"kind": "briefing", "scope": b.scope, "subject_id": b.subject_id}
               for b in briefings]
    for recipient in delivery.recipients:
        for subscription in recipient.briefings:
            if not any(matches(subscription, e) for e in entries):
                raise ConfigError(f"delivery.recipients: {recipient.email}: the subscription "
                                  f"{subscription!r} matches no briefing")


def _unchanged_since_last_delivery(history: list[dict], email: str, manifest: dict,
                                   parcel: Parcel) -> bool:
    """True when the recipient was served the previous run and their briefings show no change."""
    if any(f.get("changes") is None or f.get("changes") for f in parcel.files):
        return False
    previous = manifest.get("previous_run_id")
    served = [r for r in history if r.get("event") == "delivery"
              and r.get("recipient") == email and r.get("outcome") in ("sent", "unchanged")]
    return bool(served) and served[-1].get("run_id") == previous and set(
        served[-1].get("files", [])) == {f["path"] for f in parcel.files}


def _already_done(history: list[dict], run_id: str, email: str) -> bool:
    return any(r.get("event") == "delivery" and r.get("run_id") == run_id
               and r.get("recipient") == email and r.get("outcome") in ("sent", "unchanged")
               for r in history)


def _split(files: tuple[dict, ...], limit_bytes: float) -> list[list[dict]]:
    """Group attachments so that each message stays under the size limit."""
    groups: list[list[dict]] = [[]]
    size = 0
    for f in files:
        if groups[-1] and size + f["bytes"] > limit_bytes:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += f["bytes"]
    return groups


def _body(manifest: dict, files: list[dict], all_files: tuple[dict, ...]) -> str:
    counts = manifest.get("counts", {})
    lines = [
        f"Briefings of {manifest.get('as_of')} (run {manifest.get('run_id')}).",
        "",
        f"Key figures: {counts.get('agreements', 0):,} agreements, "
        f"{counts.get('discussions', 0):,} discussions, {counts.get('parties', 0):,} parties, "
        f"{counts.get('targets', 0):,} targets.",
        "",
        "Attached:",
    ]
    lines += [f"- {f.get('title') or f['path']} ({f.get('pages', 0)} pages)" for f in files]
    changes: list[str] = []
    for f in all_files:
        for line in f.get("changes") or []:
            if line not in changes:
                changes.append(line)
    lines += ["", "Since the last briefing:"]
    if manifest.get("previous_run_id") is None:
        lines.append("- This is the first run: there is nothing to compare with.")
    elif not changes:
        lines.append("- No change in these briefings.")
    else:
        lines += [f"- {line}" for line in changes[:30]]
        if len(changes) > 30:
            lines.append(f"- … and {len(changes) - 30} more (see the attached briefings).")
    return "\n".join(lines) + "\n"


def build_messages(delivery: DeliverySettings, manifest: dict, run_folder: Path,
                   parcel: Parcel, dataset: str) -> list[EmailMessage]:
    groups = _split(parcel.files, delivery.max_attachments_mb * 1024 * 1024)
    messages = []
    for number, group in enumerate(groups, start=1):
        msg = EmailMessage()
        subject = f"{dataset} briefings, data as of {manifest.get('as_of')}"
        if len(groups) > 1:
            subject += f" ({number}/{len(groups)})"
        msg["Subject"] = subject
        msg["From"] = delivery.sender
        msg["To"] = parcel.recipient.email
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=delivery.sender.split("@")[-1])
        msg.set_content(_body(manifest, group, parcel.files))
        for f in group:
            data = (run_folder / f["path"]).read_bytes()
            msg.add_attachment(data, maintype="application", subtype="pdf",
                               filename=Path(f["path"]).name)
        messages.append(msg)
    return messages


def _send(delivery: DeliverySettings, messages: list[EmailMessage], retries: int,
          backoff: float) -> None:
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    last: Exception | None = None
    for attempt in range(retries):
        try:
            with smtplib.SMTP(delivery.smtp_host, delivery.smtp_port, timeout=30) as smtp:
                if delivery.starttls:
                    smtp.starttls()
                if user and password:
                    smtp.login(user, password)
                for msg in messages:
                    smtp.send_message(msg)
            return
        except (smtplib.SMTPException, OSError) as exc:
            last = exc
            log.warning("delivery to %s failed (attempt %d of %d): %s", messages[0]["To"],
                        attempt + 1, retries, exc)
            if attempt + 1 < retries:
                time.sleep(backoff * 2**attempt)
    raise DeliveryError(_reason(last))


def _reason(exc: Exception | None) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for rcpt, (code, msg) in exc.recipients.items())
    return f"{type(exc).__name__}: {exc}" if exc else "unknown failure"


def deliver_run(settings: Settings, run_id: str, *, dry_run: bool | None = None
                ) -> dict[str, str]:
    """Send (again) what a run's delivery has not yet sent. Returns recipient -> outcome."""
    delivery = settings.delivery
    if delivery is None:
        raise ConfigError("no [delivery] table in the configuration: nothing to deliver")
    output = settings.output
    run_folder = output / RUNS / run_id
    manifest = read_manifest(run_folder)
    if manifest is None:
        raise DeliveryError(f"run {run_id} is not in {output / RUNS}")
    planned = parcels(delivery, manifest)  # configuration errors before anything is sent
    dry = delivery.dry_run if dry_run is None else dry_run
    dataset = str(manifest.get("dataset") or "Agreements")
    outcomes: dict[str, str] = {}
    for parcel in planned:
        email = parcel.recipient.email
        history = read_history(output)
        if _already_done(history, run_id, email):
            outcomes[email] = "already sent"
            continue
        record = {"event": "delivery", "run_id": run_id, "recipient": email,
                  "files": [f["path"] for f in parcel.files], "versions": parcel.versions,
                  "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        if not delivery.send_unchanged and _unchanged_since_last_delivery(
                history, email, manifest, parcel):
            append_history(output, {**record, "outcome": "unchanged"})
            outcomes[email] = "unchanged"
            continue
        messages = build_messages(delivery, manifest, run_folder, parcel, dataset)
        try:
            if dry:
                _write_outbox(output / "outbox" / run_id, email, messages)
            else:
                _send(delivery, messages, RETRIES, BACKOFF_SECONDS)
        except DeliveryError as exc:
            append_history(output, {**record, "outcome": "failed", "reason": str(exc)})
            outcomes[email] = "failed"
            log.error("delivery of run %s to %s failed: %s", run_id, email, exc)
            continue
        append_history(output, {**record, "outcome": "sent", "dry_run": dry,
                                "messages": len(messages)})
        outcomes[email] = "sent"
    return outcomes


def _write_outbox(folder: Path, email: str, messages: list[EmailMessage]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # the address is configuration, yet it never becomes a path: a hash names the file
    tag = hashlib.sha256(email.encode()).hexdigest()[:10]
    for number, msg in enumerate(messages, start=1):
        (folder / f"{tag}-{number}.eml").write_bytes(bytes(msg))


def unfinished_runs(output: Path) -> set[str]:
    """Runs with a recipient whose last delivery attempt failed (kept past keep_runs)."""
    last: dict[tuple[str, str], str] = {}
    for r in read_history(output):
        if r.get("event") == "delivery":
            last[(r.get("run_id", ""), r.get("recipient", ""))] = r.get("outcome", "")
    return {run for (run, _), outcome in last.items() if outcome == "failed"}


def notify_operators(settings: Settings, reason: str) -> None:
    """Tell the operators that a scheduled run failed (logged if that fails too)."""
    delivery = settings.delivery
    if delivery is None or not delivery.operators:
        return
    msg = EmailMessage()
    msg["Subject"] = "agreement-reports: a scheduled run failed"
    msg["From"] = delivery.sender
    msg["To"] = ", ".join(delivery.operators)
    msg["Date"] = formatdate(localtime=False)
    msg.set_content(f"The scheduled run failed; output/latest is unchanged.\n\n{reason}\n")
    if delivery.dry_run:
        _write_outbox(settings.output / "outbox" / "operators",
                      ",".join(delivery.operators), [msg])
        return
    _send(delivery, [msg], retries=RETRIES, backoff=BACKOFF_SECONDS)

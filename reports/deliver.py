"""E-mail each recipient the briefings they subscribe to, exactly once per run.

A message (one recipient, one part when the briefings are split over several
messages) counts as sent the moment the server accepts its data. It is recorded
then, before anything else is sent, as one small file of its own in
`output/deliveries/<run-id>/` (written whole, then renamed into place, so no torn
line of `history.jsonl` can lose it), and is never sent again for that run.
Everything not recorded is tried again by the next run or `deliver --run`. Each
message's Message-ID is the same on every try of that (run, recipient, part), so a
mail system can drop the one copy that a crash between acceptance and recording
could still cause. A dry run writes `.eml` files and records them as written, never
as sent. `history.jsonl` gets a line per message and per recipient, for `status`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from .config import DeliverySettings, Recipient, Settings
from .contacts import Contact, read_contacts
from .errors import ConfigError, DeliveryError
from .figures import as_of_phrase, figures_sentence, plural
from .publish import RUNS, append_history, read_history, read_manifest

log = logging.getLogger(__name__)
USER_ENV = "AGREEMENT_REPORTS_SMTP_USER"
PASSWORD_ENV = "AGREEMENT_REPORTS_SMTP_PASSWORD"
RETRIES = 3
BACKOFF_SECONDS = 1.0
READ_TIMEOUT_S = 30.0  # one read or write; `timeout_s` bounds a whole message
DELIVERIES = "deliveries"  # output/deliveries/<run-id>/: what was accepted, one file a message
SENT, WRITTEN, UNCHANGED = "sent", "written", "unchanged"


@dataclass(frozen=True)
class Parcel:
    """One address's share of a run: the briefing entries of the manifest (a configured
    recipient's and a contact's, when the address is both, in one set of messages)."""

    recipient: Recipient
    files: tuple[dict, ...]
    contact: bool = False  # a contact of [delivery.contacts]: its address is never shown

    @property
    def versions(self) -> dict[str, str]:
        return {f["path"]: f.get("version", "") for f in self.files}


@dataclass(frozen=True)
class Part:
    """One message of a parcel: its number, of how many, and the briefings it carries."""

    number: int
    total: int
    files: tuple[dict, ...]

    @property
    def paths(self) -> list[str]:
        return [f["path"] for f in self.files]


def is_empty(entry: dict) -> bool:
    """A briefing with no agreement and no discussion (its key figures say so)."""
    counted = [v for k, v in (entry.get("figures") or {}).items()
               if k.startswith(("Agreements", "Discussions"))]
    return bool(counted) and not any(counted)


def matches(subscription: str, entry: dict) -> bool:
    scope, _, ident = subscription.partition(":")
    if entry.get("kind") != "briefing" or entry.get("scope") != scope:
        return False
    return scope == "overview" or ident in ("", "*") or entry.get("subject_id") == ident


def _chosen(subscription: str, briefings: list[dict], who: str, run_id: object
            ) -> list[dict]:
    """The briefings a subscription brings; one that matches none is a ConfigError. A
    briefing with nothing in it goes only to who names it exactly."""
    found = [f for f in briefings if matches(subscription, f)]
    if not found:
        raise ConfigError(f"{who}: the subscription {subscription!r} matches no briefing of "
                          f"run {run_id}")
    named = subscription.partition(":")[2] not in ("", "*")
    return [f for f in found if named or subscription == "overview" or not is_empty(f)]


PARTY_SCOPES = ("ministry", "company", "party")


def parcels(delivery: DeliverySettings, manifest: dict,
            contacts: Sequence[Contact] = ()) -> list[Parcel]:
    """Each address's briefings, configured recipients first, then contacts; an address
    that is both gets one parcel with the union of its briefings."""
    briefings = [f for f in manifest.get("files", []) if f.get("kind") == "briefing"]
    run_id = manifest.get("run_id")
    files: dict[str, dict[str, dict]] = {}  # address -> path -> entry, in order
    wanted: dict[str, list[str]] = {}
    is_contact: dict[str, bool] = {}
    for recipient in delivery.recipients:
        chosen = files.setdefault(recipient.email, {})
        wanted.setdefault(recipient.email, []).extend(recipient.briefings)
        is_contact.setdefault(recipient.email, False)
        for subscription in recipient.briefings:
            for f in _chosen(subscription, briefings, f"delivery.recipients: "
                             f"{recipient.email}", run_id):
                chosen.setdefault(f["path"], f)
    everyone = delivery.contacts.also if delivery.contacts else ()
    for contact in contacts:
        chosen = files.setdefault(contact.email, {})
        own = f"{contact.party_id} (its own briefing)"
        wanted.setdefault(contact.email, []).extend([own, *contact.also, *everyone])
        is_contact[contact.email] = True
        for f in briefings:  # its party's briefing; a party taking part in nothing has none
            if f.get("scope") in PARTY_SCOPES and f.get("subject_id") == contact.party_id:
                chosen.setdefault(f["path"], f)
        for subscription in (*contact.also, *everyone):
            for f in _chosen(subscription, briefings, "delivery.contacts: a contact of "
                             f"{contact.party_id}", run_id):
                chosen.setdefault(f["path"], f)
    return [Parcel(Recipient(email, tuple(dict.fromkeys(wanted[email]))),
                   tuple(chosen.values()), is_contact[email])
            for email, chosen in files.items() if chosen]


def check_subscriptions(delivery: DeliverySettings, briefings: list,
                        contacts: Sequence[Contact] = ()) -> None:
    """Before a run writes anything: every subscription must match a briefing it makes."""
    entries = [{"kind": "briefing", "scope": b.scope, "subject_id": b.subject_id}
               for b in briefings]
    subscriptions = [(f"delivery.recipients: {r.email}", s) for r in delivery.recipients
                     for s in r.briefings]
    everyone = delivery.contacts.also if delivery.contacts else ()
    subscriptions += [("delivery.contacts.also", s) for s in everyone]
    subscriptions += [(f"delivery.contacts: a contact of {c.party_id}", s) for c in contacts
                      for s in c.also]
    for who, subscription in subscriptions:
        if not any(matches(subscription, e) for e in entries):
            raise ConfigError(f"{who}: the subscription {subscription!r} matches no briefing")


def _key(*words: str) -> str:
    return hashlib.sha256("\0".join(words).encode("utf-8")).hexdigest()[:16]


class Ledger:
    """What a run's delivery has done, one file per message accepted (or written, or judged
    unchanged), so that a torn file can only lose its own record, never another's."""

    def __init__(self, output: Path, run_id: str) -> None:
        self.folder = output / DELIVERIES / run_id
        self.run_id = run_id

    def _path(self, email: str, what: str) -> Path:
        return self.folder / f"{_key(email)}-{what}.json"

    @staticmethod
    def _part_name(part: Part, outcome: str) -> str:
        return f"{part.number}of{part.total}-{_key(*part.paths)}.{outcome}"

    def has(self, email: str, part: Part, outcome: str) -> bool:
        return self._read(self._path(email, self._part_name(part, outcome))) is not None

    def unchanged(self, email: str) -> bool:
        return self._read(self._path(email, UNCHANGED)) is not None

    def record(self, email: str, part: Part | None, outcome: str, **fields: object) -> None:
        """Write the record whole (temporary file, fsync, rename): it exists or it does not."""
        name = UNCHANGED if part is None else self._part_name(part, outcome)
        record = {"run_id": self.run_id, "recipient": email, "outcome": outcome,
                  "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **fields}
        if part is not None:
            record.update(part=part.number, parts=part.total, files=part.paths)
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self._path(email, name)
        temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def served(self, email: str) -> set[str] | None:
        """The briefings the recipient got of this run (all parts sent, or unchanged)."""
        unchanged = self._read(self._path(email, UNCHANGED))
        if unchanged is not None:
            return set(unchanged.get("files", []))
        parts: dict[int, dict] = {}
        for path in self.folder.glob(f"{_key(email)}-*.{SENT}.json"):
            record = self._read(path)
            if record is not None:
                parts[record.get("part", 0)] = record
        totals = {r.get("parts") for r in parts.values()}
        if len(totals) != 1 or set(parts) != set(range(1, (totals.pop() or 0) + 1)):
            return None
        return {f for r in parts.values() for f in r.get("files", [])}

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s is damaged and counts as not recorded: %s", path, exc)
            return None
        return record if isinstance(record, dict) else None


def _unchanged_since_last_delivery(output: Path, manifest: dict, parcel: Parcel) -> bool:
    """True when the recipient was served the previous run, the same briefings, and these
    show no change since."""
    if any(f.get("changes") is None or f.get("changes") for f in parcel.files):
        return False
    previous = manifest.get("previous_run_id")
    if not previous:
        return False
    served = Ledger(output, previous).served(parcel.recipient.email)
    return served == {f["path"] for f in parcel.files}


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
    """The message text: the data set's figures as the briefings label them (from the
    manifest, which took them from figures.py), the attachments, the changes."""
    lines = [
        f"Briefings of {manifest.get('dataset') or 'the data'}, "
        f"{as_of_phrase(str(manifest.get('as_of') or ''))} (run {manifest.get('run_id')}).",
        "",
        f"Key figures: {figures_sentence(manifest.get('figures') or {})}.",
        "",
        "Attached:",
    ]
    lines += [f"- {f.get('title') or f['path']} ({plural(int(f.get('pages', 0)), 'page')})"
              for f in files]
    changes: list[str] = []
    for f in all_files:
        for line in f.get("changes") or []:
            if line not in changes:
                changes.append(line)
    lines += ["", "Since the last briefing:"]
    if manifest.get("previous_run_id") is None and not changes:
        lines.append("- This is the first run: there is nothing to compare with.")
    elif not changes:
        lines.append("- No change in these briefings.")
    else:
        lines += [f"- {line}" for line in changes[:30]]
        if len(changes) > 30:
            lines.append(f"- … and {len(changes) - 30:,} more (see the attached briefings).")
    return "\n".join(lines) + "\n"


def split_parts(delivery: DeliverySettings, parcel: Parcel) -> list[Part]:
    """The parcel's messages: the same parts, in the same order, on every try."""
    groups = _split(parcel.files, delivery.max_attachments_mb * 1024 * 1024)
    return [Part(n, len(groups), tuple(group)) for n, group in enumerate(groups, start=1)]


def message_id(run_id: str, email: str, part: Part, sender: str) -> str:
    """The same on every try of this (run, recipient, part): receivers drop a repeat."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{run_id}.{_key(email)}.{part.number}of{part.total}.{_key(*part.paths)}@{domain}>"


def build_message(delivery: DeliverySettings, manifest: dict, run_folder: Path,
                  parcel: Parcel, part: Part, dataset: str) -> EmailMessage:
    msg = EmailMessage()
    subject = f"{dataset} briefings, {as_of_phrase(str(manifest.get('as_of') or ''))}"
    if part.total > 1:
        subject += f" ({part.number}/{part.total})"
    msg["Subject"] = subject
    msg["From"] = delivery.sender
    msg["To"] = parcel.recipient.email
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(str(manifest.get("run_id")), parcel.recipient.email, part,
                                   delivery.sender)
    msg.set_content(_body(manifest, list(part.files), parcel.files))
    for f in part.files:
        data = (run_folder / f["path"]).read_bytes()
        msg.add_attachment(data, maintype="application", subtype="pdf",
                           filename=Path(f["path"]).name)
    return msg


class _Deadline:
    """Cuts the connection when one message (connecting included) takes longer than allowed.

    A per-read timeout cannot do it: a server that sends a byte every few seconds never
    lets a single read time out.
    """

    def __init__(self, smtp: smtplib.SMTP, seconds: float) -> None:
        self.smtp, self.seconds, self.expired = smtp, seconds, False
        self._timer: threading.Timer | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        try:
            yield
        finally:
            self._timer.cancel()

    def _expire(self) -> None:
        self.expired = True
        sock = self.smtp.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _NotRecorded(DeliveryError):
    """A message was accepted but could not be recorded: stop, so nothing is sent twice."""


def _session(delivery: DeliverySettings, queue: list[tuple[Part, EmailMessage]],
             accepted: Callable[[Part, EmailMessage], None]) -> None:
    """One connection: send the queued messages in order, recording each as it is accepted
    and taking it off the queue. Whatever happens after the last acceptance (a 421 to QUIT,
    a dropped connection) changes nothing about what was sent."""
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    smtp = smtplib.SMTP(timeout=min(READ_TIMEOUT_S, delivery.timeout_s))
    deadline = _Deadline(smtp, delivery.timeout_s)
    try:
        first = True
        while queue:
            part, msg = queue[0]
            try:
                with deadline.running():
                    if first:
                        smtp.connect(delivery.smtp_host, delivery.smtp_port)
                        if delivery.starttls:
                            smtp.starttls()
                        if user and password:
                            smtp.login(user, password)
                        first = False
                    smtp.send_message(msg)
            except (smtplib.SMTPException, OSError) as exc:
                if deadline.expired:
                    raise TimeoutError(f"no complete answer within timeout_s = "
                                       f"{delivery.timeout_s:g} s") from exc
                raise
            try:
                accepted(part, msg)
            except OSError as exc:
                raise _NotRecorded(f"the server accepted {msg['Message-ID']} but it could not "
                                   f"be recorded ({exc}); stopped so that nothing is sent "
                                   "twice") from exc
            queue.pop(0)
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError), deadline.running():
            if smtp.sock is not None:
                smtp.quit()  # its reply, 221 or 421, is not the messages' fate
        smtp.close()


def _permanent(exc: BaseException) -> bool:
    """A 5xx answer will not change on a retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


def send(delivery: DeliverySettings, messages: list[tuple[Part, EmailMessage]],
         accepted: Callable[[Part, EmailMessage], None], *, retries: int | None = None,
         backoff: float | None = None) -> None:
    """Send the messages, retrying only those not yet accepted; DeliveryError at the end."""
    retries = RETRIES if retries is None else retries
    backoff = BACKOFF_SECONDS if backoff is None else backoff
    queue = list(messages)
    last: BaseException | None = None
    for attempt in range(retries):
        try:
            _session(delivery, queue, accepted)
            return
        except _NotRecorded:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            last = exc
            log.warning("delivery to %s failed (attempt %d of %d, %d of %d messages left): %s",
                        messages[0][1]["To"], attempt + 1, retries, len(queue), len(messages),
                        _reason(exc))
            if _permanent(exc):
                break
            if attempt + 1 < retries:
                time.sleep(backoff * 2**attempt)
    raise DeliveryError(_reason(last))


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for rcpt, (code, msg) in exc.recipients.items())
    return f"{type(exc).__name__}: {exc}" if exc else "unknown failure"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run_contacts(settings: Settings, run_folder: Path) -> list[Contact]:
    """The contacts file checked against the parties of a published run (its snapshot)."""
    delivery = settings.delivery
    if delivery is None or delivery.contacts is None:
        return []
    from .snapshot import UnreadableSnapshot, read_snapshot

    try:
        parties = read_snapshot(run_folder)["parties"]
    except UnreadableSnapshot as exc:
        raise DeliveryError(f"cannot check the contacts against run {run_folder.name}: "
                            f"{exc}") from None
    return read_contacts(delivery.contacts, parties)


def deliver_run(settings: Settings, run_id: str, *, dry_run: bool | None = None,
                contacts: Sequence[Contact] | None = None) -> dict[str, str]:
    """Send what a run's delivery has not yet sent. Returns address -> outcome.

    `contacts` are those of [delivery.contacts], already checked (read from the file
    and checked against the run's parties when not given).
    """
    delivery = settings.delivery
    if delivery is None:
        raise ConfigError("no [delivery] table in the configuration: nothing to deliver")
    output = settings.output
    run_folder = output / RUNS / run_id
    manifest = read_manifest(run_folder)
    if manifest is None:
        raise DeliveryError(f"run {run_id} is not in {output / RUNS}")
    if contacts is None:
        contacts = run_contacts(settings, run_folder)
    planned = parcels(delivery, manifest, contacts)  # configuration errors before any send
    dry = delivery.dry_run if dry_run is None else dry_run
    done_as = WRITTEN if dry else SENT
    dataset = str(manifest.get("dataset") or "Agreements")
    ledger = Ledger(output, run_id)
    outcomes: dict[str, str] = {}
    for parcel in planned:
        email = parcel.recipient.email
        parts = split_parts(delivery, parcel)
        if not dry and ledger.unchanged(email):
            outcomes[email] = "already done (unchanged)"
            continue
        pending = [p for p in parts if not ledger.has(email, p, done_as)]
        if not pending:
            outcomes[email] = f"already {done_as}"
            continue
        record = {"event": "delivery", "run_id": run_id, "recipient": email,
                  "contact": parcel.contact,
                  "files": [f["path"] for f in parcel.files], "versions": parcel.versions}
        if (not dry and not delivery.send_unchanged and len(pending) == len(parts)
                and _unchanged_since_last_delivery(output, manifest, parcel)):
            ledger.record(email, None, UNCHANGED, files=record["files"])
            append_history(output, {**record, "outcome": UNCHANGED, "at": _now()})
            outcomes[email] = UNCHANGED
            continue
        messages = [(p, build_message(delivery, manifest, run_folder, parcel, p, dataset))
                    for p in pending]
        written: list[str] = []

        def accepted(part: Part, msg: EmailMessage, email: str = email) -> None:
            ledger.record(email, part, done_as, message_id=msg["Message-ID"])
            append_history(output, {"event": "message", "run_id": run_id, "recipient": email,
                                    "part": f"{part.number}/{part.total}",
                                    "message_id": msg["Message-ID"], "files": part.paths,
                                    "outcome": done_as, "at": _now()})

        try:
            if dry:
                for part, msg in messages:
                    written.append(_write_outbox(output / "outbox" / run_id, email, part, msg))
                    accepted(part, msg)
            else:
                send(delivery, messages, accepted)
        except DeliveryError as exc:
            left = len(pending) - sum(1 for p in pending if ledger.has(email, p, done_as))
            append_history(output, {**record, "outcome": "failed", "reason": str(exc),
                                    "messages_left": left, "at": _now()})
            outcomes[email] = "failed"
            log.error("delivery of run %s to %s failed (%d of %d messages left): %s", run_id,
                      email, left, len(parts), exc)
            continue
        append_history(output, {**record, "outcome": done_as, "dry_run": dry,
                                "messages": len(messages), "at": _now()})
        outcomes[email] = (f"written to {', '.join(written)}" if dry
                           else SENT if len(messages) == len(parts)
                           else f"sent the {len(messages)} of {len(parts)} messages left")
    return outcomes


def _write_outbox(folder: Path, email: str, part: Part, msg: EmailMessage) -> str:
    """Write one message as an .eml file; returns its path relative to the output folder."""
    folder.mkdir(parents=True, exist_ok=True)
    # the address is configuration, yet it never becomes a path: a hash names the file
    path = folder / f"{_key(email)[:10]}-{part.number}.eml"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(bytes(msg))
    os.replace(temporary, path)
    return str(Path(folder.parent.name) / folder.name / path.name)


def unfinished_runs(output: Path) -> set[str]:
    """Runs a recipient has not been served yet: the last try failed, and the recipient has
    not been served any later run since (those are kept past keep_runs)."""
    last: dict[tuple[str, str], str] = {}
    served_after: dict[str, str] = {}  # recipient -> newest run id served
    for r in read_history(output):
        if r.get("event") != "delivery":
            continue
        run, email, outcome = r.get("run_id", ""), r.get("recipient", ""), r.get("outcome", "")
        last[(run, email)] = outcome
        if outcome in (SENT, UNCHANGED) and run > served_after.get(email, ""):
            served_after[email] = run
    return {run for (run, email), outcome in last.items()
            if outcome == "failed" and served_after.get(email, "") <= run}


def forget_runs(output: Path, run_ids: list[str]) -> None:
    """Drop the delivery records and the dry-run outbox of runs that retention removed
    (the .eml files of a run that is gone would otherwise pile up, run after run)."""
    import shutil

    for run_id in run_ids:
        shutil.rmtree(output / DELIVERIES / run_id, ignore_errors=True)
        shutil.rmtree(output / "outbox" / run_id, ignore_errors=True)


def notify_operators(settings: Settings, reason: str,
                     subject: str = "agreement-reports: a scheduled run failed") -> None:
    """Tell the operators (logged by the caller if that fails too)."""
    delivery = settings.delivery
    if delivery is None or not delivery.operators:
        return
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = delivery.sender
    msg["To"] = ", ".join(delivery.operators)
    msg["Date"] = formatdate(localtime=False)
    msg.set_content(f"{reason}\n\noutput/latest is the last run published in full; "
                    "`agreement-reports status` shows the recent runs.\n")
    part = Part(1, 1, ())
    if delivery.dry_run:
        _write_outbox(settings.output / "outbox" / "operators", ",".join(delivery.operators),
                      part, msg)
        return
    send(delivery, [(part, msg)], lambda *_: None)

"""Delivery against a real SMTP server on loopback (aiosmtpd), not a mock of smtplib."""

from __future__ import annotations

import email
import email.policy
import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

import reports.deliver
from reports import pipeline
from reports.config import DeliverySettings, Recipient, Settings
from reports.deliver import deliver_run
from reports.errors import ConfigError
from tests.conftest import BUNDLED_SOURCES
from tests.datasets import copy_bundled, set_cell


class Mailbox:
    """An aiosmtpd handler that keeps every message and can refuse chosen recipients."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 Message accepted for delivery"

    def attachments(self, to: str) -> dict[str, bytes]:
        out = {}
        for msg in self.messages:
            if msg["To"] == to:
                for part in msg.iter_attachments():
                    assert part.get_content_type() == "application/pdf"
                    out[part.get_filename()] = part.get_content()
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports.deliver, "BACKOFF_SECONDS", 0.01)


RECIPIENTS = (
    Recipient("analyst@example.org", ("overview", "theme:smes", "ministry:*")),
    Recipient("aic-partners@example.org", ("company:aic",)),
    Recipient("everything@example.org", ("overview", "company:*", "theme:*")),
)


def settings_with(port: int, tmp_path: Path, sources: Path = BUNDLED_SOURCES,
                  **delivery: object) -> Settings:
    return Settings(sources=sources, output=tmp_path / "output", workers=1,
                    delivery=DeliverySettings(smtp_host="127.0.0.1", smtp_port=port,
                                              sender="briefings@example.org",
                                              recipients=RECIPIENTS, **delivery))


def history(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "history.jsonl").read_text().splitlines()]


def test_each_recipient_gets_exactly_their_briefings_byte_identical(
        smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    mailbox, port = smtp
    settings = settings_with(port, tmp_path)
    result = pipeline.run(settings)
    assert result.deliveries == {r.email: "sent" for r in RECIPIENTS}
    run = result.folder
    assert run is not None
    got = mailbox.attachments("analyst@example.org")
    assert set(got) == {"overview.pdf", "theme-smes.pdf", "ministry-ministry-of-economy.pdf",
                        "ministry-ministry-of-digital-development-and-transport.pdf",
                        "ministry-ministry-of-finance.pdf"}
    for name, data in got.items():
        assert data == (run / "briefings" / name).read_bytes()
    assert set(mailbox.attachments("aic-partners@example.org")) == {"company-aic.pdf"}
    assert len(mailbox.attachments("everything@example.org")) == 1 + 14 + 3
    msg = next(m for m in mailbox.messages if m["To"] == "aic-partners@example.org")
    assert msg["Subject"] == "COP29 agreements briefings, data as of 2024-11-27"
    body = msg.get_body(("plain",)).get_content()
    assert "7 agreements, 1 discussions" in body or "7 agreements" in body
    assert "first run" in body


def test_a_second_delivery_of_the_same_run_sends_nothing(
        smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    mailbox, port = smtp
    settings = settings_with(port, tmp_path)
    result = pipeline.run(settings)
    sent = len(mailbox.messages)
    again = deliver_run(settings, result.run_id or "")
    assert set(again.values()) == {"already sent"}
    assert len(mailbox.messages) == sent


def test_unchanged_briefings_are_not_sent_again_but_changed_ones_are(
        smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    mailbox, port = smtp
    sources = copy_bundled(tmp_path / "sources")
    settings = settings_with(port, tmp_path, sources)
    pipeline.run(settings)
    mailbox.messages.clear()
    set_cell(sources, "agreements", 3, "status", "in_progress")  # AIC with Dias
    result = pipeline.run(settings)
    assert result.deliveries == {"analyst@example.org": "sent",  # the overview changed
                                 "aic-partners@example.org": "sent",
                                 "everything@example.org": "sent"}
    body = next(m for m in mailbox.messages if m["To"] == "aic-partners@example.org"
                ).get_body(("plain",)).get_content()
    assert "status “signed” → “in progress”" in body
    mailbox.messages.clear()
    set_cell(sources, "agreements", 7, "status", "completed")  # KOBİA's declaration, not AIC's
    result = pipeline.run(settings)
    assert result.deliveries["aic-partners@example.org"] == "unchanged"
    assert "aic-partners@example.org" not in {m["To"] for m in mailbox.messages}


def test_a_refused_recipient_fails_alone_and_is_delivered_by_deliver_run(
        smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    mailbox, port = smtp
    mailbox.refuse.add("aic-partners@example.org")
    settings = settings_with(port, tmp_path)
    result = pipeline.run(settings)
    assert result.outcome == "published"
    assert result.deliveries == {"analyst@example.org": "sent",
                                 "aic-partners@example.org": "failed",
                                 "everything@example.org": "sent"}
    failed = [h for h in history(settings.output) if h.get("outcome") == "failed"]
    assert failed and "550" in failed[-1]["reason"]
    assert reports.deliver.unfinished_runs(settings.output) == {result.run_id}
    mailbox.refuse.clear()
    assert deliver_run(settings, result.run_id or "") == {
        "analyst@example.org": "already sent", "aic-partners@example.org": "sent",
        "everything@example.org": "already sent"}
    assert set(mailbox.attachments("aic-partners@example.org")) == {"company-aic.pdf"}
    assert reports.deliver.unfinished_runs(settings.output) == set()


def test_with_the_server_down_the_run_is_published_and_the_failure_recorded(
        tmp_path: Path) -> None:
    settings = settings_with(free_port(), tmp_path)  # nothing listens there
    result = pipeline.run(settings)
    assert result.outcome == "published"
    assert (settings.output / "latest" / "briefings" / "overview.pdf").is_file()
    assert set(result.deliveries.values()) == {"failed"}
    assert {h["recipient"] for h in history(settings.output) if h.get("outcome") == "failed"} == {
        r.email for r in RECIPIENTS}


def test_dry_run_writes_eml_files_to_the_outbox(tmp_path: Path) -> None:
    settings = settings_with(free_port(), tmp_path, dry_run=True, max_attachments_mb=0.05)
    result = pipeline.run(settings)
    outbox = settings.output / "outbox" / (result.run_id or "")
    files = sorted(outbox.glob("*.eml"))
    messages = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
                for f in files]
    everything = [m for m in messages if m["To"] == "everything@example.org"]
    assert len(everything) > 1  # 18 briefings do not fit in 50 kB
    assert everything[0]["Subject"].endswith(f"(1/{len(everything)})")
    assert not any("@" in f.name for f in files)


def test_a_subscription_matching_no_briefing_is_an_error_before_anything_is_written(
        smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    mailbox, port = smtp
    settings = settings_with(port, tmp_path)
    assert settings.delivery is not None
    settings = replace(settings, delivery=replace(settings.delivery, recipients=(
        Recipient("someone@example.org", ("company:no-such-company",)),)))
    with pytest.raises(ConfigError, match="company:no-such-company"):
        pipeline.run(settings)
    assert not mailbox.messages
    assert not (settings.output / "runs").exists()


def test_a_malformed_address_is_a_configuration_error(tmp_path: Path) -> None:
    from reports.config import load_settings

    config = tmp_path / "c.toml"
    config.write_text('[delivery]\n[[delivery.recipients]]\nemail = "not an address"\n'
                      'briefings = ["overview"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not an e-mail address"):
        load_settings(config)


def test_deliver_command_sends_what_failed(smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    mailbox, port = smtp
    mailbox.refuse.add("aic-partners@example.org")
    settings = settings_with(port, tmp_path)
    result = pipeline.run(settings)
    assert result.deliveries["aic-partners@example.org"] == "failed"
    mailbox.refuse.clear()
    config = tmp_path / "agreement-reports.toml"
    config.write_text(
        f'output = "output"\n[delivery]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
        'sender = "briefings@example.org"\n[[delivery.recipients]]\n'
        'email = "aic-partners@example.org"\nbriefings = ["company:aic"]\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "reports", "deliver", "--run",
                           result.run_id or "", "--config", str(config)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "aic-partners@example.org: sent" in done.stdout
    assert set(mailbox.attachments("aic-partners@example.org")) == {"company-aic.pdf"}
    status = subprocess.run([sys.executable, "-m", "reports", "status", "--verbose",
                             "--config", str(config)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert f"delivery {result.run_id} to aic-partners@example.org: failed" in status.stdout
    assert f"delivery {result.run_id} to aic-partners@example.org: sent" in status.stdout

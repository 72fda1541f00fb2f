"""Data-driven delivery: each party's own people receive its own briefing, exactly once."""

from __future__ import annotations

import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

import reports.deliver
from reports import pipeline
from reports.config import ContactsSettings, DeliverySettings, Recipient, Settings
from tests.conftest import BUNDLED_SOURCES, require_tool
from tests.faulty_smtp import FaultySMTP, faulty_smtp_fixture  # noqa: F401
from tests.test_faults import run_cli

CONTACTS = """party_id,email,also
ministry-of-economy,econ@example.org,
ministry-of-finance,analyst@example.org,
bp,bp-desk@example.org,
kobia,sme1@example.org,
kobia,sme2@example.org,theme:smes
"""
# what each address receives, counted from the bundled data: bp's briefing rolls up
# Volts; the analyst is a configured recipient of the overview and a contact too
EXPECTED = {
    "econ@example.org": {"ministry-ministry-of-economy.pdf"},
    "analyst@example.org": {"overview.pdf", "ministry-ministry-of-finance.pdf"},
    "bp-desk@example.org": {"company-bp.pdf"},
    "sme1@example.org": {"party-kobia.pdf"},
    "sme2@example.org": {"party-kobia.pdf", "theme-smes.pdf"},
}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports.deliver, "BACKOFF_SECONDS", 0.01)


def settings_for(server: FaultySMTP, tmp_path: Path, text: str = CONTACTS,
                 **delivery: object) -> Settings:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(text, encoding="utf-8")
    return Settings(sources=BUNDLED_SOURCES, output=tmp_path / "output", workers=1,
                    delivery=DeliverySettings(
                        smtp_host="127.0.0.1", smtp_port=server.port,
                        sender="briefings@example.org",
                        recipients=(Recipient("analyst@example.org", ("overview",)),),
                        contacts=ContactsSettings(contacts), **delivery))


def test_each_contact_gets_its_partys_briefing_once_byte_identical(
        faulty_smtp: FaultySMTP, tmp_path: Path) -> None:
    settings = settings_for(faulty_smtp, tmp_path)
    result = pipeline.run(settings)
    assert result.deliveries == {email: "sent" for email in EXPECTED}
    run = result.folder
    assert run is not None
    for email, names in EXPECTED.items():
        got = faulty_smtp.attachments(email)
        assert set(got) == names, email
        assert len(faulty_smtp.messages_to(email)) == 1, email  # one set of messages
        for name, data in got.items():
            assert data == (run / "briefings" / name).read_bytes()
    assert len(faulty_smtp.accepted) == len(EXPECTED)
    again = pipeline.run(settings)  # unchanged data: nothing more is sent
    assert set(again.deliveries.values()) == {"already sent"}
    forced = pipeline.run(replace(settings, force=True))  # a new run, no change in it
    assert set(forced.deliveries.values()) == {"unchanged"}
    assert len(faulty_smtp.accepted) == len(EXPECTED)
    assert settings.delivery is not None
    eager = replace(settings, force=True,
                    delivery=replace(settings.delivery, send_unchanged=True))
    assert set(pipeline.run(eager).deliveries.values()) == {"sent"}
    assert len(faulty_smtp.accepted) == 2 * len(EXPECTED)


def test_no_output_file_holds_a_contact_address(faulty_smtp: FaultySMTP,
                                                tmp_path: Path) -> None:
    require_tool("pdftotext")
    settings = settings_for(faulty_smtp, tmp_path)
    run = pipeline.run(settings).folder
    assert run is not None
    contacts = [e for e in EXPECTED if e != "analyst@example.org"]
    texts = [(run / "manifest.json").read_text(encoding="utf-8"),
             (run / "briefings" / "index.html").read_text(encoding="utf-8")]
    with zipfile.ZipFile(run / "agreements.xlsx") as book:
        texts += [book.read(name).decode("utf-8", "replace") for name in book.namelist()]
    for pdf in (run / "briefings").glob("*.pdf"):
        texts.append(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                                    text=True, check=True).stdout)
    for text in texts:
        for address in contacts:
            assert address not in text
    status = run_cli("status", "--output", str(settings.output))
    assert "5 served (5 of them contacts), 0 failed" in status.stdout
    assert not any(address in status.stdout for address in contacts)
    verbose = run_cli("status", "--verbose", "--output", str(settings.output))
    assert all(address in verbose.stdout for address in contacts)


@pytest.mark.parametrize(("row", "expected"), [
    ("ministry-of-nothing,someone@example.org,",
     "contacts.csv:7: column 'party_id': 'ministry-of-nothing' is not a party of the data"),
    ("kobia,not an address,", "contacts.csv:7: column 'email': 'not an address' is not an "
                              "e-mail address"),
    ("kobia,x@example.org,overview;galaxy:*",
     "contacts.csv:7: column 'also': 'galaxy:*' is not a subscription"),
    ("kobia,,", "contacts.csv:7: column 'email': is empty"),
    # what csv cannot read is one line too, never a traceback
    ('kobia,"x@example.org', "contacts.csv:7: the file cannot be read as CSV"),
    ("kobia,x@example.org," + "y" * 200_000, "contacts.csv:7: the file cannot be read as CSV"),
])
def test_every_bad_row_is_one_line_exit_2_and_nothing_written(
        tmp_path: Path, row: str, expected: str) -> None:
    (tmp_path / "contacts.csv").write_text(CONTACTS + row + "\n", encoding="utf-8")
    config = tmp_path / "agreement-reports.toml"
    config.write_text(f'sources = "{BUNDLED_SOURCES}"\noutput = "output"\n[delivery]\n'
                      'dry_run = true\n[delivery.contacts]\nfile = "contacts.csv"\n',
                      encoding="utf-8")
    done = run_cli("run", "--config", str(config))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(expected), lines
    assert lines[-1].startswith("error: the contacts file contacts.csv has 1 error")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "output" / "runs").exists()
    assert not (tmp_path / "output" / "outbox").exists()


def test_every_problem_of_the_file_at_once(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text(
        "party_id,email\nnobody,a@example.org\nkobia,b@\n", encoding="utf-8")
    config = tmp_path / "agreement-reports.toml"
    config.write_text(f'sources = "{BUNDLED_SOURCES}"\noutput = "output"\n[delivery]\n'
                      '[delivery.contacts]\nfile = "contacts.csv"\n', encoding="utf-8")
    done = run_cli("run", "--config", str(config))
    assert done.returncode == 2
    assert "contacts.csv:2: column 'party_id'" in done.stderr
    assert "contacts.csv:3: column 'email'" in done.stderr
    (tmp_path / "contacts.csv").unlink()
    missing = run_cli("run", "--config", str(config))
    assert missing.returncode == 2 and "contacts.csv: file is missing" in missing.stderr

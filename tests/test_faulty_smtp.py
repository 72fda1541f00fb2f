"""The FaultySMTP fixture misbehaves exactly as documented, seen from plain smtplib."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

# importing the fixture function is what makes the `faulty_smtp` fixture available here
from tests.faulty_smtp import FaultySMTP, faulty_smtp_fixture  # noqa: F401

HOST = "127.0.0.1"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def message(to: str, filename: str = "overview.pdf") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "briefings@example.org"
    msg["To"] = to
    msg["Subject"] = "briefings"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("Attached.")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=filename)
    return msg


def poll(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_a_normal_send_is_accepted_with_its_message_id_and_attachment(
        faulty_smtp: FaultySMTP) -> None:
    msg = message("analyst@example.org")
    with smtplib.SMTP(HOST, faulty_smtp.port, timeout=5) as client:
        assert client.send_message(msg) == {}
    assert [m["Message-ID"] for m in faulty_smtp.accepted] == [msg["Message-ID"]]
    assert faulty_smtp.message_ids("analyst@example.org") == [msg["Message-ID"]]
    assert faulty_smtp.attachments("analyst@example.org") == {"overview.pdf": PDF}
    assert faulty_smtp.messages_to("someone-else@example.org") == []
    assert faulty_smtp.deliveries[0].mail_from == "briefings@example.org"
    assert faulty_smtp.data_count == 1


def test_drop_at_data_closes_without_a_reply_at_the_kth_data_of_the_servers_life(
        faulty_smtp: FaultySMTP) -> None:
    faulty_smtp.faults.drop_at_data = {2}
    first, second, third = (message("analyst@example.org", f"{n}.pdf") for n in "123")
    client = smtplib.SMTP(HOST, faulty_smtp.port, timeout=5)
    client.send_message(first)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.send_message(second)
    client = smtplib.SMTP(HOST, faulty_smtp.port, timeout=5)  # counting goes on across
    client.send_message(third)
    client.quit()
    assert faulty_smtp.message_ids("analyst@example.org") == [first["Message-ID"],
                                                              third["Message-ID"]]
    assert set(faulty_smtp.attachments("analyst@example.org")) == {"1.pdf", "3.pdf"}
    assert faulty_smtp.data_count == 3


def test_drop_always_drops_every_data_until_switched_off(faulty_smtp: FaultySMTP) -> None:
    faulty_smtp.faults.drop_always = True
    for _ in range(2):
        client = smtplib.SMTP(HOST, faulty_smtp.port, timeout=5)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.send_message(message("analyst@example.org"))
    assert faulty_smtp.accepted == []
    faulty_smtp.faults.drop_always = False  # between sends
    msg = message("analyst@example.org")
    with smtplib.SMTP(HOST, faulty_smtp.port, timeout=5) as client:
        client.send_message(msg)
    assert faulty_smtp.message_ids("analyst@example.org") == [msg["Message-ID"]]
    assert faulty_smtp.data_count == 3


def test_quit_421_answers_quit_with_421_after_accepting_the_message(
        faulty_smtp: FaultySMTP) -> None:
    faulty_smtp.faults.quit_421 = True
    msg = message("analyst@example.org")
    client = smtplib.SMTP(HOST, faulty_smtp.port, timeout=5)
    client.send_message(msg)
    # smtplib's quit() does not raise on a non-221 reply: it returns it
    assert client.quit() == (421, b"4.3.0 closing")
    assert faulty_smtp.message_ids("analyst@example.org") == [msg["Message-ID"]]
    # ... but leaving a `with smtplib.SMTP(...)` block does
    again = message("analyst@example.org")
    with pytest.raises(smtplib.SMTPResponseException) as raised, \
            smtplib.SMTP(HOST, faulty_smtp.port, timeout=5) as client:
        client.send_message(again)
    assert raised.value.smtp_code == 421
    assert [m["Message-ID"] for m in faulty_smtp.accepted] == [msg["Message-ID"],
                                                               again["Message-ID"]]


def test_trickle_sends_each_reply_byte_by_byte_so_a_read_timeout_never_fires(
        faulty_smtp: FaultySMTP) -> None:
    faulty_smtp.faults.trickle_s = 0.05
    client = smtplib.SMTP(timeout=0.5)
    start = time.monotonic()
    greeting = client.connect(HOST, faulty_smtp.port)
    took = time.monotonic() - start
    client.close()
    assert greeting == (220, b"faulty.smtp.test FaultySMTP")
    # 33 bytes with 0.05 s between them: 1.6 s, three times the client's timeout
    assert 1.0 < took < 4.0


def test_stopping_returns_promptly_while_a_reply_is_trickling() -> None:
    server = FaultySMTP().start()
    server.faults.trickle_s = 2.0
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        assert sock.recv(100) == b"2"  # the rest of the greeting would take a minute
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 5.0
        try:
            rest = sock.recv(100)
        except ConnectionResetError:
            rest = b""
        assert rest == b""  # closed, not waited out: the next byte was 2 s away


def test_hang_at_data_never_replies_and_the_client_times_out(faulty_smtp: FaultySMTP) -> None:
    faulty_smtp.faults.hang_at_data = True
    client = smtplib.SMTP(HOST, faulty_smtp.port, timeout=1)
    start = time.monotonic()
    with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError)):
        client.send_message(message("analyst@example.org"))
    assert 0.9 < time.monotonic() - start < 4.0
    client.close()
    assert faulty_smtp.accepted == []
    assert faulty_smtp.data_count == 1


def test_stopping_returns_promptly_while_a_client_waits_on_a_hung_data() -> None:
    server = FaultySMTP().start()
    server.faults.hang_at_data = True

    def send() -> None:
        with smtplib.SMTP(HOST, server.port, timeout=30) as client:
            client.send_message(message("analyst@example.org"))

    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send)
        poll(lambda: server.data_count == 1)
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 5.0
        with pytest.raises(smtplib.SMTPServerDisconnected):
            sending.result(timeout=5)
    assert server.accepted == []


def test_refuse_gives_550_for_those_recipients_only(faulty_smtp: FaultySMTP) -> None:
    faulty_smtp.faults.refuse = {"gone@example.org"}
    with smtplib.SMTP(HOST, faulty_smtp.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
            client.send_message(message("gone@example.org"))
        assert raised.value.recipients == {
            "gone@example.org": (550, b"5.1.1 mailbox unavailable")}
        both = message("gone@example.org, analyst@example.org")
        assert client.send_message(both) == {
            "gone@example.org": (550, b"5.1.1 mailbox unavailable")}
    assert faulty_smtp.messages_to("gone@example.org") == []
    assert faulty_smtp.message_ids("analyst@example.org") == [both["Message-ID"]]
    assert faulty_smtp.data_count == 1

"""A real SMTP server on loopback that misbehaves on purpose (aiosmtpd in a background thread).

    with FaultySMTP() as server:
        server.faults.drop_at_data = {2}       # configurable before or between sends
        ... deliver to 127.0.0.1:server.port ...
        assert server.message_ids("someone@example.org") == [...]

or the ``faulty_smtp`` fixture, which a test module gets by importing its function:
``from tests.faulty_smtp import FaultySMTP, faulty_smtp_fixture  # noqa: F401``.

The faults (``server.faults``, read by the server thread at the moment each one applies):

* ``drop_at_data``: a set of 1-based numbers k. When the server has received the content of the
  k-th DATA over its whole life (counted across connections, see ``data_count``), it closes the
  connection without a reply; that message is not accepted. ``drop_always`` does so every time.
* ``quit_421``: QUIT is answered ``421 4.3.0 closing`` instead of 221 (messages before it were
  accepted normally).
* ``trickle_s``: every reply line, from the 220 greeting on, is written one byte at a time with
  this many seconds between bytes.
* ``hang_at_data``: after receiving DATA content the server never replies (until the client
  goes away or the server stops); that message is not accepted.
* ``hang_from_data``: hang like ``hang_at_data`` from the k-th DATA on (counted as above).
* ``refuse``: RCPT TO for these addresses gets ``550 5.1.1 mailbox unavailable``.

Stopping closes every connection first (trickling or hanging ones too) and waits a bounded time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from types import TracebackType
from typing import Any, AnyStr

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

STOP_TIMEOUT_S = 5.0
GREETING_HOST = "faulty.smtp.test"
IDENT = "FaultySMTP"  # the greeting is "220 faulty.smtp.test FaultySMTP\r\n", 33 bytes


@dataclass
class Faults:
    """What the server does wrong; all off by default. Mutable at any time from the test."""

    drop_at_data: set[int] = field(default_factory=set)
    drop_always: bool = False
    quit_421: bool = False
    trickle_s: float | None = None
    hang_at_data: bool = False
    hang_from_data: int | None = None
    refuse: set[str] = field(default_factory=set)

    def clear(self) -> None:
        """Back to a well-behaved server."""
        self.drop_at_data = set()
        self.drop_always = False
        self.quit_421 = False
        self.trickle_s = None
        self.hang_at_data = False
        self.hang_from_data = None
        self.refuse = set()


@dataclass(frozen=True)
class Delivery:
    """One message the server answered 250 to, with its envelope."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


async def _forever() -> None:
    """Wait until cancelled (the connection is lost, or the server stops)."""
    await asyncio.get_running_loop().create_future()


class _Handler:
    """aiosmtpd hooks: refusals, the DATA faults, the QUIT reply, and recording."""

    def __init__(self, owner: FaultySMTP) -> None:
        self._owner = owner

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if address in self._owner.faults.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        owner = self._owner
        faults = owner.faults
        number = owner._count_data()
        if faults.drop_always or number in faults.drop_at_data:
            assert server.transport is not None
            server.transport.close()
            await _forever()  # connection_lost cancels this: no reply is ever written
        if faults.hang_at_data or (faults.hang_from_data is not None
                                   and number >= faults.hang_from_data):
            await _forever()
        content = envelope.original_content
        assert isinstance(content, bytes)
        message = BytesParser(EmailMessage, policy=default_policy).parsebytes(content)
        owner._record(Delivery(envelope.mail_from or "", tuple(envelope.rcpt_tos), message))
        return "250 2.0.0 OK message accepted"

    async def handle_QUIT(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        return "421 4.3.0 closing" if self._owner.faults.quit_421 else "221 2.0.0 Bye"


class _Protocol(SMTP):
    """One connection: registers itself with the owner, and trickles its replies if asked."""

    def __init__(self, owner: FaultySMTP, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._owner._connections.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._connections.discard(self)
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        delay = self._owner.faults.trickle_s
        if not delay:
            await super().push(status)
            return
        line = status.encode("utf-8") if isinstance(status, str) else status
        for i, byte in enumerate(line + b"\r\n"):
            if i:
                await asyncio.sleep(delay)
            self._writer.write(bytes((byte,)))
            await self._writer.drain()

    def kill(self) -> asyncio.Task[None] | None:
        """Abort the connection and cancel its task, which is returned for awaiting."""
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]
        task = self._handler_coroutine
        if task is not None:
            task.cancel()
        return task


class _Controller(Controller):
    """Controller on an ephemeral port, building _Protocol, with a bounded stop."""

    def __init__(self, owner: FaultySMTP, server_hostname: str) -> None:
        super().__init__(_Handler(owner), hostname="127.0.0.1", port=0,
                         server_hostname=server_hostname, ident=IDENT, ready_timeout=5.0)
        self._owner = owner

    def factory(self) -> SMTP:
        return _Protocol(self._owner, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # port=0 bound an ephemeral port: learn it before start() connects to it
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def stop(self, no_assert: bool = False, timeout: float = STOP_TIMEOUT_S) -> None:
        assert no_assert or self._thread is not None, "SMTP daemon not running"
        thread = self._thread
        if thread is not None:
            self.loop.call_soon_threadsafe(self.cancel_tasks)
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"the SMTP server thread did not stop within {timeout} s")
            self._thread = None
        self._cleanup()


class FaultySMTP:
    """An SMTP server on 127.0.0.1:``port`` with ``faults``; a context manager.

    ``accepted`` holds every message whose DATA was answered 250, in order, and ``deliveries``
    the same with their envelopes. The helpers select by envelope recipient (RCPT TO that was
    not refused), not by the To header.
    """

    def __init__(self, hostname: str = GREETING_HOST) -> None:
        self.faults = Faults()
        self.accepted: list[EmailMessage] = []
        self.deliveries: list[Delivery] = []
        self.port = 0
        self._data_count = 0
        self._lock = threading.Lock()
        self._connections: set[_Protocol] = set()  # only touched in the server's thread
        self._controller = _Controller(self, hostname)
        self._running = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FaultySMTP:
        self._controller.start()
        self.port = self._controller.port
        self._running = True
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Close every connection (trickling and hanging ones too), then the server.

        Raises RuntimeError if the server thread is still alive after ``timeout`` seconds.
        """
        if not self._running:
            return
        self._running = False
        deadline = time.monotonic() + timeout
        closing = asyncio.run_coroutine_threadsafe(self._close_all(), self._controller.loop)
        try:
            closing.result(timeout)
        except concurrent.futures.TimeoutError:
            closing.cancel()
        self._controller.stop(timeout=max(0.1, deadline - time.monotonic()))

    async def _close_all(self) -> None:
        server = self._controller.server
        if server is not None:
            server.close()  # no new connections
        tasks = [task for proto in list(self._connections) if (task := proto.kill()) is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    def __enter__(self) -> FaultySMTP:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- what the server saw ---------------------------------------------------------------

    @property
    def data_count(self) -> int:
        """How many DATA contents the server has received so far (what drop_at_data counts)."""
        with self._lock:
            return self._data_count

    def _count_data(self) -> int:
        with self._lock:
            self._data_count += 1
            return self._data_count

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
            self.accepted.append(delivery.message)

    def messages_to(self, address: str) -> list[EmailMessage]:
        """Accepted messages with ``address`` among their (accepted) envelope recipients."""
        with self._lock:
            return [d.message for d in self.deliveries if address in d.rcpt_tos]

    def attachments(self, address: str) -> dict[str, bytes]:
        """Filename -> bytes of every attachment accepted for ``address`` (a later one of the
        same name replaces an earlier one: count duplicates with ``message_ids``)."""
        out: dict[str, bytes] = {}
        for message in self.messages_to(address):
            for part in message.iter_attachments():
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                out[part.get_filename() or ""] = payload
        return out

    def message_ids(self, address: str) -> list[str]:
        """The Message-ID of each message accepted for ``address``, in order ('' if none)."""
        return [str(m.get("Message-ID", "")) for m in self.messages_to(address)]


@pytest.fixture(name="faulty_smtp")
def faulty_smtp_fixture() -> Iterator[FaultySMTP]:
    """A running FaultySMTP, stopped after the test."""
    with FaultySMTP() as server:
        yield server

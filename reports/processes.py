"""Child processes: forked jobs (`Job`), and none outlives the run that started them.

A render worker or a forked job (the workbook writer, the snapshot writer, the
briefing checker, a CSV reader) calls `die_with_parent` first thing: when the main
process dies (SIGKILL included), the child is killed too, so no orphan goes on
writing into a staging folder that nobody will publish.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import multiprocessing.process
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from .errors import ReportsError

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


def fork_available() -> bool:
    """Whether children can inherit this process's memory (tests force False to check spawn)."""
    return "fork" in multiprocessing.get_all_start_methods()


# How much lower than the main process children run whose work can wait for the rest:
# the briefing renderers (the workbook writer runs beside them in a routine run, and
# finishes last) and the briefing checker (its digests are needed only when the
# briefings are). A batch job is also kinder to the machine this way.
RENDER_NICENESS = 5
BACKGROUND_NICENESS = 10
# The snapshot writer, once it has handed over the changes, runs below the workbook
# writer but above the renderers: its file is needed only at publishing, but it holds a
# copy of the data (about 0.3 GB at 100,000 agreements) until it is done, and must be
# done before the renderers start, or the run's peak memory holds both (1.05 GB).
SNAPSHOT_NICENESS = 2


def lower_priority(increment: int) -> None:
    """Make this process nicer by `increment` (never an error: a platform without nice)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(increment)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies; poll where it cannot.

    Ctrl-C is the parent's to handle (it stops its children): a child ignores SIGINT
    and takes SIGTERM's default action, rather than print a traceback of its own through
    a handler inherited from the parent.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # held by the parent while it forked us
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # the parent died before the call above
                    os._exit(1)
                return
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="watch-parent").start()


_STOPPING = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while forking: one that lands in fork's own callbacks is
    lost (CPython ignores exceptions there), so the run would go on. Held, it is
    delivered the moment the fork is done."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def stop_children(keep: set[multiprocessing.process.BaseProcess] | frozenset = frozenset()
                  ) -> None:
    """Kill this process's multiprocessing children (but `keep`), and reap them.

    SIGKILL, not SIGTERM: a child has nothing to clean up (the parent removes the staging
    folder), and one killed before it reset its signal handlers cannot print a traceback.
    """
    children = [p for p in multiprocessing.active_children() if p not in keep]
    for child in children:
        with contextlib.suppress(Exception):
            child.kill()
    for child in children:
        with contextlib.suppress(Exception):
            child.join(5)


class Job(Generic[T]):
    """A job run in a forked process while this one goes on (or in-process, at `result()`).

    `result()` returns the job's value or raises its exception. Leaving the `with`
    block stops a job still running (when something else failed), so that nothing
    outlives the run. The job's closure is inherited through fork, never pickled;
    only its (small) values or exception come back through a pipe.

    A job may be a generator: it hands one value over early (`first()`, as soon as it
    yields it) and goes on with the rest of its work; `result()` is what it returns.
    A forked job runs `nicer` lower in priority than this process, and `nicer_after_first`
    lower still once it has handed its first value over (work that can wait for the
    others'). `name` names the process in errors ("the <name> stopped without a result").

    A job with an `inbox` starts before all it needs is known: it is called with a
    function that returns the value `send()` gives it, waiting for it (in-process, the
    job runs at `result()`, after `send()`).
    """

    def __init__(self, job: Callable[..., Any], *, background: bool, name: str = "forked job",
                 staged: bool = False, nicer: int = 0, nicer_after_first: int = 0,
                 inbox: bool = False) -> None:
        self._process: multiprocessing.process.BaseProcess | None = None
        self._value: tuple[bool, object] | None = None
        self._job = job
        self._staged = staged
        self._generator: Generator[Any, None, T] | None = None
        assert not (staged and inbox), "a job is staged or has an inbox, not both"
        self._inbox = inbox
        self._sent: list[object] = []
        self._outbox: Connection | None = None
        if background and fork_available():
            context = multiprocessing.get_context("fork")
            self._reader, writer = context.Pipe(duplex=False)
            received: Connection | None = None
            if inbox:
                received, self._outbox = context.Pipe(duplex=False)
            self._process = context.Process(target=_job_child,
                                            args=(job, writer, os.getpid(), staged,
                                                  nicer, nicer_after_first, received),
                                            name=name, daemon=True)
            # the cyclic GC would otherwise write to every inherited object's header and
            # so copy the pages the child could share with this process (see gc.freeze)
            gc.freeze()
            try:
                with signals_held():  # a Ctrl-C during fork is never lost
                    self._process.start()
            finally:
                gc.unfreeze()
            writer.close()
            if received is not None:
                received.close()

    def send(self, value: object) -> None:
        """Give a job with an inbox the value it waits for (once)."""
        assert self._inbox and not self._sent, "send() once, to a job with an inbox"
        self._sent.append(value)
        if self._outbox is not None:
            with contextlib.suppress(OSError):  # the job is gone: result() says how
                self._outbox.send(value)

    @property
    def forked(self) -> bool:
        """True when the job runs in a child process (which has its own copy of the data)."""
        return self._process is not None

    def first(self) -> object:
        """The value a staged job hands over early."""
        assert self._staged
        if self._process is None:
            self._generator = self._job()  # type: ignore[assignment]
            assert self._generator is not None
            return next(self._generator)
        ok, value = self._receive()
        if not ok:
            self._value = (ok, value)  # result() raises it too
            assert isinstance(value, BaseException)
            raise value
        return value

    def result(self) -> T:
        if self._process is None:
            if self._inbox:
                assert self._sent, "send() comes before result()"
                return self._job(lambda: self._sent[0])  # type: ignore[no-any-return]
            if not self._staged:
                return self._job()  # type: ignore[return-value]
            assert self._generator is not None, "first() comes before result()"
            try:
                next(self._generator)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            raise AssertionError("a staged job yields once")
        if self._value is None:
            self._value = self._receive()
            self._process.join()
        ok, value = self._value
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]

    def _receive(self) -> tuple[bool, object]:
        assert self._process is not None
        try:
            received: tuple[bool, object] = self._reader.recv()
        except EOFError:
            self._process.join()
            raise ReportsError(f"the {self._process.name} stopped without a "
                               f"result (exit code {self._process.exitcode})") from None
        return received

    def __enter__(self) -> Job[T]:
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()  # see stop_children: nothing to clean up there
            self._process.join()


def _job_child(job: Callable[..., object], writer: Connection, parent: int,
               staged: bool = False, nicer: int = 0, nicer_after_first: int = 0,
               received: Connection | None = None) -> None:
    die_with_parent(parent)
    if nicer:
        lower_priority(nicer)

    def send(outcome: tuple[bool, object]) -> None:
        try:
            writer.send(outcome)
        except Exception as exc:  # an unpicklable value or exception: say what it was
            writer.send((False, ReportsError(f"{outcome[1]!r} ({exc})")))

    try:
        if staged:
            generator = job()
            assert isinstance(generator, Generator)
            send((True, next(generator)))
            if nicer_after_first:  # the rest can wait for the others' work
                lower_priority(nicer_after_first)
            try:
                next(generator)
                raise AssertionError("a staged job yields once")
            except StopIteration as stop:
                outcome: tuple[bool, object] = (True, stop.value)
        elif received is not None:
            inbox = received

            def receive() -> object:
                return inbox.recv()  # EOFError when the parent stopped without sending

            outcome = (True, job(receive))
        else:
            outcome = (True, job())
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        # the parent raises it again from its own stack: keep where it really happened,
        # for --debug
        exc.add_note("raised in the forked process:\n" + traceback.format_exc().rstrip())
        outcome = (False, exc)
    send(outcome)
    writer.close()

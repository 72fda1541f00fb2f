"""Child processes never outlive the run that started them.

A render worker or the forked workbook writer calls `die_with_parent` first thing:
when the main process dies (SIGKILL included), the child is killed too, so no
orphan goes on writing into a staging folder that nobody will publish.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

_PR_SET_PDEATHSIG = 1


def fork_available() -> bool:
    """Whether children can inherit this process's memory (tests force False to check spawn)."""
    return "fork" in multiprocessing.get_all_start_methods()


# How much lower than the main process children run whose work can wait for the rest:
# the briefing renderers (the workbook writer runs beside them in a routine run, and
# finishes last), and the snapshot writer once it has handed over the changes (its file
# is needed only at publishing). A batch job is also kinder to the machine this way.
RENDER_NICENESS = 5
BACKGROUND_NICENESS = 10


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

"""Staging folder, atomic publication, `latest`, manifest, retention, history, the run lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import PublishError, RunLocked

RUNS = "runs"
LATEST = "latest"
HISTORY = "history.jsonl"
LOCK = ".lock"
STAGING_PREFIX = ".staging-"
log = logging.getLogger(__name__)


_HELD: set[Path] = set()  # lock files this process holds (POSIX locks are per process)


@contextlib.contextmanager
def run_lock(output: Path) -> Iterator[None]:
    """Hold the run lock on the output folder; the kernel frees it when this process dies.

    A POSIX record lock (lockf), not flock: forked children do not inherit it, so a
    render worker that outlives a killed run can never keep the lock. The file names
    the holder's process id and since when it holds the lock.
    """
    output.mkdir(parents=True, exist_ok=True)
    path = output / LOCK
    key = path.resolve()
    if key in _HELD:
        raise RunLocked("another run is already running in this process; "
                        f"it holds {path}", pid=os.getpid())
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            handle.seek(0)
            pid, since = _holder(handle.read())
            when = f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""
            raise RunLocked(f"another run is already running (process {pid or 'unknown'})"
                            f"{when}; it holds {path}", pid=pid, since=since) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n")
        handle.flush()
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
    finally:
        handle.close()  # closing releases the lock


def _holder(text: str) -> tuple[int | None, dt.datetime | None]:
    """The process id and start time a lock file names (either may be missing)."""
    words = text.split()
    pid = int(words[0]) if words and words[0].isdigit() else None
    since = None
    if len(words) > 1:
        with contextlib.suppress(ValueError):
            since = dt.datetime.fromisoformat(words[1])
    return pid, since


def new_run_id(now: dt.datetime, sources_sha256: str) -> str:
    return f"{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}-{sources_sha256[:8]}"


def latest_run(output: Path) -> Path | None:
    """The folder `latest` points to, when it is a complete published run."""
    link = output / LATEST
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return target if (target / "manifest.json").is_file() else None


def read_manifest(run_folder: Path) -> dict | None:
    """The run's manifest, or None when it is missing or not a manifest at all."""
    try:
        manifest = json.loads((run_folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", []), list):
        return None
    return manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


STAGING_MARK = ".agreement-reports-staging"  # inside every staging folder the job makes
_STAGING_RE = re.compile(r"\.staging-\d{8}-\d{6}-[0-9a-f]{8}")
_LATEST_TMP_RE = re.compile(rf"{LATEST}\.tmp-\d+")


def remove_stale_staging(output: Path) -> list[str]:
    """Remove staging folders a killed run left (called under the lock); only the job's own.

    A folder counts as the job's when its name is `.staging-<run id>` and it holds the
    job's mark file: a folder of the user's that merely starts with `.staging-` stays.
    """
    removed: list[str] = []
    if not output.is_dir():
        return removed
    for child in output.iterdir():
        if (_STAGING_RE.fullmatch(child.name) and not child.is_symlink() and child.is_dir()
                and (child / STAGING_MARK).is_file()):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
        elif _LATEST_TMP_RE.fullmatch(child.name) and child.is_symlink():
            with contextlib.suppress(OSError):
                child.unlink()
    return removed


@contextlib.contextmanager
def staging_folder(output: Path, run_id: str) -> Iterator[Path]:
    """A hidden folder inside output/ for the run's files; removed unless published."""
    path = output / f"{STAGING_PREFIX}{run_id}"
    path.mkdir(parents=True, exist_ok=False)
    (path / STAGING_MARK).write_bytes(b"")
    try:
        yield path
    finally:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    """Every file and folder on disk. A file with more than one link is the last run's,
    linked in as it is (pipeline: a briefing that stands): its data was made durable when
    that run was published, and only the new folder entry (its folder's fsync) is."""
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if os.stat(path).st_nlink > 1:
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))  # os.walk visits every folder once as a root


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_latest(output: Path) -> None:
    """`latest` must be absent or a link: the job never replaces anything else."""
    link = output / LATEST
    if link.exists() and not link.is_symlink():
        what = "a folder" if link.is_dir() else "a file"
        raise PublishError(f"{link} is {what}, not the link this job keeps there; move it "
                           "away so that runs can be published")


def publish(staging: Path, output: Path, run_id: str) -> Path:
    """fsync the staged run, move it to runs/<run_id> with one rename, switch `latest`.

    The run is moved into runs/ only when `latest` can point at it: a failure to switch
    the link moves it back, so runs/ never holds a run that was not published.
    """
    check_latest(output)
    runs = output / RUNS
    final = runs / run_id
    try:
        runs.mkdir(parents=True, exist_ok=True)
        _fsync_tree(staging)
        if final.exists():
            raise PublishError(f"run folder {final} already exists")
        temporary = output / f"{LATEST}.tmp-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(Path(RUNS) / run_id, temporary)
        try:
            os.rename(staging, final)
            try:
                os.replace(temporary, output / LATEST)  # atomic switch
            except OSError:
                os.rename(final, staging)  # not published: the staging folder is removed
                raise
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        with contextlib.suppress(FileNotFoundError):
            (final / STAGING_MARK).unlink()  # after the move: a staging folder always has its mark
        _fsync_dir(final)
        _fsync_dir(runs)
        _fsync_dir(output)
    except OSError as exc:
        raise PublishError(f"could not publish the run in {output}: {exc}") from exc
    return final


def remove_old_runs(output: Path, keep: int, protect: set[str] | frozenset[str] = frozenset()
                    ) -> list[str]:
    """Keep the newest `keep` runs (and `latest` and protected ones); return what was removed."""
    runs = output / RUNS
    if not runs.is_dir():
        return []
    folders = sorted((p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.name)
    current = latest_run(output)
    removed = []
    for folder in folders[:-keep] if keep else folders:
        if folder.name in protect or (current is not None and folder == current):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def append_history(output: Path, record: dict) -> None:
    """One JSON line per attempted run or delivery, written whole in one write and synced.

    A line torn by a full disk or a crash is never glued to the next record: when the
    file does not end with a line break, the record starts on a new line.
    """
    output.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(output / HISTORY, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(errno.ENOSPC, f"only {written} of {len(line)} bytes written",
                          str(output / HISTORY))
        os.fsync(fd)
    finally:
        os.close(fd)


_WARNED: set[tuple[str, int]] = set()


def read_history(output: Path) -> list[dict]:
    """Every readable record; a damaged line (torn, not JSON, not UTF-8) is skipped, with a
    warning the first time this process meets it."""
    path = output / HISTORY
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("could not read %s: %s", path, exc)
        return []
    records = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif (str(path), number) not in _WARNED:
            _WARNED.add((str(path), number))
            log.warning("%s: line %d is damaged and was skipped", path, number)
    return records


@dataclass(frozen=True)
class FileEntry:
    path: str
    kind: str
    scope: str
    subject: str
    bytes: int
    sha256: str
    version: str = ""
    title: str = ""
    pages: int = 0
    reused: bool = False
    subject_id: str = ""
    changes: tuple[str, ...] | None = None  # "since the last briefing" lines it shows
    figures: tuple[tuple[str, str], ...] = ()  # its key figures (label, value as shown)

    def as_json(self) -> dict:
        entry: dict = {"path": self.path, "kind": self.kind, "scope": self.scope,
                       "subject": self.subject, "bytes": self.bytes, "sha256": self.sha256}
        if self.kind == "briefing":
            entry.update(version=self.version, title=self.title, pages=self.pages,
                         reused=self.reused, subject_id=self.subject_id,
                         changes=list(self.changes) if self.changes is not None else None,
                         figures={label: int(value.replace(",", ""))
                                  for label, value in self.figures})
        return entry

    @classmethod
    def from_json(cls, entry: dict, *, reused: bool) -> FileEntry:
        """A briefing's entry as as_json wrote it in a manifest (figures as shown again)."""
        changes = entry.get("changes")
        return cls(entry["path"], entry["kind"], entry["scope"], entry["subject"],
                   entry["bytes"], entry["sha256"], entry["version"], entry["title"],
                   entry["pages"], reused, entry["subject_id"],
                   None if changes is None else tuple(changes),
                   tuple((label, f"{value:,}") for label, value in entry["figures"].items()))

"""Staging folder, atomic publication, `latest`, manifest, retention, history, the run lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
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


@contextlib.contextmanager
def run_lock(output: Path) -> Iterator[None]:
    """Hold the kernel lock on the output folder for a whole run; freed when the process dies."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / LOCK
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLocked(f"another run is already running (process {holder}); "
                            f"it holds {path}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


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
    try:
        return json.loads((run_folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_stale_staging(output: Path) -> None:
    """Remove staging folders left by a crashed run (called under the lock)."""
    if not output.is_dir():
        return
    for child in output.iterdir():
        if child.name.startswith(STAGING_PREFIX):
            shutil.rmtree(child, ignore_errors=True)
    for child in output.glob(f"{LATEST}.tmp-*"):
        with contextlib.suppress(OSError):
            child.unlink()


@contextlib.contextmanager
def staging_folder(output: Path, run_id: str) -> Iterator[Path]:
    """A hidden folder inside output/ for the run's files; removed unless published."""
    path = output / f"{STAGING_PREFIX}{run_id}"
    path.mkdir(parents=True, exist_ok=False)
    try:
        yield path
    finally:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for name in [*dirs, "."]:
            _fsync_dir(Path(root) / name)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(staging: Path, output: Path, run_id: str) -> Path:
    """fsync the staged run, move it to runs/<run_id> with one rename, switch `latest`."""
    runs = output / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    final = runs / run_id
    try:
        _fsync_tree(staging)
        if final.exists():
            raise PublishError(f"run folder {final} already exists")
        os.rename(staging, final)
        _fsync_dir(runs)
        temporary = output / f"{LATEST}.tmp-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(Path(RUNS) / run_id, temporary)
        os.replace(temporary, output / LATEST)  # atomic switch
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
    """One JSON line per attempted run or delivery, appended and flushed."""
    output.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    with (output / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_history(output: Path) -> list[dict]:
    path = output / HISTORY
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
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

    def as_json(self) -> dict:
        entry: dict = {"path": self.path, "kind": self.kind, "scope": self.scope,
                       "subject": self.subject, "bytes": self.bytes, "sha256": self.sha256}
        if self.kind == "briefing":
            entry.update(version=self.version, title=self.title, pages=self.pages,
                         reused=self.reused, subject_id=self.subject_id,
                         changes=list(self.changes) if self.changes is not None else None)
        return entry

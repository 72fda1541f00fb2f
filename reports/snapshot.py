"""The validated data as each run stores it, and what the next run reads of it.

A run stores its data in `data/snapshot.json.gz`: the text `json.dump(snapshot,
sort_keys=True)` writes, {table: {row key: {column: text}}}, so that the next run
can say what changed. A routine run follows an edit of a few rows; reading and
comparing a hundred thousand rows to find them would cost more than the rest of
the run. So the file is written as one gzip member per chunk of rows (still one
valid gzip file of the same text), and beside it `data/snapshot-index.json.gz`
holds every row's key and a digest of its content (64 bits, `_row_digests`) and where
each chunk's member is. The next run
computes the same digests for its own rows and reads, of the last snapshot, only
the chunks holding rows whose digest differs or that are gone (`Previous.compare`);
its writer copies the compressed members of unchanged chunks as they are (same
bytes as compressing them again). The index is one JSON text too, written as gzip
members so that each table's keys and digests are a member of their own, which the
next index copies when they are the same. An index that is missing, damaged or not for
this very snapshot (its SHA-256 is recorded) is never trusted: the whole snapshot
is then read and compared as it always was.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from .validate import DataSet

SNAPSHOT_PATH = "data/snapshot.json.gz"
INDEX_PATH = "data/snapshot-index.json.gz"
# 2: each table's keys and digests a gzip member of their own; 3: digests by pandas' hash
INDEX_FORMAT = 3
SNAPSHOT_CHUNK = 5_000  # rows encoded, compressed and reused at a time
DIGEST = 8  # bytes of digest per row (_row_digests)
# between the keys in the index (as one string, several times faster to store and read
# than a list): a noncharacter, which validation removes from every cell and JSON stores
# as it is
KEY_SEPARATOR = "\uffff"
# how rows are identified per table
KEYS: dict[str, tuple[str, ...]] = {
    "agreements": ("agreement_id",),
    "parties": ("party_id",),
    "participation": ("agreement_id", "party_id", "role"),
    "themes": ("theme_id",),
    "targets": ("agreement_id", "description"),
    "sources": ("source_id",),
}

Rows = dict[str, dict[str, str]]  # row key -> {column: text}


class UnreadableSnapshot(Exception):
    """The previous run's snapshot is missing, damaged or not of the shape this job writes."""


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, tuple | list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _texts(column: pd.Series) -> list[str]:
    """A column's cells as the snapshot stores them: text as it is, others through _text
    (a column of text only, the usual case, without looking at each cell in Python)."""
    import pandas as pd

    values = column.tolist()
    if pd.api.types.infer_dtype(column, skipna=False) == "string":
        return values
    return [v if v.__class__ is str else _text(v) for v in values]


def _row_digests(texts: list[list[str]], order: list[int]) -> bytes:
    """DIGEST bytes per row, in `order`: a 64-bit hash of the row's cells (pandas'
    SipHash of each cell's UTF-8, combined in column order), little-endian. Vectorised,
    several times faster than a BLAKE2b call per row; a row whose digest differs from
    the last run's is read and compared, so a digest that changes with pandas' version
    costs a slower run, never a missed change."""
    import pandas as pd

    if not texts:
        return b"\0" * DIGEST * len(order)
    frame = pd.DataFrame({n: pd.Series(column, dtype=object) for n, column in enumerate(texts)})
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(np.uint64)
    return hashes[np.asarray(order, dtype=np.intp)].astype("<u8").tobytes()


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass
class Table:
    """One table of this run's snapshot: the text of every cell (a list per column, in
    the frame's order), each row's key, the rows in key order and their digests."""

    columns: list[str]  # sorted, as the JSON has them
    texts: list[list[str]]  # per column
    keys: list[str]  # per row, in the frame's order
    order: list[int]  # frame positions in key order
    digests: bytes  # DIGEST bytes per row, in key order

    @classmethod
    def of(cls, frame: pd.DataFrame, key: tuple[str, ...]) -> Table:
        columns = sorted(c for c in frame.columns if c != "_row")
        texts = [_texts(frame[c]) for c in columns]
        at = [columns.index(k) for k in key]
        keys = (list(texts[at[0]]) if len(at) == 1
                else list(map("/".join, zip(*(texts[i] for i in at), strict=True))))
        if len(set(keys)) != len(keys):  # targets have no id: a repeated one keeps its own row
            seen: set[str] = set()
            for n, row_key in enumerate(keys):
                if row_key in seen:
                    k = 2
                    while f"{row_key}#{k}" in seen:
                        k += 1
                    row_key = keys[n] = f"{row_key}#{k}"
                seen.add(row_key)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return cls(columns, texts, keys, order, _row_digests(texts, order))

    def row(self, position: int) -> dict[str, str]:
        """The row at a frame position, as the snapshot stores it."""
        return {c: column[position] for c, column in zip(self.columns, self.texts,
                                                           strict=True)}

    def sorted_keys(self) -> list[str]:
        keys = self.keys
        return [keys[p] for p in self.order]

    def chunk_text(self, start: int) -> str:
        """The JSON text of the rows from `start` (in key order), as json.dump writes it
        inside the table's object: ', ' before every chunk but the first."""
        rows = {self.keys[p]: self.row(p) for p in self.order[start:start + SNAPSHOT_CHUNK]}
        return (", " if start else "") + _dumps(rows)[1:-1]


class _View(Mapping[str, dict[str, str]]):
    """A table of this run's snapshot as {row key: row}, made a row at a time."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._at: dict[str, int] | None = None

    def _positions(self) -> dict[str, int]:
        if self._at is None:
            self._at = {k: n for n, k in enumerate(self._table.keys)}
        return self._at

    def __getitem__(self, key: str) -> dict[str, str]:
        return self._table.row(self._positions()[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.sorted_keys())

    def __len__(self) -> int:
        return len(self._table.keys)


class Snapshot:
    """This run's validated data as the snapshot stores it."""

    def __init__(self, data: DataSet) -> None:
        self.tables = {name: Table.of(data.table(name), key) for name, key in KEYS.items()}

    def views(self) -> dict[str, Mapping[str, dict[str, str]]]:
        return {name: _View(table) for name, table in self.tables.items()}

    def as_dict(self) -> dict[str, Rows]:
        return {name: {table.keys[p]: table.row(p) for p in table.order}
                for name, table in self.tables.items()}


def snapshot(data: DataSet) -> dict[str, Rows]:
    """The data as {table: {row key: {column: text}}}, as the snapshot file holds it."""
    return Snapshot(data).as_dict()


# -- writing ------------------------------------------------------------------------------

def write_snapshot(snap: Snapshot, folder: Path, last: _Index | None = None) -> Path:
    """Store the snapshot in `folder` and its index beside it; chunks of rows that are
    the same as in the last run's snapshot (`last`: the index `compare` read and
    trusted, Compared.index) are copied from it.

    Each chunk is encoded with json.dumps (whose C encoder is several times faster than
    the pure-Python one json.dump streams with) and compressed fast as its own gzip
    member (mtime 0, so that the same data gives the same bytes).
    """
    path = folder / SNAPSHOT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    chunks_of: dict[str, list[tuple[int, int]]] = {}
    keys_of: dict[str, list[str]] = {}
    with path.open("wb") as out:
        offset = 0

        def member(data: bytes) -> tuple[int, int]:
            nonlocal offset
            out.write(data)
            digest.update(data)
            start, offset = offset, offset + len(data)
            return start, len(data)

        pending = "{"  # text between chunks: braces and table names, a member each
        for n, name in enumerate(sorted(snap.tables)):
            table = snap.tables[name]
            pending += f"{', ' if n else ''}{_dumps(name)}: {{"
            keys = keys_of[name] = table.sorted_keys()
            chunks = chunks_of[name] = []
            for start in range(0, len(keys), SNAPSHOT_CHUNK):
                if pending:
                    member(_gzip(pending))
                    pending = ""
                same = last.same_chunk(name, table, keys, start) if last is not None else None
                chunks.append(member(same if same is not None
                                     else _gzip(table.chunk_text(start))))
            pending += "}"
        member(_gzip(pending + "}"))
    _write_index(folder / INDEX_PATH, snap, digest.hexdigest(), keys_of, chunks_of, last)
    return path


def _write_index(path: Path, snap: Snapshot, snapshot_sha256: str,
                 keys_of: dict[str, list[str]], chunks_of: dict[str, list[tuple[int, int]]],
                 last: _Index | None) -> None:
    """The index: one JSON text, written as gzip members so that each table's keys and
    digests are a member of their own, copied from the last index when they are the
    same (a routine run adds or removes no row of most tables, and changes the digests
    of few). The members' offsets end the text ("members"), for the next run."""
    members: dict[str, dict[str, tuple[int, int]]] = {}
    with path.open("wb") as out:
        offset = 0

        def member(data: bytes) -> tuple[int, int]:
            nonlocal offset
            out.write(data)
            start, offset = offset, offset + len(data)
            return start, len(data)

        pending = (f'{{"format": {INDEX_FORMAT}, "chunk_rows": {SNAPSHOT_CHUNK}, '
                   f'"digest_bytes": {DIGEST}, "snapshot_sha256": "{snapshot_sha256}", '
                   '"tables": {')
        for n, name in enumerate(sorted(snap.tables)):
            table, keys = snap.tables[name], keys_of[name]
            pending += (f'{", " if n else ""}{_dumps(name)}: {{"columns": '
                        f'{_dumps(table.columns)}, "chunks": '
                        f'{json.dumps(chunks_of[name])}, "digests": "')
            member(_gzip(pending))
            same = last.same_member(name, "digests", table.digests) if last else None
            places = {"digests": member(same if same is not None else _gzip(
                base64.b64encode(table.digests).decode("ascii")))}
            member(_gzip('", "keys": "'))
            same = last.same_member(name, "keys", keys) if last else None
            places["keys"] = member(same if same is not None else _gzip(
                _dumps(KEY_SEPARATOR.join(keys))[1:-1]))
            members[name] = places
            pending = '"}'
        member(_gzip(pending + '}, "members": ' + json.dumps(members) + "}"))


def _member(data: bytes, place: object) -> bytes | None:
    """The gzip member at `place` ([offset, length]) of `data`, if it can be one."""
    if not (isinstance(place, list) and len(place) == 2
            and all(isinstance(v, int) and v >= 0 for v in place)
            and place[0] + place[1] <= len(data)
            and data[place[0]:place[0] + 2] == b"\x1f\x8b"):
        return None
    return data[place[0]:place[0] + place[1]]


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), compresslevel=1, mtime=0)


# -- reading ------------------------------------------------------------------------------

def read_snapshot(run_folder: Path) -> dict[str, Rows]:
    """The snapshot a run stored, whole; raises UnreadableSnapshot (with the reason) when
    it cannot be trusted, so that changes are never computed against a damaged run."""
    path = run_folder / SNAPSHOT_PATH
    try:
        with gzip.open(path, "rb") as handle:
            snap = json.load(handle)
    except FileNotFoundError:
        raise UnreadableSnapshot(f"{path} is missing") from None
    except (OSError, ValueError, EOFError) as exc:
        raise UnreadableSnapshot(f"{path} is damaged ({exc})") from None
    if not isinstance(snap, dict) or set(snap) != set(KEYS):
        raise UnreadableSnapshot(f"{path} does not hold the tables "
                                 f"{', '.join(sorted(KEYS))}")
    for table in KEYS:
        _check_rows(snap[table], table, path)
    return snap


def _check_rows(rows: object, table: str, path: Path) -> None:
    key = KEYS[table]
    if not isinstance(rows, dict) or not all(
            isinstance(row, dict) and all(isinstance(row.get(k), str) for k in key)
            and all(isinstance(v, str) for v in row.values()) for row in rows.values()):
        raise UnreadableSnapshot(f"{path}: the {table} table is not of the shape this "
                                 "job writes")


class _Index:
    """The index of a run's snapshot, checked against the snapshot's bytes."""

    def __init__(self, run_folder: Path, index: dict, data: bytes, raw: bytes) -> None:
        self.path = run_folder / SNAPSHOT_PATH
        self.tables: dict[str, dict] = index["tables"]
        self.members: dict[str, dict] = index["members"]
        self.data = data  # the snapshot's bytes
        self.raw = raw  # the index's own bytes
        self._digests: dict[str, bytes] = {}

    @classmethod
    def read(cls, run_folder: Path) -> _Index | None:
        """The index, or None when there is none this job can trust for this snapshot."""
        try:
            raw = (run_folder / INDEX_PATH).read_bytes()
            index = json.loads(gzip.decompress(raw))
            data = (run_folder / SNAPSHOT_PATH).read_bytes()
        except (OSError, ValueError, EOFError, zlib.error):
            return None
        if not (isinstance(index, dict) and index.get("format") == INDEX_FORMAT
                and index.get("chunk_rows") == SNAPSHOT_CHUNK
                and index.get("digest_bytes") == DIGEST
                and index.get("snapshot_sha256") == hashlib.sha256(data).hexdigest()
                and isinstance(index.get("tables"), dict) and set(index["tables"]) == set(KEYS)
                and isinstance(index.get("members"), dict)):
            return None
        for entry in index["tables"].values():
            if not (isinstance(entry, dict) and isinstance(entry.get("keys"), str)):
                return None
            entry["keys"] = entry["keys"].split(KEY_SEPARATOR) if entry["keys"] else []
            if not (isinstance(entry.get("columns"), list)
                    and isinstance(entry.get("chunks"), list)
                    and isinstance(entry.get("digests"), str)
                    and len(entry["chunks"]) == -(-len(entry["keys"]) // SNAPSHOT_CHUNK)):
                return None
        return cls(run_folder, index, data, raw)

    def digests(self, table: str) -> bytes | None:
        if table not in self._digests:
            entry = self.tables[table]
            try:
                value = base64.b64decode(entry["digests"], validate=True)
            except ValueError:
                return None
            if len(value) != DIGEST * len(entry["keys"]):
                return None
            self._digests[table] = value
        return self._digests[table]

    def same_chunk(self, name: str, table: Table, keys: list[str], start: int) -> bytes | None:
        """The compressed member of the last snapshot holding exactly these rows, if any."""
        entry = self.tables[name]
        old = self.digests(name)
        stop = start + SNAPSHOT_CHUNK
        if (old is None or entry["columns"] != table.columns or entry["keys"][start:stop]
                != keys[start:stop] or old[start * DIGEST:stop * DIGEST]
                != table.digests[start * DIGEST:stop * DIGEST]):
            return None
        chunk = entry["chunks"][start // SNAPSHOT_CHUNK]
        return self.member(chunk)

    def member(self, chunk: object) -> bytes | None:
        return _member(self.data, chunk)

    def same_member(self, table: str, part: str, value: bytes | list[str]) -> bytes | None:
        """The last index's compressed member of a table's "digests" or "keys", when they
        are `value` (this run's digests, or its keys in order)."""
        same = (self.digests(table) if part == "digests" else self.tables[table]["keys"])
        places = self.members.get(table)
        if same != value or not isinstance(places, dict):
            return None
        return _member(self.raw, places.get(part))

    def rows(self, table: str, chunk_number: int) -> Rows:
        """The rows of one chunk, read from the snapshot."""
        member = self.member(self.tables[table]["chunks"][chunk_number])
        if member is None:
            raise UnreadableSnapshot(f"{self.path}: its index does not match it")
        try:
            text = zlib.decompress(member, wbits=31).decode("utf-8")
            rows = json.loads("{" + text.removeprefix(", ") + "}")
        except (ValueError, zlib.error) as exc:
            raise UnreadableSnapshot(f"{self.path} is damaged ({exc})") from None
        _check_rows(rows, table, self.path)
        return rows


@dataclass
class Compared:
    """What a comparison of this run's snapshot with the last one found, per table: the
    keys of rows that may differ (changed, added or removed) and the last run's rows of
    those keys it held (changed and removed ones); every other row is the same."""

    keys: dict[str, set[str]]
    before: dict[str, Rows]
    index: _Index | None = None  # the last snapshot's, when trusted: for write_snapshot

    def added(self, table: str) -> set[str]:
        return {k for k in self.keys[table] if k not in self.before[table]}


def compare(run_folder: Path, snap: Snapshot) -> Compared:
    """Compare this run's snapshot with the one a run stored, reading of it what the
    comparison needs; raises UnreadableSnapshot when it cannot be trusted."""
    index = _Index.read(run_folder)
    if index is None:  # no index this job can trust: the whole snapshot, as it always was
        whole = read_snapshot(run_folder)
        keys: dict[str, set[str]] = {}
        before: dict[str, Rows] = {}
        for name, table in snap.tables.items():
            old, new = whole[name], _View(table)
            differ = {k for k in old.keys() | set(table.keys)
                      if k not in new or k not in old or old[k] != new[k]}
            keys[name] = differ
            before[name] = {k: old[k] for k in differ if k in old}
        return Compared(keys, before)
    keys, before = {}, {}
    for name, table in snap.tables.items():
        keys[name], before[name] = _compare_table(index, name, table)
    return Compared(keys, before, index)


def _compare_table(index: _Index, name: str, table: Table) -> tuple[set[str], Rows]:
    entry = index.tables[name]
    old_keys: list[str] = entry["keys"]
    old_digests = index.digests(name)
    new_keys = table.sorted_keys()
    if old_digests is None or entry["columns"] != table.columns:
        differ_at = set(range(len(old_keys)))  # every old row is read and compared
        differ = set(old_keys) | set(new_keys)
    elif old_keys == new_keys:  # the usual case: no row added or removed
        unequal = (np.frombuffer(old_digests, dtype=np.uint64)
                   != np.frombuffer(table.digests, dtype=np.uint64))
        differ_at = set(np.flatnonzero(unequal).tolist())
        differ = {new_keys[n] for n in differ_at}
    else:
        new_digest = {k: table.digests[n * DIGEST:(n + 1) * DIGEST]
                      for n, k in enumerate(new_keys)}
        differ_at = {n for n, k in enumerate(old_keys)
                     if new_digest.get(k) != old_digests[n * DIGEST:(n + 1) * DIGEST]}
        differ = {old_keys[n] for n in differ_at} | (new_digest.keys() - set(old_keys))
    before: Rows = {}
    for chunk in sorted({n // SNAPSHOT_CHUNK for n in differ_at}):
        rows = index.rows(name, chunk)
        wanted = old_keys[chunk * SNAPSHOT_CHUNK:(chunk + 1) * SNAPSHOT_CHUNK]
        if list(rows) != wanted:
            raise UnreadableSnapshot(f"{index.path}: its index does not match it")
        before.update((k, rows[k]) for k in wanted if k in differ)
    return differ, before

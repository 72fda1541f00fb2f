"""Zip entries written as independently compressed segments, and copied from an earlier
archive as the compressed bytes they are.

The workbook is a zip archive. An entry (a part of the workbook: a sheet's XML, its
relationships, ...) is written here as one or more deflate *segments*: each one is
compressed by a compressor of its own, and every segment but the last ends with a
full flush, so that it starts and ends on a byte boundary and refers to nothing
before it. Such segments can be concatenated in any combination into a valid
deflate stream, and a segment whose uncompressed bytes are the same as in the last
run's archive can be copied from it, compressed, without being built or compressed
again. The entry's CRC-32 is combined from its segments' (`crc32_combine`).

Each segment is recorded (`Segment`) with where its compressed bytes lie in the
archive and their own CRC-32, which is checked before they are copied: a damaged
earlier archive is noticed, never copied from.
"""

from __future__ import annotations

import datetime as dt
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

# CRC-32 (zlib's, reflected) arithmetic modulo its polynomial, for crc32_combine
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a × b modulo the CRC polynomial (bit-reflected, as zlib computes it)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if a & (m - 1) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _x2n_table() -> list[int]:
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return table


_X2N = _x2n_table()  # x^(2^k) modulo the polynomial


def _x8nmodp(length: int) -> int:
    """x^(8 × length) modulo the polynomial."""
    p = 1 << 31  # x^0
    k = 3
    while length:
        if length & 1:
            p = _multmodp(_X2N[k & 31], p)
        length >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from A's CRC, B's CRC and B's length (zlib's crc32_combine)."""
    return _multmodp(_x8nmodp(length2), crc1) ^ (crc2 & 0xFFFFFFFF)


@dataclass(frozen=True)
class Segment:
    """One independently compressed piece of an entry, and where it lies in its archive."""

    digest: str  # what determined its bytes ("": nothing; it is never reused)
    offset: int  # of its compressed bytes, from the start of the archive
    packed: int  # length of the compressed bytes
    packed_crc: int  # CRC-32 of the compressed bytes, checked before they are copied
    crc: int  # CRC-32 of the uncompressed bytes
    size: int  # length of the uncompressed bytes

    def as_json(self) -> list[object]:
        return [self.digest, self.offset, self.packed, self.packed_crc, self.crc, self.size]

    @classmethod
    def from_json(cls, value: object) -> Segment:
        """A segment as recorded; ValueError if it is not of the recorded shape."""
        if not (isinstance(value, list) and len(value) == 6 and isinstance(value[0], str)
                and all(type(v) is int and v >= 0 for v in value[1:])):
            raise ValueError(f"not a recorded segment: {value!r:.80}")
        return cls(*value)


def entry_crc(segments: Iterable[Segment]) -> tuple[int, int]:
    """The CRC-32 and length of the uncompressed bytes of segments put one after another."""
    crc, size = 0, 0
    for segment in segments:
        crc = crc32_combine(crc, segment.crc, segment.size)
        size += segment.size
    return crc, size


class Unusable(Exception):
    """The earlier archive does not hold what its record says: nothing is copied from it."""


class Previous:
    """An earlier archive, open for copying the compressed bytes of recorded segments."""

    def __init__(self, path: Path, size: int, entries: dict[str, list[Segment]]) -> None:
        """Opens `path`; raises Unusable unless it has `size` bytes and its zip directory
        lists every entry of `entries` with the CRC, sizes and place recorded."""
        self.path = path
        self.entries = entries
        try:
            self._file: BinaryIO = path.open("rb")
        except OSError as exc:
            raise Unusable(f"{path} cannot be read ({exc.strerror or exc})") from None
        try:
            actual = os.fstat(self._file.fileno()).st_size
            if actual != size:
                raise Unusable(f"{path} has {actual:,} bytes, {size:,} were recorded")
            try:
                with zipfile.ZipFile(self._file) as archive:
                    infos = {info.filename: info for info in archive.infolist()}
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                raise Unusable(f"{path} is not a readable zip archive ({exc})") from None
            for name, segments in entries.items():
                info = infos.get(name)
                crc, length = entry_crc(segments)
                packed = sum(s.packed for s in segments)
                if (info is None or info.compress_type != zipfile.ZIP_DEFLATED
                        or (info.CRC, info.file_size, info.compress_size) != (crc, length, packed)
                        or not segments or segments[0].offset
                        < info.header_offset + 30 + len(name.encode("utf-8"))):  # its header
                    raise Unusable(f"{path}: the entry {name} is not as recorded")
                if any(a.offset + a.packed != b.offset
                       for a, b in zip(segments, segments[1:], strict=False)):
                    raise Unusable(f"{path}: the segments of {name} are not contiguous")
        except BaseException:
            self._file.close()
            raise

    def read(self, segment: Segment) -> bytes:
        """The compressed bytes of a recorded segment, checked against their CRC-32."""
        try:
            self._file.seek(segment.offset)
            data = self._file.read(segment.packed)
        except OSError as exc:
            raise Unusable(f"{self.path} cannot be read ({exc.strerror or exc})") from None
        if len(data) != segment.packed or zlib.crc32(data) != segment.packed_crc:
            raise Unusable(f"{self.path}: the compressed bytes at {segment.offset:,} are not "
                           "the recorded ones")
        return data

    def close(self) -> None:
        self._file.close()


# What an entry is made of, in order: bytes to compress (with the digest to record for
# them), or a segment of the earlier archive to copy as it is.
Fresh = tuple[str, Callable[[], Iterator[bytes]]]  # digest, the bytes (in pieces)
Piece = Fresh | Segment

READ_BLOCK = 1 << 20


class StampedZip(zipfile.ZipFile):
    """A zip archive whose entries all carry one time stamp, so equal input gives equal bytes.

    Every entry is compressed here (deflate at `level`), and recorded: `segments[name]`
    lists its segments, for a later archive to copy from. `copies` names entries to be
    copied whole from `previous` instead of written from what the writer gives;
    `plans` maps a file given to `write` to the pieces its entry is made of.
    """

    def __init__(self, path: Path, stamp: dt.datetime, level: int) -> None:
        super().__init__(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=level)
        self._stamp = (max(stamp.year, 1980),) + stamp.timetuple()[1:6]
        self.level = level
        self.segments: dict[str, list[Segment]] = {}
        self.previous: Previous | None = None
        self.copies: dict[str, list[Segment]] = {}
        self.plans: dict[str, list[Piece]] = {}

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        # the level's attribute is public from Python 3.13 on, private before
        setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel",
                self.level)
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname: str | zipfile.ZipInfo,  # type: ignore[override]
                 data: str | bytes,
                 compress_type: int | None = None, compresslevel: int | None = None) -> None:
        name = (zinfo_or_arcname if isinstance(zinfo_or_arcname, str)
                else zinfo_or_arcname.filename)
        if name in self.copies:
            self.put(name, self.copies.pop(name))
            return
        raw = data.encode("utf-8") if isinstance(data, str) else data
        self.put(name, [("", lambda: iter((raw,)))], len(raw))

    def write(self, filename: str | os.PathLike[str],  # type: ignore[override]
              arcname: str | None = None,
              compress_type: int | None = None, compresslevel: int | None = None) -> None:
        name = str(arcname or filename)
        if name in self.copies:
            self.put(name, self.copies.pop(name))
            return
        # a plan's fresh pieces are ranges of the file, all of it
        pieces = self.plans.pop(os.fspath(filename), None) or [("", file_range(filename, 0, None))]
        self.put(name, pieces, os.path.getsize(filename))

    def put(self, name: str, pieces: Sequence[Piece], fresh_size: int = 0) -> None:
        """Write entry `name` from its pieces: each fresh one compressed as a segment of its
        own (just one: the entry as zipfile would write it), each segment copied as it is.

        `fresh_size` is the length of the fresh pieces' bytes, all together.
        """
        info = self._info(name)
        size = fresh_size + sum(p.size for p in pieces if isinstance(p, Segment))
        zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
        written: list[Segment] = []
        # what ZipFile.open(info, "w") and its close do, around bytes compressed here
        zf: Any = self  # zipfile's private attributes, the same from Python 3.11 to 3.13
        fp = self.fp
        if fp is None:
            raise ValueError("the archive is closed")
        with zf._lock:
            if zf._writing:
                raise ValueError("another entry is being written")
            info.file_size = size
            info.compress_size = 0
            info.CRC = 0
            info.flag_bits = 0
            fp.seek(self.start_dir)
            info.header_offset = fp.tell()
            zf._writecheck(info)
            zf._didModify = True
            fp.write(info.FileHeader(zip64))
            offset = fp.tell()
            for n, piece in enumerate(pieces):
                if isinstance(piece, Segment):
                    if self.previous is None:
                        raise Unusable("no earlier archive to copy from")
                    fp.write(self.previous.read(piece))
                    segment = Segment(piece.digest, offset, piece.packed, piece.packed_crc,
                                      piece.crc, piece.size)
                else:
                    segment = _compress(fp, piece, offset, self.level,
                                        last=n == len(pieces) - 1)
                written.append(segment)
                offset += segment.packed
            crc, length = entry_crc(written)
            if length != size:
                raise ValueError(f"{name}: {length:,} bytes written, {size:,} expected")
            info.CRC = crc
            info.compress_size = sum(s.packed for s in written)
            if not zip64 and info.compress_size > zipfile.ZIP64_LIMIT:
                raise RuntimeError(f"{name}: compressed size too large for its header")
            self.start_dir = fp.tell()
            fp.seek(info.header_offset)
            fp.write(info.FileHeader(zip64))
            fp.seek(self.start_dir)
            self.filelist.append(info)
            self.NameToInfo[name] = info
        self.segments[name] = written


def _compress(fp: IO[bytes], piece: Fresh, offset: int, level: int, *, last: bool) -> Segment:
    """Compress a fresh piece into `fp` as a segment that needs nothing before it."""
    digest, pieces = piece
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    crc = packed_crc = size = packed = 0
    for data in pieces():
        crc = zlib.crc32(data, crc)
        size += len(data)
        out = compressor.compress(data)
        if out:
            packed_crc = zlib.crc32(out, packed_crc)
            packed += len(out)
            fp.write(out)
    # a full flush ends on a byte boundary, with nothing referred to later: the next
    # segment can be any segment (the last one finishes the stream)
    out = compressor.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)
    packed_crc = zlib.crc32(out, packed_crc)
    packed += len(out)
    fp.write(out)
    return Segment(digest, offset, packed, packed_crc, crc, size)


def _read_file(filename: Any, start: int, end: int | None) -> Iterator[bytes]:
    """Bytes start..end (end None: to the end) of a file, a block at a time."""
    with open(filename, "rb") as source:
        source.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            block = source.read(READ_BLOCK if left is None else min(READ_BLOCK, left))
            if not block:
                break
            if left is not None:
                left -= len(block)
            yield block


def file_range(filename: Any, start: int, end: int | None) -> Callable[[], Iterator[bytes]]:
    """The bytes start..end of a file, read when the entry is written."""
    return lambda: _read_file(filename, start, end)

"""Read the six curated tables from a CSV folder or an .xlsx workbook, nothing more.

Cells come back as text exactly as the curator typed them (no trimming, no
normalisation: that is validate's job, so that it can warn about each change).

A CSV file is read in blocks and parsed line by line, never held whole; a cell longer
than CELL_LIMIT is refused while it is parsed, before it is copied again, so reading
costs a small multiple of a file's size whatever it holds.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import itertools
import re
import zipfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .dataformat import TABLES
from .problems import ERROR, Problem

TABLE_NAMES = tuple(t.name for t in TABLES)

# Caps for untrusted workbooks, far above any legitimate data set (a sheet holds
# at most 1,048,576 rows; a 100,000-agreement data set is about 40 MB of XML).
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_COMPRESSION_RATIO = 250
RATIO_CHECK_ABOVE_BYTES = 4 * 1024**2
# The most characters one source cell may hold: 32 times what an Excel cell holds, so
# that long curated texts are read (the workbook cuts them at Excel's 32,767 with a
# warning) while a runaway cell (a whole file pasted in, a missing closing quote) is an
# error, refused before it is held whole. csv's own default is 131,072.
CELL_LIMIT = 1_048_576
SAVE_AS_UTF8 = 'UTF-8 or UTF-16 with a byte-order mark (in Excel: "Save as > CSV UTF-8")'
# how many bytes of a CSV file are read and decoded at a time (csv.reader is given the
# whole lines of a block in a StringIO, which takes 4 bytes a character)
_BLOCK_BYTES = 1 << 18


@dataclass
class RawTable:
    """One table as read: header and the text of each column (a list per column of the
    header, cheaper than a list per row), with the row numbers a curator sees."""

    name: str
    label: str
    header: list[str]
    columns: list[list[str]] = field(default_factory=list)
    row_numbers: array[int] = field(default_factory=lambda: array("q"))


@dataclass
class RawData:
    tables: dict[str, RawTable]
    problems: list[Problem]


def sources_sha256(path: Path) -> str:
    """Hash of exactly the input data: the six CSV files of a folder, or the workbook."""
    digest = hashlib.sha256()
    if path.is_dir():
        for name in TABLE_NAMES:
            file = path / f"{name}.csv"
            digest.update(name.encode() + b"\0")
            if file.is_file():
                _hash_file(digest, file)
            digest.update(b"\0")
    elif path.is_file():
        _hash_file(digest, path)
    return digest.hexdigest()


def _hash_file(digest: hashlib._Hash, file: Path) -> None:
    """Add a file's bytes to `digest`, a block at a time (never the whole file at once)."""
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK_BYTES), b""):
            digest.update(block)


def read_sources(path: Path, *, parallel: bool = False) -> RawData:
    """Read a CSV folder or an .xlsx workbook; every problem found is returned, none raised.

    With `parallel`, the largest CSV file of a big data set is read in a forked process
    while this one reads the others (same tables, same problems, in the same order)."""
    if path.is_dir():
        return _read_csv_folder(path, parallel)
    if path.is_file() and path.suffix.lower() == ".xlsx":
        return _read_workbook(path)
    label = path.name or str(path)
    if not path.exists():
        message = "no such file or folder"
    else:
        message = "not a folder of CSV files or an .xlsx workbook"
    return RawData({}, [Problem(ERROR, label, None, None, message,
                                "a folder of the six CSV files, or one .xlsx workbook",
                                "not-a-data-set")])


# ---------------------------------------------------------------- CSV folders

class _Refused(Exception):
    """Reading a file stops at this problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _CellTooLarge(Exception):
    """A cell of the record being read holds more than CELL_LIMIT characters; `cell` is
    its position in the record (0 for the first), None when not known."""

    def __init__(self, cell: int | None) -> None:
        super().__init__(cell)
        self.cell = cell


def _encoding_of(head: bytes) -> tuple[str, int]:
    """The codec of a CSV file starting with `head` and the length of its byte-order mark:
    UTF-8 with or without one, UTF-16 with one."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if head.startswith(b"\xff\xfe"):
        return "utf-16-le", 2
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be", 2
    return "utf-8", 0


def _one_line_ending(text: str) -> str:
    """Windows and old-Mac line endings as \\n, also inside quoted cells."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _decoded(handle: BinaryIO, label: str) -> Iterator[str]:
    """A CSV file's text, block by block, every line ending as \\n; a byte that is not
    valid raises _Refused naming its line. Anything but UTF-8 (with or without a
    byte-order mark) and UTF-16 with one is refused."""
    data = handle.read(max(_BLOCK_BYTES, 3))
    encoding, bom = _encoding_of(data)
    data = data[bom:] or handle.read(_BLOCK_BYTES)
    decoder = codecs.getincrementaldecoder(encoding)()
    breaks = 0  # line breaks in the text given so far
    carry = ""  # a \r ending a block: a line ending alone, or the first half of \r\n
    while True:
        final = not data
        try:
            text = carry + decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise _Refused(_bad_byte(exc, encoding, carry, breaks, label)) from None
        carry = ""
        if not final and text.endswith("\r"):
            text, carry = text[:-1], "\r"
        text = _one_line_ending(text)
        breaks += text.count("\n")
        if text:
            yield text
        if final:
            return
        data = handle.read(_BLOCK_BYTES)


def _bad_byte(exc: UnicodeDecodeError, encoding: str, carry: str, breaks: int,
              label: str) -> Problem:
    """The problem of a byte the decoder refused, on the line it is on (as an editor
    counts lines: \\n, \\r\\n and a lone \\r each end one)."""
    before = carry + exc.object[: exc.start].decode(encoding, "replace")
    line = breaks + _one_line_ending(before).count("\n") + 1
    byte = exc.object[exc.start : exc.start + 1].hex().upper()
    what = "UTF-8" if encoding == "utf-8" else "UTF-16"
    return Problem(ERROR, label, line, None,
                   f"file is not valid {what} (byte 0x{byte} on this line)", SAVE_AS_UTF8,
                   "bad-encoding")


_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED, _BROKEN = range(5)
_UNQUOTED_END = re.compile("[,\n]")


class _CellScan:
    """Follows csv.reader (excel dialect, strict) through the text of a record, counting
    the characters of the cell it is in as csv.reader does, so that a cell over CELL_LIMIT
    is found before its line is put together. `cell` is the position of that cell in the
    record (0 for the first), None when the text fed began inside a quoted cell."""

    def __init__(self, in_quotes: bool = False) -> None:
        self.state = _QUOTED if in_quotes else _START
        self.cell: int | None = None if in_quotes else 0
        self.length = 0

    def over_limit(self, text: str) -> bool:
        """Follow `text` on from where the last call stopped; True once a cell is too long."""
        at, end = 0, len(text)
        while at < end:
            state = self.state
            if state == _QUOTED:
                quote = text.find('"', at)
                stop = end if quote < 0 else quote
                self.length += stop - at
                if self.length > CELL_LIMIT:
                    return True
                if quote < 0:
                    return False
                self.state, at = _QUOTE_IN_QUOTED, quote + 1
            elif state == _UNQUOTED:
                found = _UNQUOTED_END.search(text, at)
                stop = end if found is None else found.start()
                self.length += stop - at
                if self.length > CELL_LIMIT:
                    return True
                if found is None:
                    return False
                self._cell_ends(text[stop])
                at = stop + 1
            elif state == _START:
                char = text[at]
                if char == '"':
                    self.state, at = _QUOTED, at + 1
                elif char in ",\n":
                    self._cell_ends(char)
                    at += 1
                else:
                    self.state = _UNQUOTED
            elif state == _QUOTE_IN_QUOTED:
                char = text[at]
                if char == '"':  # a doubled quote: one character of the cell
                    self.length += 1
                    if self.length > CELL_LIMIT:
                        return True
                    self.state, at = _QUOTED, at + 1
                elif char in ",\n":
                    self._cell_ends(char)
                    at += 1
                else:  # csv.reader refuses the record: "',' expected after '"'"
                    self.state = _BROKEN
            else:
                return False
        return False

    def _cell_ends(self, char: str) -> None:
        if char == "\n":  # the record ends
            self.cell = 0
        elif self.cell is not None:
            self.cell += 1
        self.state, self.length = _START, 0


class _Lines:
    """A CSV file's text as whole lines for csv.reader, which reads line by line, a block's
    worth at a time. A line longer than a cell may be is followed cell by cell while it is
    put together, and _CellTooLarge raised as soon as a cell is over CELL_LIMIT.

    The caller sets `ended_at` to reader.line_num after each record: a long line then
    starts a record when the last record ended on the line before it, and otherwise goes on
    with a quoted cell of an earlier line (the only two states csv.reader ends a line in).
    """

    def __init__(self, blocks: Iterator[str]) -> None:
        self.blocks = blocks
        self.given = 0  # lines handed to csv.reader (all read whenever this code runs)
        self.ended_at = 0

    def __iter__(self) -> Iterator[Iterable[str]]:
        parts: list[str] = []  # the line being put together
        size = 0
        scan: _CellScan | None = None
        for text in self.blocks:
            if parts:
                end = text.find("\n") + 1  # 0: the line goes on past this block
                piece = text[:end] if end else text
                parts.append(piece)
                size += len(piece)
                if size > CELL_LIMIT:
                    if scan is None:
                        scan = _CellScan(in_quotes=self.ended_at < self.given)
                        new = parts
                    else:
                        new = [piece]
                    if any(scan.over_limit(part) for part in new):
                        raise _CellTooLarge(scan.cell)
                    if scan.state == _BROKEN and not end:
                        # csv.reader refuses the line where it breaks: it gets the line
                        # so far, not the rest of a long line first
                        self.given += 1
                        yield ("".join(parts),)
                        raise csv.Error("a line that breaks the CSV rules was read on")
                if not end:
                    continue
                line = "".join(parts)
                parts, size, scan = [], 0, None
                self.given += 1
                yield (line,)
                del line
                text = text[end:]
            cut = text.rfind("\n") + 1
            if cut:
                whole = text[:cut] if cut < len(text) else text
                self.given += whole.count("\n")
                yield io.StringIO(whole, newline="")
                del whole
            if cut < len(text):
                parts, size = [text[cut:]], len(text) - cut
        if parts:  # the last line has no line ending
            self.given += 1
            yield ("".join(parts),)


def _csv_records(file: Path, label: str) -> Iterator[tuple[int, list[str]]]:
    """The records of a CSV file, numbered as a spreadsheet shows them (header = row 1),
    read and parsed a block at a time; _Refused at the first problem that stops reading."""
    header: list[str] | None = None
    number = 0
    with file.open("rb") as handle:
        blocks = _decoded(handle, label)
        lines = _Lines(blocks)
        reader = csv.reader(itertools.chain.from_iterable(lines), strict=True)
        try:
            for record in reader:
                number += 1
                lines.ended_at = reader.line_num
                if number == 1:
                    header = record
                yield number, record
            return
        except _CellTooLarge as exc:
            cell, stopped = exc.cell, None
        except csv.Error as exc:
            cell, stopped = None, None
            if not str(exc).startswith("field larger than field limit"):  # else too large
                stopped = Problem(ERROR, label, reader.line_num, None,
                                  f"the file cannot be read as CSV ({exc})",
                                  "comma-separated values with double-quoted cells", "not-csv")
        del reader  # with its buffers and the lines it was given, before reading on
        for _ in blocks:  # a file in the wrong encoding is the first thing to put right
            pass
    if stopped is None:  # a cell over CELL_LIMIT
        if cell is None:
            cell = _cell_of(file, label, lines.ended_at)
        stopped = _too_large(label, number + 1, cell, header)
    raise _Refused(stopped)


def _cell_of(file: Path, label: str, lines_before: int) -> int | None:
    """Which cell is over CELL_LIMIT in the record after the first `lines_before` lines,
    found by reading the file again (when the first reading could not tell)."""
    scan = _CellScan()
    skip = lines_before
    try:
        with file.open("rb") as handle:
            for text in _decoded(handle, label):
                if skip:
                    breaks = text.count("\n")
                    if breaks < skip:
                        skip -= breaks
                        continue
                    at = -1
                    for _ in range(skip):
                        at = text.index("\n", at + 1)
                    text, skip = text[at + 1 :], 0
                if scan.over_limit(text):
                    return scan.cell
    except (OSError, _Refused):
        pass
    return None


def _too_large(label: str, row: int, cell: int | None, header: list[str] | None) -> Problem:
    """The problem of a cell over CELL_LIMIT, naming its column when it is known."""
    names = [h.strip().lstrip("\ufeff") for h in header] if header is not None else []
    column = names[cell] if cell is not None and cell < len(names) else ""
    if column:
        where = "the text is"
    elif cell is None:
        where = "the text of a cell (which one could not be told) is"
    elif row == 1:
        where = f"the text of cell {cell + 1} of the header is"
    else:
        where = f"the text of cell {cell + 1} of the row is"
    return Problem(ERROR, label, row, column or None, f"{where} longer than a cell may be",
                   f"text of at most {CELL_LIMIT:,} characters", "cell-too-large")


# A CSV file at least this big is read in a forked process (with read_sources' parallel)
# while this one reads the others: parsing is Python per row, and a core is idle then.
READ_ASIDE_FROM = 4 * 1024 * 1024


def _read_csv_folder(folder: Path, parallel: bool = False) -> RawData:
    from . import processes

    read: dict[str, tuple[RawTable | None, list[Problem]]] = {}
    limit = csv.field_size_limit(CELL_LIMIT)  # csv.reader refuses a longer cell too
    try:
        aside = _largest_file(folder) if parallel else None
        if aside is None:
            for name in TABLE_NAMES:
                read[name] = _read_csv_table(folder, name)
        else:
            with processes.Job[tuple[RawTable | None, list[Problem]]](
                    lambda: _read_csv_table(folder, aside), background=True,
                    name=f"reader of {aside}.csv") as other:
                for name in TABLE_NAMES:
                    if name != aside:
                        read[name] = _read_csv_table(folder, name)
                read[aside] = other.result()
    finally:
        csv.field_size_limit(limit)
    tables = {name: table for name in TABLE_NAMES if (table := read[name][0]) is not None}
    return RawData(tables, [p for name in TABLE_NAMES for p in read[name][1]])


def _largest_file(folder: Path) -> str | None:
    """The table whose CSV file is the largest, when it is at least READ_ASIDE_FROM."""
    sizes = {}
    for name in TABLE_NAMES:
        try:
            sizes[name] = (folder / f"{name}.csv").stat().st_size
        except OSError:
            continue
    largest = max(sizes, key=sizes.__getitem__, default=None)
    return largest if largest is not None and sizes[largest] >= READ_ASIDE_FROM else None


def _read_csv_table(folder: Path, name: str) -> tuple[RawTable | None, list[Problem]]:
    """One CSV file of the folder: its table (None when it cannot be read) and problems."""
    label = f"{name}.csv"
    file = folder / label
    if not file.is_file():
        return None, [Problem(ERROR, label, None, None, "file is missing",
                              f"{label} in {folder}", "missing-file")]
    tables: dict[str, RawTable] = {}
    found: list[Problem] = []
    try:
        _add_table(tables, found, name, label, _csv_records(file, label))
    except _Refused as exc:  # the file's other problems wait until it can be read
        return None, [exc.problem]
    return tables.get(name), found


def _add_table(tables: dict[str, RawTable], problems: list[Problem], name: str, label: str,
               numbered: Iterable[tuple[int, list[str]]]) -> None:
    """Header and rows from the numbered records, read to the end in any case (so that a
    problem that stops the reading of a file is found); added to `tables` when complete."""
    # blank rows (every cell empty or spaces) are not data; "".join keeps this at C speed
    records = ((n, rec) for n, rec in numbered if any(rec) and not "".join(rec).isspace())
    first = next(records, None)
    if first is None or first[0] != 1:
        for _ in records:
            pass
        problems.append(Problem(ERROR, label, 1, None, "the header row is missing",
                                "column names in row 1", "missing-header"))
        return
    header = [h.strip().lstrip("\ufeff") for h in first[1]]
    while header and not header[-1]:
        header.pop()
    seen: set[str] = set()
    for position, column in enumerate(header, start=1):
        if not column:
            problems.append(Problem(ERROR, label, 1, None,
                                    f"column {position} of the header has no name",
                                    "a name for every column", "unnamed-column"))
        elif column in seen:
            problems.append(Problem(ERROR, label, 1, column, "the column appears twice",
                                    "each column once", "duplicate-column"))
        seen.add(column)
    width = len(header)
    table = RawTable(name, label, header, [[] for _ in range(width)])
    numbers = table.row_numbers
    # one str for each distinct value (ids, kinds, roles repeat on many rows): short cells
    # take several times their size in memory otherwise
    same = {"": ""}.setdefault
    batch: list[list[str]] = []
    for number, record in records:
        if len(record) != width:
            extra = record[width:]
            if extra and "".join(extra).strip():
                problems.append(Problem(
                    ERROR, label, number, None,
                    f"the row has {len(record)} cells but the header has {width}",
                    "one cell per column of the header", "extra-cells"))
                continue
            record = record[:width] + [""] * (width - len(record))
        batch.append(record)
        numbers.append(number)
        if len(batch) == 4096:
            _to_columns(batch, table.columns, same)
    _to_columns(batch, table.columns, same)
    tables[name] = table


def _to_columns(batch: list[list[str]], columns: list[list[str]],
                same: Callable[[str, str], str]) -> None:
    """Move a batch of rows (each as wide as the header) onto the ends of the columns."""
    if batch:
        for column, values in zip(columns, zip(*batch, strict=True), strict=True):
            column.extend(map(same, values, values))
        batch.clear()


# ---------------------------------------------------------------- workbooks

def check_workbook_archive(path: Path) -> Problem | None:
    """Refuse zip bombs and XML entity bombs before any XML is parsed."""
    label = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(m.file_size for m in members)
            if total > MAX_UNCOMPRESSED_BYTES:
                return Problem(ERROR, label, None, None,
                               f"the workbook unpacks to {total:,} bytes, more than the "
                               f"{MAX_UNCOMPRESSED_BYTES:,} allowed (a zip bomb?)",
                               "a workbook of curated data", "workbook-too-large")
            for member in members:
                ratio = member.file_size // max(member.compress_size, 1)
                if member.file_size > RATIO_CHECK_ABOVE_BYTES and ratio > MAX_COMPRESSION_RATIO:
                    return Problem(ERROR, label, None, None,
                                   f"part {member.filename} is compressed {ratio:,} to 1, more "
                                   f"than the {MAX_COMPRESSION_RATIO} to 1 allowed (a zip bomb?)",
                                   "a workbook of curated data", "workbook-too-compressed")
            for member in members:
                if member.filename.endswith((".xml", ".rels")):
                    with archive.open(member) as handle:
                        head = handle.read(4096)
                    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
                        return Problem(ERROR, label, None, None,
                                       f"part {member.filename} declares a DTD or XML entities, "
                                       "which workbooks never need (an entity bomb?)",
                                       "a workbook saved by Excel or LibreOffice",
                                       "workbook-with-entities")
    except (zipfile.BadZipFile, OSError) as exc:
        return Problem(ERROR, label, None, None, f"the file is not an .xlsx workbook ({exc})",
                       "a workbook saved as .xlsx by Excel or LibreOffice", "not-xlsx")
    return None


def _cell_text(value: object) -> str:
    """A cell as the text it shows: ids and numbers stored as numbers, dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_workbook(path: Path) -> RawData:
    problem = check_workbook_archive(path)
    if problem:
        return RawData({}, [problem])
    from python_calamine import CalamineWorkbook  # only when a workbook is read

    tables: dict[str, RawTable] = {}
    problems: list[Problem] = []
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet_names = list(workbook.sheet_names)
    except Exception as exc:  # calamine raises its own error types for corrupt files
        return RawData({}, [Problem(ERROR, path.name, None, None,
                                    f"the workbook cannot be read ({exc})",
                                    "a workbook saved as .xlsx by Excel or LibreOffice",
                                    "unreadable-workbook")])
    by_lower = {s.strip().lower(): s for s in sheet_names}
    for name in TABLE_NAMES:
        label = f"{path.name}[{name}]"
        sheet = by_lower.get(name)
        if sheet is None:
            problems.append(Problem(ERROR, label, None, None, "sheet is missing",
                                    f"a sheet named '{name}' in {path.name}", "missing-sheet"))
            continue
        try:
            cells = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except Exception as exc:
            problems.append(Problem(ERROR, label, None, None,
                                    f"the sheet cannot be read ({exc})", "a plain sheet of cells",
                                    "unreadable-sheet"))
            continue
        numbered = [(i + 1, [_cell_text(v) for v in row]) for i, row in enumerate(cells)]
        too_large = _cells_too_large(label, numbered)
        if too_large:  # refused as a CSV file with such a cell is
            problems.extend(too_large)
            continue
        _add_table(tables, problems, name, label, numbered)
    return RawData(tables, problems)


def _cells_too_large(label: str, numbered: list[tuple[int, list[str]]]) -> list[Problem]:
    """A problem for each cell of a sheet that holds more than CELL_LIMIT characters."""
    header = numbered[0][1] if numbered and numbered[0][0] == 1 else None
    return [_too_large(label, number, cell, header if number > 1 else None)
            for number, record in numbered if max(map(len, record), default=0) > CELL_LIMIT
            for cell, text in enumerate(record) if len(text) > CELL_LIMIT]

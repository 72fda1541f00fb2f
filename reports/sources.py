"""Read the six curated tables from a CSV folder or an .xlsx workbook, nothing more.

Cells come back as text exactly as the curator typed them (no trimming, no
normalisation: that is validate's job, so that it can warn about each change).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .dataformat import TABLES
from .problems import ERROR, Problem

TABLE_NAMES = tuple(t.name for t in TABLES)

# Caps for untrusted workbooks, far above any legitimate data set (a sheet holds
# at most 1,048,576 rows; a 100,000-agreement data set is about 40 MB of XML).
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_COMPRESSION_RATIO = 250
RATIO_CHECK_ABOVE_BYTES = 4 * 1024**2
# csv's default cap is 131,072 characters a cell; long curated texts are legitimate
# (the workbook cuts them at Excel's limit with a warning), so allow far more.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
SAVE_AS_UTF8 = 'UTF-8 or UTF-16 with a byte-order mark (in Excel: "Save as > CSV UTF-8")'


@dataclass
class RawTable:
    """One table as read: header and rows of text, with the row numbers a curator sees."""

    name: str
    label: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)


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
                digest.update(file.read_bytes())
            digest.update(b"\0")
    elif path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_sources(path: Path) -> RawData:
    """Read a CSV folder or an .xlsx workbook; every problem found is returned, none raised."""
    if path.is_dir():
        return _read_csv_folder(path)
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

def decode_csv_bytes(data: bytes, label: str) -> tuple[str | None, Problem | None]:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; anything else is an error."""
    if data.startswith(b"\xef\xbb\xbf"):
        encoding, body = "utf-8", data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, body = "utf-16", data
    else:
        encoding, body = "utf-8", data
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        byte = body[exc.start : exc.start + 1].hex().upper()
        what = "UTF-16" if encoding == "utf-16" else "UTF-8"
        return None, Problem(ERROR, label, line, None,
                             f"file is not valid {what} (byte 0x{byte} on this line)",
                             SAVE_AS_UTF8, "bad-encoding")
    # Windows and old-Mac line endings, also inside quoted cells
    return text.replace("\r\n", "\n").replace("\r", "\n"), None


def _read_csv_folder(folder: Path) -> RawData:
    tables: dict[str, RawTable] = {}
    problems: list[Problem] = []
    for name in TABLE_NAMES:
        label = f"{name}.csv"
        file = folder / label
        if not file.is_file():
            problems.append(Problem(ERROR, label, None, None, "file is missing",
                                    f"{label} in {folder}", "missing-file"))
            continue
        text, problem = decode_csv_bytes(file.read_bytes(), label)
        if problem:
            problems.append(problem)
            continue
        assert text is not None
        records: list[list[str]] = []
        csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
        try:
            reader = csv.reader(io.StringIO(text, newline=""), strict=True)
            records = list(reader)
        except csv.Error as exc:
            problems.append(Problem(ERROR, label, reader.line_num, None,
                                    f"the file cannot be read as CSV ({exc})",
                                    "comma-separated values with double-quoted cells",
                                    "not-csv"))
            continue
        # Row numbers are record numbers: what a spreadsheet shows, header = row 1.
        _add_table(tables, problems, name, label, list(enumerate(records, start=1)))
    return RawData(tables, problems)


def _add_table(tables: dict[str, RawTable], problems: list[Problem], name: str, label: str,
               numbered: list[tuple[int, list[str]]]) -> None:
    # blank rows (every cell empty or spaces) are not data; "".join keeps this at C speed
    numbered = [(n, rec) for n, rec in numbered if any(rec) and not "".join(rec).isspace()]
    if not numbered or numbered[0][0] != 1:
        problems.append(Problem(ERROR, label, 1, None, "the header row is missing",
                                "column names in row 1", "missing-header"))
        return
    header = [h.strip().lstrip("\ufeff") for h in numbered[0][1]]
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
    table = RawTable(name, label, header)
    width = len(header)
    rows, numbers = table.rows, table.row_numbers
    for number, record in numbered[1:]:
        if len(record) != width:
            extra = record[width:]
            if extra and "".join(extra).strip():
                problems.append(Problem(
                    ERROR, label, number, None,
                    f"the row has {len(record)} cells but the header has {width}",
                    "one cell per column of the header", "extra-cells"))
                continue
            record = record[:width] + [""] * (width - len(record))
        rows.append(record)
        numbers.append(number)
    tables[name] = table


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
        _add_table(tables, problems, name, label, numbered)
    return RawData(tables, problems)

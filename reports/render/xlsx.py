"""Summaries -> the Excel workbook analysts open and build on.

    problems = write_workbook(model, Path("agreements.xlsx"), as_of="2024-11-27",
                              generated_at=dt.datetime.now(dt.UTC), warnings=warnings,
                              changes=None, sources_label="sources", run_id="...")

One sheet per summary table, each holding one Excel table (ListObject) named like
the sheet, with filter buttons, a frozen header and fitted column widths; an
overview sheet first and a sheet of native bar charts second. Everything is
written with openpyxl's write-only mode, so rows stream to disk and memory does
not grow with the data.

Safe by construction: curated text is always stored as text (never as a formula or
an error value), only http(s) addresses become links, characters a workbook cannot
hold are dropped and text beyond Excel's cell limit is cut with a visible marker.
Each such change is returned as a warning and listed on the DataQuality sheet.

Work proportional to the change: given the last run's workbook, a sheet whose
content is the same as then is not built again; its parts are copied from that
workbook as the compressed bytes they are (zipparts.py). What decides each sheet's
bytes is recorded as a digest in a small file beside the workbook (`parts_path`),
with the warnings its writing raised, which a copied sheet still reports. A copied
workbook has the very bytes a workbook written whole would have.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import logging
import math
import re
import sys
import warnings as py_warnings
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast
from urllib.parse import quote, urlsplit

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.packaging.relationship import Relationship, get_rels_path
from openpyxl.styles import Alignment, Font
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo
from openpyxl.writer.excel import ExcelWriter
from openpyxl.xml.constants import PKG_REL_NS, REL_NS
from openpyxl.xml.functions import tostring

from .. import figures, summaries
from ..errors import ReportsError
from ..model import Model
from ..problems import WARNING, Problem
from . import zipparts
from .zipparts import Previous, Segment, StampedZip, Unusable

CREATOR = "agreement-reports"
log = logging.getLogger(__name__)

# Excel's limits (support.microsoft.com, "Excel specifications and limits")
CELL_TEXT_LIMIT = 32_767  # characters (UTF-16 code units) in one cell
SHEET_ROW_LIMIT = 1_048_576
LINKS_PER_SHEET = 65_530  # hyperlinks in one worksheet
LINK_LENGTH_LIMIT = 2_079  # characters of a link address Excel opens without repair
TRUNCATED = " […truncated]"

# control characters but tab and line breaks (openpyxl refuses them), and what XML
# or UTF-8 cannot carry: U+FFFE, U+FFFF and lone surrogates
UNSTORABLE_RE = re.compile(ILLEGAL_CHARACTERS_RE.pattern + "|[\ufffe\uffff\ud800-\udfff]")
WHITESPACE_RE = re.compile(r"\s")
URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"  # ASCII a link address keeps as it is
UNQUOTED_RE = re.compile(r"[^A-Za-z0-9" + re.escape(URL_SAFE) + "]")
FULL_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
EARLIEST_DATE = dt.date(1900, 3, 1)  # Excel's serial dates are wrong before this day

TABLE_STYLE = "TableStyleMedium2"
FONT = "Calibri"  # openpyxl's (and Excel's) default
DATE_FORMAT = "yyyy-mm-dd"
# deflate level of the workbook's parts: at 100,000 agreements (390 MB of sheet XML)
# saving takes 3.8 s for a 47 MB file at level 4, 5.0 s for 44 MB at the default 6
ZIP_LEVEL = 4
CHUNK_ROWS = 5_000  # rows converted at a time: bounds the memory beyond the summaries
WIDTH_SAMPLE_ROWS = 500
MAX_WIDTH = 60
MIN_WIDTH = 8
LINE_HEIGHT = 15  # points per line of 11-point text
MAX_ROW_HEIGHT = 409  # Excel's highest row

OVERVIEW = "Overview"
CHARTS = "Charts"
DATA_QUALITY = "DataQuality"
CHANGES = "Changes"
TOP_N = 10
_OVERVIEW_TOP_ROWS = 7  # rows above the key figures table on the overview
# overview columns: labels and ids | texts | counts and dates | publisher | url | date | notes
OVERVIEW_WIDTHS = {1: 30.0, 2: 60.0, 3: 14.0, 4: 36.0, 5: 50.0, 6: 14.0, 7: 40.0}

# what a column holds, by its name in the summary tables
WRAPPED = frozenset({"title", "summary", "parties", "themes", "targets", "sources", "note",
                     "message", "description", "expected", "before", "after", "aliases",
                     "Themes", "Partner countries"})
DATES = frozenset({"signed_on", "published_on", "accessed_on"})
LINKS = frozenset({"source_url", "url"})
PERCENT_COLUMN = "as percentage"

# how a column's cells are written
TEXT, WRAP, DATE, LINK, NUMBER, PERCENT = "text", "wrap", "date", "link", "number", "percent"


# what the workbook learns only once writing has begun: the changes since the last run
# and the warnings that come with them (see write_workbook)
Later = Callable[[], tuple[pd.DataFrame | None, Sequence[Problem]]]


@dataclass(frozen=True)
class _TableSpec:
    """One table as the reader sees it: sheet title and table name, rows, what 'empty' says."""

    name: str
    frame: pd.DataFrame
    empty: str
    about: str


def write_workbook(model: Model, path: Path, *, as_of: str, generated_at: dt.datetime,
                   warnings: Sequence[Problem], changes: pd.DataFrame | None,
                   sources_label: str = "", run_id: str = "",
                   previous: Path | None = None, later: Later | None = None) -> list[Problem]:
    """Write the workbook to `path`; return the warnings the writing itself raised.

    `as_of` is the data's as-of date (YYYY-MM-DD); `generated_at` the run's time, with
    its time zone. `warnings` are the validation warnings shown on the DataQuality
    sheet. `changes` has the columns change, table, id, field, before, after: None
    when there is no earlier run to compare with, an empty frame when nothing
    changed. The returned problems (text cut or cleaned, links left out) are also
    listed on the DataQuality sheet. The same arguments give a byte-identical file.

    `previous` is the last run's workbook: what is the same in this one is copied from
    it rather than written again, when its record (`parts_path`) vouches for it; a
    missing, damaged or different one is not used, and the workbook is written whole,
    to the same bytes. This workbook's record is written to `parts_path(path)`.

    `later`, when the changes are not known yet as writing begins (`changes` is then
    None): called once, when the Changes sheet's turn comes (after every other table),
    it returns the changes and the warnings to add to `warnings`.
    """
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at needs a time zone (e.g. datetime.now(timezone.utc))")
    _warn_if_slow()
    record = parts_path(path)
    record.unlink(missing_ok=True)  # never beside a workbook it does not describe
    old = _open_previous(previous, path) if previous is not None else None
    try:
        try:
            book = _write_book(model, path, old, as_of=as_of, generated_at=generated_at,
                               warnings=warnings, changes=changes,
                               sources_label=sources_label, run_id=run_id, later=later)
        except Unusable as exc:  # noticed while copying: the last workbook is not used
            log.warning("the last workbook cannot be reused (%s): writing it whole", exc)
            if old is not None:
                old.close()
                old = None
            book = _write_book(model, path, None, as_of=as_of, generated_at=generated_at,
                               warnings=warnings, changes=changes,
                               sources_label=sources_label, run_id=run_id, later=later)
    finally:
        if old is not None:
            old.close()
    try:
        book.parts.write_record(record, path)
    except BaseException:
        path.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        raise
    return list(book.problems)


def _write_book(model: Model, path: Path, old: _OldBook | None, *, as_of: str,
                generated_at: dt.datetime, warnings: Sequence[Problem],
                changes: pd.DataFrame | None, sources_label: str, run_id: str,
                later: Later | None = None) -> _Book:
    book = _Book(path.name, old)
    saving = False
    try:
        book.write(model, as_of=as_of, generated_at=generated_at, warnings=warnings,
                   changes=changes, sources_label=sources_label, run_id=run_id, later=later)
        saving = True
        book.save(path, generated_at)
    except BaseException:
        book.discard()
        if saving:  # never leave half a workbook behind
            path.unlink(missing_ok=True)
        raise
    return book


# ---------------------------------------------------------------- reuse of the last workbook

# Bump when the writer's output changes in a way the digests below would not see (they
# also cover this module's own code, the libraries writing and compressing the XML and
# the deflate level).
PARTS_FORMAT = 2
PARTS_FOLDER = "data"


def parts_path(workbook: Path) -> Path:
    """Where the record of a workbook's parts is kept: data/<name>-parts.json beside it."""
    return workbook.parent / PARTS_FOLDER / f"{workbook.stem}-parts.json"


@functools.cache
def _writer_version() -> str:
    """What decides a sheet's bytes besides its content: this writer's code and format,
    the libraries that write and compress the XML, the deflate level."""
    import et_xmlfile
    import openpyxl
    from openpyxl.xml import LXML

    code = hashlib.sha256()
    for module in (__file__, zipparts.__file__):
        try:
            code.update(Path(module).read_bytes())
        except OSError:  # not installed as files: the format version alone
            code.update(b"?")
    return json.dumps([PARTS_FORMAT, code.hexdigest(), openpyxl.__version__,
                       getattr(et_xmlfile, "__version__", ""), bool(LXML),
                       zlib.ZLIB_RUNTIME_VERSION, ZIP_LEVEL, pd.__version__,
                       list(sys.version_info[:2])])


def _cell_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of every cell of the frame (rows × columns), from its value and type.

    Values written differently hash alike only by chance (one in 2**64): floats by their
    bits (0.0 and -0.0 differ), missing values apart from any text ("None" included), and
    columns holding anything but text and missing values by each value's type and repr
    ("1" and 1 differ)."""
    columns = []
    for j in range(frame.shape[1]):
        series = frame.iloc[:, j]
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
            wide = np.float64 if dtype.kind == "f" else np.int64
            columns.append(series.to_numpy().astype(wide, copy=False).view(np.uint64))
            continue
        if dtype.kind == "O" and pd.api.types.infer_dtype(series, skipna=True) not in (
                "string", "empty"):
            series = series.map(_typed_repr)
        # categorize (the default) keeps missing values apart from the text "None"
        columns.append(pd.util.hash_pandas_object(series, index=False).to_numpy(np.uint64))
    if not columns:
        return np.zeros((len(frame), 0), dtype=np.uint64)
    return np.ascontiguousarray(np.column_stack(columns))


def _pieces(out: str, chunks: list[tuple[int, int, str | Segment]]) -> list[zipparts.Piece]:
    """A sheet's XML as the archive writes it: each chunk of rows a segment of its own (the
    last workbook's, or a range of the sheet's file), what is between them in others."""
    pieces: list[zipparts.Piece] = []
    at = 0
    for start, end, part in chunks:
        if start > at:
            pieces.append(("", zipparts.file_range(out, at, start)))
        pieces.append(part if isinstance(part, Segment)
                      else (part, zipparts.file_range(out, start, end)))
        at = end
    pieces.append(("", zipparts.file_range(out, at, None)))  # the rest: never empty
    return pieces


def _typed_repr(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}:{value!r}"


def _digest(*parts: object, data: bytes = b"") -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps(parts, default=str).encode("utf-8"))
    h.update(data)
    return h.hexdigest()


_Raised = tuple[int | None, str | None, str]  # a warning's row, column and message


@dataclass
class _OldSheet:
    """A sheet of the last workbook, as recorded."""

    digest: str
    problems: list[_Raised]
    entries: list[str]  # zip entries: the sheet's XML, its relationships
    tables: list[str]  # the paths of its tables, which its relationships name
    chunks: dict[str, list[_Raised]]  # chunks of rows (segments of its XML), by digest


@dataclass
class _OldBook:
    """The last workbook, open for copying, and the record of its sheets."""

    file: Previous
    sheets: dict[str, _OldSheet]

    def close(self) -> None:
        self.file.close()


def _open_previous(previous: Path, path: Path) -> _OldBook | None:
    """The last workbook and its record, or None (and why, in the log) when either cannot
    be trusted: then everything is written."""
    try:
        if previous.resolve() == path.resolve():
            return None  # the file is about to be replaced
        record = json.loads(parts_path(previous).read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("format") != PARTS_FORMAT:
            log.info("the record of %s is of another format: the workbook is written whole",
                     previous)
            return None
        if record.get("writer") != _writer_version():
            log.info("%s was written by another version of the writer: the workbook is "
                     "written whole", previous)
            return None
        size = record["bytes"]
        entries = {str(name): [Segment.from_json(s) for s in segments]
                   for name, segments in record["entries"].items()}
        sheets = {str(title): _OldSheet(str(sheet["digest"]), _raised(sheet["problems"]),
                                        [str(e) for e in sheet["entries"]],
                                        [str(t) for t in sheet["tables"]],
                                        {str(digest): _raised(problems)
                                         for digest, problems in sheet["chunks"].items()})
                  for title, sheet in record["sheets"].items()}
        if type(size) is not int:
            raise ValueError("no size")
        return _OldBook(Previous(previous, size, entries), sheets)
    except FileNotFoundError as exc:
        log.info("no %s: the workbook is written whole", exc.filename)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("the record of the last workbook cannot be read (%s): the workbook is "
                    "written whole", exc)
    except Unusable as exc:
        log.warning("the last workbook cannot be reused (%s): it is written whole", exc)
    return None


def _raised(recorded: list) -> list[_Raised]:
    """Warnings as recorded; ValueError (or TypeError) if they are not of that shape."""
    raised = [(row, column, message) for row, column, message in recorded]
    if not all((row is None or type(row) is int) and (column is None or isinstance(column, str))
               and isinstance(message, str) for row, column, message in raised):
        raise ValueError("a warning is not of the recorded shape")
    return raised


@dataclass
class _NewSheet:
    digest: str  # "" when the sheet cannot be reused next time
    problems: list[_Raised]
    chunks: dict[str, list[_Raised]]
    entries: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


class _Parts:
    """Which sheets are copied from the last workbook, and the record kept for the next."""

    def __init__(self, old: _OldBook | None) -> None:
        self.old = old
        self.sheets: dict[str, _NewSheet] = {}
        self.copied: dict[str, _OldSheet] = {}  # sheet title -> what is copied
        self.copied_chunks: dict[str, int] = {}  # sheet title -> chunks of rows copied
        self.segments: dict[str, list[Segment]] = {}

    def reusable(self, title: str, digest: str) -> _OldSheet | None:
        if self.old is None:
            return None
        old = self.old.sheets.get(title)
        if old is None or old.digest != digest or not all(
                name in self.old.file.entries for name in old.entries):
            return None
        return old

    def old_chunks(self, title: str) -> dict[str, tuple[Segment, list[_Raised]]]:
        """The last workbook's chunks of rows of a sheet, by digest: where their compressed
        bytes are, and the warnings writing them raised."""
        old = self.old.sheets.get(title) if self.old is not None else None
        if self.old is None or old is None or not old.entries:
            return {}
        segments = self.old.file.entries.get(old.entries[0], [])
        return {s.digest: (s, old.chunks[s.digest]) for s in segments if s.digest in old.chunks}

    def plan(self, archive: StampedZip, wb: Workbook) -> None:
        """Name each sheet's entries as openpyxl will; send the copied ones to the archive,
        and how the others are made of chunks of their own segment."""
        if self.old is not None:
            archive.previous = self.old.file
        tables = 0
        for number, ws in enumerate(wb.worksheets, 1):
            chunks = getattr(ws, "chunks", None)
            if chunks and ws._writer is not None:
                archive.plans[ws._writer.out] = _pieces(ws._writer.out, chunks)
            entries = [f"xl/worksheets/sheet{number}.xml",
                       f"xl/worksheets/_rels/sheet{number}.xml.rels"]
            paths = [f"/xl/tables/table{tables + k}.xml" for k in range(1, len(ws.tables) + 1)]
            tables += len(ws.tables)
            sheet = self.sheets.get(ws.title)
            if sheet is not None:
                sheet.entries, sheet.tables = entries, paths
            old = self.copied.get(ws.title)
            if old is None:
                continue
            if self.old is None or old.entries != entries or old.tables != paths:
                raise Unusable(f"the sheet {ws.title} is not where it was")
            for name in entries:
                archive.copies[name] = self.old.file.entries[name]

    def check(self, archive: StampedZip, wb: Workbook) -> None:
        """After saving: every copy made, and every entry where `plan` said it would be."""
        if archive.copies or archive.plans:
            raise Unusable(f"not written: {', '.join(sorted([*archive.copies, *archive.plans]))}")
        for ws in wb.worksheets:
            sheet = self.sheets.get(ws.title)
            if sheet is None:
                continue
            paths = [table.path for table in ws.tables.values()]
            if sheet.entries[0] != ws.path[1:] or sheet.tables != paths:
                raise Unusable(f"the sheet {ws.title} was not written where planned")
        self.segments = archive.segments

    def write_record(self, record: Path, workbook: Path) -> None:
        """The record of this workbook's sheets, for the next run (written last)."""
        sheets = {title: {"digest": s.digest, "problems": s.problems, "entries": s.entries,
                          "tables": s.tables, "chunks": s.chunks}
                  for title, s in self.sheets.items() if s.digest}
        names = {name for s in self.sheets.values() if s.digest for name in s.entries}
        if self.old is not None:
            log.info("workbook: %d of %d table sheets copied from the last workbook, and %d "
                     "chunks of rows of the others", len(self.copied), len(self.sheets),
                     sum(self.copied_chunks.values()))
        content = {"format": PARTS_FORMAT, "writer": _writer_version(),
                   "bytes": workbook.stat().st_size,
                   # how this workbook was made, for people
                   "copied": list(self.copied), "copied_chunks": self.copied_chunks,
                   "entries": {name: [s.as_json() for s in segments]
                               for name, segments in self.segments.items() if name in names},
                   "sheets": sheets}
        record.parent.mkdir(parents=True, exist_ok=True)
        temporary = record.with_name(f".{record.name}.tmp")
        temporary.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
        temporary.replace(record)


# ---------------------------------------------------------------- the workbook


class _Book:
    """The write-only workbook, its shared cell styles and the warnings raised on the way."""

    def __init__(self, file_label: str, old: _OldBook | None = None) -> None:
        self.wb = Workbook(write_only=True)
        self.file_label = file_label
        self.problems: list[Problem] = []
        self.sheets: dict[str, _Sheet] = {}
        self.parts = _Parts(old)
        self.quiet = False
        self.targets: dict[str, str | None] = {}  # address -> link_target(address)
        styles = self.wb.create_sheet("styles")  # a scratch sheet to build the styles on
        # a font without a name shows in a serif face in LibreOffice: name the default one
        self.header = _style(styles, font=Font(name=FONT, size=11, bold=True))
        self.title = _style(styles, font=Font(name=FONT, size=14, bold=True))
        self.heading = _style(styles, font=Font(name=FONT, size=12, bold=True))
        self.wrap = _style(styles, alignment=Alignment(wrap_text=True))
        self.date = _style(styles, number_format=DATE_FORMAT)
        self.date_left = _style(styles, number_format=DATE_FORMAT,
                                alignment=Alignment(horizontal="left"))
        self.link = _style(styles, font=Font(name=FONT, size=11, color="0563C1",
                                             underline="single"))
        self.whole_percent = _style(styles, number_format="0%")
        self.percent = _style(styles, number_format="0.0##%")
        self.wb.remove(styles)
        # every cell style gets its number now, whichever sheets are written: a sheet
        # copied from the last workbook refers to the same numbers
        for style in (self.header, self.title, self.heading, self.wrap, self.date,
                      self.date_left, self.link, self.whole_percent, self.percent):
            self.wb._cell_styles.add(style)

    # ------------------------------------------------------------ sheets
    def sheet(self, title: str) -> _Sheet:
        if len(title) > 31 or title.casefold() in {t.casefold() for t in self.sheets}:
            raise ValueError(f"sheet title {title!r} is too long or already used")
        ws = _FastWorksheet(parent=self.wb, title=title)
        self.wb._add_sheet(ws)
        sheet = _Sheet(ws, title)
        self.sheets[title] = sheet
        return sheet

    def warn(self, sheet: str, row: int | None, column: str | None, message: str) -> None:
        if self.quiet:  # rows copied from the last workbook: its warnings are given again
            return
        self.problems.append(Problem(WARNING, f"{self.file_label} sheet {sheet}", row, column,
                                     message, code="text-cut"))

    def write(self, model: Model, *, as_of: str, generated_at: dt.datetime,
              warnings: Sequence[Problem], changes: pd.DataFrame | None, sources_label: str,
              run_id: str, later: Later | None = None) -> None:
        tables = _tables(model, changes)
        # every sheet is created first, in reading order; rows are streamed later, in
        # the order that lets the overview and DataQuality count every warning
        overview = self.sheet(OVERVIEW)
        charts = self.sheet(CHARTS)
        for spec in tables:
            self.sheet(spec.name)
        quality = self.sheet(DATA_QUALITY)
        for n, spec in enumerate(tables):
            if spec.name == CHANGES and later is not None:  # its turn: they are known now
                changes, more = later()
                warnings = [*warnings, *more]
                spec = tables[n] = _changes_spec(changes)
            self.table_sheet(self.sheets[spec.name], spec.name, spec.frame, spec.empty)
        by_name = {spec.name: spec.frame for spec in tables}
        self.write_charts(charts, model, by_name)
        # the overview's curated text is converted before DataQuality is written, so that
        # DataQuality and the overview's warning count include what converting it raised
        events = [e for e in dict.fromkeys(model.agreements["event"]) if e]
        title = f"{', '.join(events)} agreements — workbook" if 0 < len(events) <= 3 \
            else "Agreements — workbook"
        title = str(self.clean_texts([title], OVERVIEW, None, 1)[0])
        label = self.clean_texts([sources_label or "(not given)"], OVERVIEW, "Data from", 5)[0]
        guide = _reading_guide(tables)
        figures_rows = len(_key_figures(model, by_name["ByCountry"], 0))
        sources_top = _OVERVIEW_TOP_ROWS + (1 + figures_rows) + 2 + len(guide) + 2 + 1
        sources = _sources_frame(model)
        overview.set_widths(OVERVIEW_WIDTHS)  # the sources' wrapped lines depend on them
        source_rows = list(self.table_rows(overview, "Sources", sources, "No sources recorded",
                                           first_row=sources_top))
        n_warnings = len(warnings) + len(self.problems)
        self.table_sheet(quality, DATA_QUALITY, _quality_frame([*warnings, *self.problems]),
                         "No warnings: the data passed every check")
        self.write_overview(overview, model, guide, by_name, sources, source_rows, sources_top,
                            title=str(title), as_of=as_of, generated_at=generated_at,
                            sources_label=str(label), run_id=run_id, n_warnings=n_warnings)
        props = self.wb.properties
        props.title = title
        props.subject = f"Agreements, parties, themes and targets; {figures.as_of_phrase(as_of)}"
        props.creator = CREATOR
        props.description = f"Run {run_id}" if run_id else None
        props.created = _utc_naive(generated_at)

    # ------------------------------------------------------------ tables
    def table_sheet(self, sheet: _Sheet, name: str, frame: pd.DataFrame, empty: str) -> None:
        """A sheet holding one table, frozen header: copied from the last workbook when
        everything that decides its bytes is the same, else written."""
        hashes = _cell_hashes(frame)
        layout: list[object] = [_writer_version(), sheet.title, name,
                                [str(c) for c in frame.columns], [str(t) for t in frame.dtypes],
                                repr(list(self.wb._cell_styles))]
        digest = _digest(*layout, empty, self.wb.worksheets.index(sheet.ws),
                         data=hashes.tobytes())
        first_problem, styles = len(self.problems), len(self.wb._cell_styles)
        old = self.parts.reusable(sheet.title, digest)
        if old is not None:
            self.copied_table(sheet, name, frame)
            for row, column, message in old.problems:
                self.warn(sheet.title, row, column, message)
            self.parts.copied[sheet.title] = old
            chunks = old.chunks
        else:
            sheet.chunking = _Chunking(layout, hashes, self.parts.old_chunks(sheet.title))
            self.write_table(sheet, name, frame, empty, freeze=True)
            if name == "PartyThemes" and len(frame):
                _heat_map(sheet, frame)
            chunks = sheet.chunking.new
            sheet.chunking = None
        raised = [(p.row, p.column, p.message) for p in self.problems[first_problem:]]
        # a sheet that gave a cell a style of its own cannot be copied: the style's number
        # depends on what was written before it
        reusable = len(self.wb._cell_styles) == styles
        self.parts.sheets[sheet.title] = _NewSheet(digest if reusable else "", raised,
                                                   chunks if reusable else {})

    def copied_table(self, sheet: _Sheet, name: str, frame: pd.DataFrame) -> None:
        """The sheet's table and print settings (in the workbook's own parts), but no rows:
        its XML and relationships are copied from the last workbook."""
        sheet.ws.freeze_panes = "A2"
        _print_setup(sheet, repeat_header=True)
        sheet.rows = 1 + max(len(frame), 1)
        self.add_table(sheet, name, _headers(frame), 1)

    def write_table(self, sheet: _Sheet, name: str, frame: pd.DataFrame, empty: str, *,
                    freeze: bool = False) -> None:
        """Header and rows from the sheet's next row on, as an Excel table called `name`."""
        if freeze:
            sheet.ws.freeze_panes = "A2"
        if sheet.rows == 0:
            sheet.set_widths(_widths(frame))
            _print_setup(sheet, repeat_header=freeze)
        self.append_table(sheet, name, frame, self.table_chunks(sheet, name, frame, empty,
                                                                first_row=sheet.rows + 1))

    def append_table(self, sheet: _Sheet, name: str, frame: pd.DataFrame,
                     rows: Iterable[_Row] | Iterator[_Chunk]) -> None:
        """The header and the rows (or chunks of columns) as an Excel table called `name`."""
        headers = _headers(frame)
        top = sheet.rows + 1
        if top + max(len(frame), 1) > SHEET_ROW_LIMIT:
            raise ReportsError(f"the {name} table has {len(frame):,} rows, more than an Excel "
                               f"sheet holds ({SHEET_ROW_LIMIT - top:,} below its header)")
        sheet.append([self.text_cell(sheet.ws, h, self.header) for h in headers])
        for item in rows:
            if isinstance(item, _Chunk):
                sheet.append_chunk(item)
            else:
                sheet.append(*item)
        self.add_table(sheet, name, headers, top)

    def add_table(self, sheet: _Sheet, name: str, headers: list[str], top: int) -> None:
        """The Excel table called `name` from row `top` (its header) to the sheet's last."""
        ref = f"A{top}:{get_column_letter(len(headers))}{sheet.rows}"
        table = Table(displayName=name, name=name, ref=ref)
        table._initialise_columns()  # also sets the table's autoFilter (its filter buttons)
        # write-only sheets cannot be read back, so the column names are set here; they
        # must equal the header cells, or Excel repairs the file
        table.tableColumns = [TableColumn(id=i, name=h) for i, h in enumerate(headers, 1)]
        table.tableStyleInfo = TableStyleInfo(name=TABLE_STYLE, showRowStripes=True,
                                              showColumnStripes=False, showFirstColumn=False,
                                              showLastColumn=False)
        with py_warnings.catch_warnings():
            py_warnings.filterwarnings("ignore", message="In write-only mode you must add")
            sheet.ws.add_table(table)

    def table_rows(self, sheet: _Sheet, name: str, frame: pd.DataFrame, empty: str, *,
                   first_row: int) -> Iterator[_Row]:
        """The frame's rows as cell values with their lines of wrapped text."""
        for chunk in self.table_chunks(sheet, name, frame, empty, first_row=first_row):
            yield from zip(zip(*chunk.columns, strict=True), chunk.lines, strict=True)

    def table_chunks(self, sheet: _Sheet, name: str, frame: pd.DataFrame, empty: str, *,
                     first_row: int) -> Iterator[_Chunk]:
        """The frame's rows, a chunk at a time, as columns of cell values and each row's
        lines of wrapped text.

        `first_row` is the sheet row of the header. An empty frame gives one row whose
        first cell says `empty` (an Excel table needs at least one data row).
        """
        if frame.empty:
            first = [self.text_cell(sheet.ws, empty)]
            yield _Chunk([first] + [[None]] * (frame.shape[1] - 1), [1])
            return
        headers = _headers(frame)
        kinds = [_kind(header, frame.iloc[:, j]) for j, header in enumerate(headers)]
        wrapped = [j for j, kind in enumerate(kinds) if kind == WRAP]
        chunking = sheet.chunking
        for start in range(0, len(frame), CHUNK_ROWS):
            part = frame.iloc[start:start + CHUNK_ROWS]
            top = first_row + 1 + start
            digest = None
            if chunking is not None and getattr(sheet.ws, "segmentable", False):
                # a chunk of its own segment: copied when the last workbook has it
                digest = chunking.digest(sheet, first_row, start, len(part))
                old = chunking.old.get(digest)
                if old is not None:
                    segment, problems = old
                    for row, column, message in problems:
                        self.warn(sheet.title, row, column, message)
                    self.relink(sheet, headers, kinds, part, top)
                    chunking.new[digest] = problems
                    copied = self.parts.copied_chunks
                    copied[sheet.title] = copied.get(sheet.title, 0) + 1
                    yield _Chunk([], [1] * len(part), segment)
                    continue
            first_problem = len(self.problems)
            columns = [self.column_cells(sheet, header, kind, part.iloc[:, j], top,
                                         sheet.widths.get(j + 1, MAX_WIDTH))
                       for j, (header, kind) in enumerate(zip(headers, kinds, strict=True))]
            lines = _wrapped_lines(part, wrapped, sheet.widths) if wrapped \
                else [1] * len(part)
            if chunking is not None and digest is not None:
                chunking.new[digest] = [(p.row, p.column, p.message)
                                        for p in self.problems[first_problem:]]
            yield _Chunk(columns, lines, digest)

    def relink(self, sheet: _Sheet, headers: list[str], kinds: list[str], part: pd.DataFrame,
               top: int) -> None:
        """The links of rows copied from the last workbook, as writing them would make
        them (the sheet's link count included), for the sheet's hyperlinks and
        relationships; their warnings are not raised again."""
        ws = sheet.ws
        self.quiet = True
        try:
            for j, (header, kind) in enumerate(zip(headers, kinds, strict=True)):
                if kind != LINK:
                    continue
                letter = get_column_letter(j + 1)
                values = self.column_cells(sheet, header, kind, part.iloc[:, j], top, MAX_WIDTH)
                ws._hyperlinks.extend((f"{letter}{top + i}", v.target)
                                      for i, v in enumerate(values) if v.__class__ is _Link)
        finally:
            self.quiet = False

    def column_cells(self, sheet: _Sheet, header: str, kind: str, series: pd.Series,
                     top: int, width: float) -> list[object]:
        """One column's values as plain values (fast) or cells (styled, or text to protect)."""
        ws = sheet.ws
        if kind == NUMBER:
            values = series.tolist()
            if series.dtype.kind in "iu" and not series.hasnans:
                return values
            return [_number(v) for v in values]
        if kind == PERCENT:
            return [None if (v := _number(p)) is None else self.percent_cell(ws, cast(float, v))
                    for p in series.tolist()]
        values = [(v or None) if v.__class__ is str else _plain(v) for v in series.tolist()]
        values = self.clean_texts(values, sheet.title, header, top)
        # plain text stays a str: the row writer writes every str as text, never as a
        # formula ("=...") or an error value ("#N/A")
        if kind == TEXT:
            return values
        if kind == WRAP:
            # only text longer than a line needs the wrapping style
            style, per_line = self.wrap, _chars_per_line(width)
            return [_Styled(v, style)
                    if v.__class__ is str and (len(v) > per_line or "\n" in v) else v
                    for v in values]
        if kind == DATE:
            return [self.date_or_text(v) for v in values]
        return [self.link_cell(sheet, v, header, top + i) if v.__class__ is str else v
                for i, v in enumerate(values)]

    # ------------------------------------------------------------ cells
    def text_cell(self, ws: WriteOnlyWorksheet, value: object,
                  style: StyleArray | None = None) -> Cell | object:
        """A cell that holds `value` as text: never a formula, never an error value."""
        if value.__class__ is not str:
            return value
        cell = WriteOnlyCell(ws, value)
        cell.data_type = "s"
        if style is not None:
            # a copy of a prepared style array costs a third of setting font/alignment
            cell._style = copy(style)
        return cell

    def date_or_text(self, value: object, style: StyleArray | None = None) -> object:
        """A full ISO date (from 1900-03-01 on) as an Excel date; anything else as it is."""
        if value.__class__ is not str:
            return value
        if len(value) == 10 and FULL_DATE_RE.fullmatch(value):
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                day = None
            if day is not None and day >= EARLIEST_DATE:
                return _Styled(day, self.date if style is None else style)
        # partial dates (2024-11, 2024) stay text, as curated
        return value

    def percent_cell(self, ws: WriteOnlyWorksheet, value: float) -> Cell:
        cell = WriteOnlyCell(ws, value)
        whole = float(value * 100).is_integer()
        cell._style = copy(self.whole_percent if whole else self.percent)
        return cell

    def link_cell(self, sheet: _Sheet, value: str, column: str, row: int) -> _Link | str:
        """The address as text, linked when it is http(s) and the sheet has links to spare."""
        if sheet.links >= LINKS_PER_SHEET:
            if sheet.links == LINKS_PER_SHEET:
                self.warn(sheet.title, row, column,
                          f"from this row on the addresses are text, not links: Excel holds "
                          f"at most {LINKS_PER_SHEET:,} links in one sheet")
                sheet.links += 1
            return value
        target = self.targets.get(value, "")
        if target == "":
            target = self.targets[value] = link_target(value)
        if target is None:
            self.warn(sheet.title, row, column,
                      f"'{_shorten(value)}' is not linked: only http and https addresses "
                      "become links")
            return value
        sheet.links += 1
        return _Link(value, target, self.link)

    def internal_link(self, ws: WriteOnlyWorksheet, value: str, sheet: str) -> Cell:
        cell = cast(Cell, self.text_cell(ws, value, self.link))
        cell.hyperlink = Hyperlink(ref="", location=f"'{sheet}'!A1")
        return cell

    def clean_texts(self, values: list[object], sheet: str, column: str | None,
                    top: int) -> list[object]:
        """Drop unstorable characters and cut over-long text, each with a warning."""
        texts = [v for v in values if v.__class__ is str]
        if not texts:
            return values
        joined = "".join(texts)
        dirty = UNSTORABLE_RE.search(joined) is not None
        # a text of more than half the limit in code points may pass it in UTF-16 units
        long = len(joined) > CELL_TEXT_LIMIT // 2 and max(map(len, texts)) > CELL_TEXT_LIMIT // 2
        if not (dirty or long):
            return values
        cleaned = list(values)
        for i, value in enumerate(values):
            if value.__class__ is not str:
                continue
            text = str(value)
            if dirty and UNSTORABLE_RE.search(text):
                text = UNSTORABLE_RE.sub("", text)
                self.warn(sheet, top + i, column,
                          "removed characters a workbook cannot hold (control characters, "
                          "U+FFFE, U+FFFF or lone surrogates)")
            if long and _utf16_len(text) > CELL_TEXT_LIMIT:
                text = cut_text(text)
                self.warn(sheet, top + i, column,
                          f"text cut to {CELL_TEXT_LIMIT:,} characters, Excel's limit for a "
                          f"cell (it ends with '{TRUNCATED.strip()}'); the curated data "
                          "holds it in full")
            cleaned[i] = text or None
        return cleaned

    # ------------------------------------------------------------ charts
    def write_charts(self, sheet: _Sheet, model: Model, tables: dict[str, pd.DataFrame]) -> None:
        ws = sheet.ws
        sheet.set_widths({1: 42, 2: 22})
        _print_setup(sheet, repeat_header=False)
        blocks = _chart_blocks(model, tables)
        sheet.append([self.text_cell(ws, "Charts", self.title)])
        sheet.append([self.text_cell(
            ws, "Distinct agreements (recorded discussions not counted, except by kind); "
                "the numbers of each chart are beside it.")])
        for block in blocks:
            sheet.append([])
            heading_row = sheet.rows + 1
            sheet.append([self.text_cell(ws, block.title, self.heading)])
            header_row = sheet.rows + 1
            sheet.append([self.text_cell(ws, block.label, self.header),
                          self.text_cell(ws, block.value, self.header)])
            labels = self.clean_texts(list(block.frame.iloc[:, 0]), CHARTS, block.label,
                                      header_row + 1)
            for label, value in zip(labels, block.frame.iloc[:, 1].tolist(), strict=True):
                sheet.append([self.text_cell(ws, label), value])
            last = sheet.rows
            if block.frame.empty:
                sheet.append([self.text_cell(ws, block.empty)])
            else:
                ws.add_chart(_bar_chart(ws, block, header_row, last), f"D{heading_row}")
            # leave room for the chart (about 18 rows high) before the next block
            while sheet.rows < heading_row + 18:
                sheet.append([])

    # ------------------------------------------------------------ overview
    def write_overview(self, sheet: _Sheet, model: Model, guide: list[tuple[str, str]],
                       by_name: dict[str, pd.DataFrame], sources: pd.DataFrame,
                       source_rows: list[_Row], sources_top: int, *, title: str,
                       as_of: str, generated_at: dt.datetime, sources_label: str, run_id: str,
                       n_warnings: int) -> None:
        ws = sheet.ws
        _print_setup(sheet, repeat_header=False)
        text = self.text_cell

        def pair(label: str, value: object) -> None:
            sheet.append([text(ws, label, self.header), value])

        # _OVERVIEW_TOP_ROWS rows: title, four facts, a blank row, the key figures heading
        sheet.append([text(ws, title, self.title)])
        pair("Data as of", self.date_or_text(as_of, self.date_left) if as_of
             else text(ws, "not dated: no date in the data"))
        pair("Generated at", text(ws, _moment(generated_at)))
        pair("Run", text(ws, run_id or "(not part of a published run)"))
        pair("Data from", text(ws, sources_label))
        sheet.append([])
        sheet.append([text(ws, "Key figures", self.heading)])
        figures = _key_figures(model, by_name["ByCountry"], n_warnings)
        self.append_table(sheet, "KeyFigures", figures,
                          self.table_rows(sheet, "KeyFigures", figures, "No figures",
                                          first_row=sheet.rows + 1))
        sheet.append([])
        sheet.append([text(ws, "How to read this workbook", self.heading)])
        for name, about in guide:
            if name in self.sheets:
                first = self.internal_link(ws, name, name)
                sheet.links += 1  # Excel's limit counts these too
            else:
                first = text(ws, name, self.header)
            sheet.append([first, text(ws, about, self.wrap)],
                         _lines(about, OVERVIEW_WIDTHS[2]))
        sheet.append([])
        sheet.append([text(ws, "Sources", self.heading)])
        if sheet.rows + 1 != sources_top:  # the warnings' row numbers depend on it
            raise AssertionError(f"overview layout: sources at {sheet.rows + 1}, "
                                 f"planned at {sources_top}")
        self.append_table(sheet, "Sources", sources, source_rows)

    # ------------------------------------------------------------ saving
    def save(self, path: Path, generated_at: dt.datetime) -> None:
        stamp = _utc_naive(generated_at)
        self.wb.properties.modified = stamp
        with StampedZip(path, stamp, ZIP_LEVEL) as archive:
            self.parts.plan(archive, self.wb)
            # what Workbook.save does, minus the wall-clock 'modified' time it stamps
            _Writer(self.wb, archive).save()
            self.parts.check(archive, self.wb)

    def discard(self) -> None:
        """Remove the temporary files of sheets already streamed (after a failure)."""
        for ws in self.wb.worksheets:
            writer = getattr(ws, "_writer", None)
            if writer is None:
                continue
            try:
                # the row stream first: closed later, by the garbage collector, it would
                # write its end into a closed file
                if ws._rows is not None:
                    ws._rows.close()
                writer.close()
                writer.cleanup()
            except (OSError, ValueError):
                pass


_Row = tuple[Sequence[object], int]  # a row's cells, and its lines of wrapped text


@dataclass
class _Chunk:
    """Rows as columns of cell values, and each row's lines of wrapped text."""

    columns: list[list[object]]
    lines: list[int]
    # a chunk of its own segment of the sheet's XML: what decides its bytes (a digest),
    # or the last workbook's segment holding them (no columns then)
    part: str | Segment | None = None


@dataclass
class _Chunking:
    """A table sheet's rows, a chunk a segment: copied from the last workbook when what
    decides a chunk's bytes is the same (`digest`)."""

    layout: list[object]  # what every chunk of the sheet depends on, but the column widths
    hashes: np.ndarray  # of the frame's cells (_cell_hashes)
    old: dict[str, tuple[Segment, list[_Raised]]]  # the last workbook's, by digest
    new: dict[str, list[_Raised]] = field(default_factory=dict)  # this one's, by digest

    def digest(self, sheet: _Sheet, first_row: int, start: int, rows: int) -> str:
        """The rows' cells, where they are, the widths they wrap in, and the links the
        sheet had before them (Excel's limit)."""
        return _digest(*self.layout, sorted(sheet.widths.items()), first_row, start,
                       sheet.links, data=self.hashes[start:start + rows].tobytes())


@dataclass
class _Sheet:
    """A write-only worksheet, how far it is written (rows, links) and its column widths."""

    ws: WriteOnlyWorksheet
    title: str
    rows: int = 0
    links: int = 0
    widths: dict[int, float] = field(default_factory=dict)  # column number -> width
    chunking: _Chunking | None = None  # while a table sheet's rows are written

    def set_widths(self, widths: dict[int, float]) -> None:
        """Column widths; only before the first row (write-only sheets write them first)."""
        self.widths = dict(widths)
        for column, width in widths.items():
            self.ws.column_dimensions[get_column_letter(column)].width = width

    def append(self, row: Sequence[object], lines: int = 1) -> None:
        """Append a row; one with wrapped text gets the height of its lines.

        Excel fits such rows itself but LibreOffice does not, so the height is written;
        the row's entry is dropped once written, so memory does not grow with the rows.
        """
        number = self.rows + 1
        if lines > 1:
            # openpyxl's row writer takes a row's attributes with dict.update(); a plain
            # dict costs a fraction of a RowDimension, which matters at 100,000 rows
            height = min(MAX_ROW_HEIGHT, LINE_HEIGHT * lines)
            dict.__setitem__(self.ws.row_dimensions, number,
                             {"ht": str(height), "customHeight": "1"})
            self.ws.append(row)
            dict.__delitem__(self.ws.row_dimensions, number)
        else:
            self.ws.append(row)
        self.rows = number

    def append_chunk(self, chunk: _Chunk) -> None:
        """Append rows given as columns: as one piece of sheet XML when the sheet can take
        it (a third of the time of row by row), else row by row."""
        ws = self.ws
        if isinstance(chunk.part, Segment):  # rows copied: nothing to write here
            ws.append(_RawRows("", len(chunk.lines), chunk.part))
            self.rows += len(chunk.lines)
            return
        if isinstance(ws, _FastWorksheet) and ws.raw_ok and ws._writer is not None:
            assert isinstance(ws._writer, _FastRowWriter)
            xml = ws._writer.rows_xml(chunk.columns, chunk.lines, self.rows + 1)
            ws.append(_RawRows(xml, len(chunk.lines), chunk.part))
            self.rows += len(chunk.lines)
            return
        for row, lines in zip(zip(*chunk.columns, strict=True), chunk.lines, strict=True):
            self.append(row, lines)


class _FastWorksheet(WriteOnlyWorksheet):
    """A write-only worksheet whose rows are serialised by `_FastRowWriter`.

    openpyxl turns every value into a cell object, then into an element tree, then
    into text: about 10 us a cell, 50 s for the 5 million cells of a 100,000-agreement
    workbook. Here appended values reach the writer as they are.
    """

    raw_ok = False  # whether the XML stream takes text as it is (known after a first row)
    # whether chunks of rows can be segments of their own: the stream is a text file
    # whose position is known (known after a first row)
    segmentable = False
    # chunks of their own segment: from, to (bytes of the sheet's XML file), part
    chunks: list[tuple[int, int, str | Segment]]
    _writer: Any  # openpyxl's attribute: None until the first row, then the row writer

    def _values_to_row(self, values: Iterable[object], row_idx: int) -> Iterable[object]:
        return values

    def _get_writer(self) -> None:
        if self._writer is None:
            self._writer = _FastRowWriter(self)
            self._writer.write_top()

    def _write_rows(self) -> Generator[None, Any, None]:
        """openpyxl's row loop (WriteOnlyWorksheet._write_rows), which also takes
        `_RawRows`: sheet XML of several rows, written as it is."""
        try:
            xf = self._writer.xf.send(True)
        except StopIteration:
            self._already_saved()
        write = _raw_writer(xf)
        self.raw_ok = write is not None
        stream = getattr(write, "__self__", None)
        self.segmentable = isinstance(stream, io.TextIOWrapper)
        self.chunks = []
        with xf.element("sheetData"):
            row_idx = 1
            try:
                while True:
                    row = yield
                    if isinstance(row, _RawRows):
                        assert write is not None  # raw rows are sent only when raw_ok
                        if row.part is None:
                            write(row.xml)
                        else:  # a segment of its own: where its bytes are
                            assert isinstance(stream, io.TextIOWrapper)
                            stream.flush()
                            start = stream.buffer.tell()
                            write(row.xml)
                            stream.flush()
                            self.chunks.append((start, stream.buffer.tell(), row.part))
                        row_idx += row.rows
                        continue
                    self._writer.write_row(xf, self._values_to_row(row, row_idx), row_idx)
                    row_idx += 1
            except GeneratorExit:
                pass
        self._writer.xf.send(None)


@functools.cache
def _warn_if_slow() -> None:
    """Say so, once, when openpyxl took lxml's stream (it was imported before `reports`,
    which tells it not to): the workbook is then written about five times slower."""
    from openpyxl.xml import LXML

    if LXML:
        log.warning("openpyxl uses lxml here (it was imported before the reports package): "
                    "the workbook is written on its slow path; set OPENPYXL_LXML=False")


def fast_path_in_use() -> bool:
    """Whether sheet rows go straight into the XML stream as text (the fast path), as they
    do with et_xmlfile 2 and without lxml; a test and the benchmark ask."""
    import io

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = _FastWorksheet(parent=book, title="probe")
    book._sheets.append(ws)
    ws.append(["probe"])
    book.save(io.BytesIO())
    return ws.raw_ok


def _raw_writer(xf: Any) -> Callable[[str], object] | None:
    """The function writing text as it is into et_xmlfile's stream (None for others)."""
    write = getattr(xf, "_file", None)
    return write if callable(write) else None


class _Styled(NamedTuple):
    """A value with a cell style (text or a date), for _FastRowWriter: lighter than a cell."""

    value: object
    style: StyleArray


class _Link(NamedTuple):
    """Text linked to a web address, for _FastRowWriter: lighter than a cell and its link."""

    text: str
    target: str
    style: StyleArray


class _RawRows(NamedTuple):
    xml: str
    rows: int
    part: str | Segment | None = None  # as _Chunk.part


_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class _FastRowWriter(WorksheetWriter):
    """Writes a row of plain values and cells as sheet XML text, the way openpyxl would.

    Text is always an inline string (never a formula, whatever it starts with); ints
    and floats are numbers; openpyxl cells keep their style, type and hyperlink; any
    other value (a date, say) becomes an openpyxl cell first. Same XML as openpyxl's
    own writer for what the workbook holds (checked by the tests through calamine and
    LibreOffice). Falls back to openpyxl's writer if the XML stream is not the one
    this was written for (et_xmlfile's; lxml's has no raw write).
    """

    def __init__(self, ws: WriteOnlyWorksheet) -> None:
        super().__init__(ws)
        self._rels = _FastRels()

    def write_hyperlinks(self) -> None:
        """The sheet's links: a web address's as text written here, with its relationship
        kept as text (`_FastRels`), an internal link's as openpyxl writes it. The same XML
        as openpyxl's, without an object per link: a sheet can have 65,530."""
        links = self.ws._hyperlinks
        if not links:
            return
        xf = self.xf.send(True)
        write = _raw_writer(xf)
        rels = self._rels
        assert isinstance(rels, _FastRels) and not rels  # links come first: rId1, rId2, ...
        if write is None:  # not the fast path: its cells carry openpyxl's links
            self.xf.send(None)
            super().write_hyperlinks()
            return
        write("<hyperlinks>")
        for link in links:
            if isinstance(link, tuple):
                ref, target = link
                rels.targets.append(target)
                write(f'<hyperlink xmlns:r="{REL_NS}" ref="{ref}" r:id="rId{len(rels.targets)}" />')
                continue
            if link.target:
                rels.targets.append(link.target)
                link.id = f"rId{len(rels.targets)}"
            xf.write(link.to_tree())
        write("</hyperlinks>")
        self.xf.send(None)

    def write_row(self, xf: Any, row: Iterable[object], row_idx: int) -> None:
        write = _raw_writer(xf)
        if write is None:
            values = [self.openpyxl_value(v) for v in row]
            cells = WriteOnlyWorksheet._values_to_row(self.ws, values, row_idx)
            super().write_row(xf, cells, row_idx)
            return
        attributes = self.ws.row_dimensions.get(row_idx) or {}
        parts = [f'<row r="{row_idx}"'
                 + "".join(f' {k}="{v}"' for k, v in dict(attributes).items()) + ">"]
        parts += [self.value_xml(f"{get_column_letter(column)}{row_idx}", value)
                  for column, value in enumerate(row, 1) if value is not None]
        parts.append("</row>")
        write("".join(parts))

    def rows_xml(self, columns: list[list[object]], lines: list[int], first: int) -> str:
        """Rows `first`, first + 1, ... as sheet XML, built a column at a time.

        The same XML as write_row gives each row, in a few list comprehensions per
        column instead of a Python branch per cell.
        """
        numbers = range(first, first + len(lines))
        cells: list[list[str]] = []
        for j, values in enumerate(columns, 1):
            letter = get_column_letter(j)
            if all(v is None or v.__class__ is str for v in values):
                texts = [v if v is None else _xml_text(cast(str, v)) for v in values]
                cells.append(["" if t is None else
                              f'<c r="{letter}{r}" t="inlineStr"><is><t{t[0]}>{t[1]}</t></is></c>'
                              for r, t in zip(numbers, texts, strict=True)])
            else:
                cells.append([self.value_xml(f"{letter}{r}", v)
                              for r, v in zip(numbers, values, strict=True)])
        heights = [f' ht="{min(MAX_ROW_HEIGHT, LINE_HEIGHT * n)}" customHeight="1"' if n > 1
                   else "" for n in lines]
        return "".join(f'<row r="{r}"{h}>{"".join(row)}</row>'
                       for r, h, row in zip(numbers, heights, zip(*cells, strict=True),
                                            strict=True))

    def openpyxl_value(self, value: object) -> object:
        """A value for openpyxl's own writer: text always as text, _Styled as a cell."""
        if value.__class__ is str:
            return _clean_text_cell(self.ws, value)  # type: ignore[arg-type]
        if isinstance(value, _Styled):
            if value.value.__class__ is str:  # text, even if it starts with "="
                return _clean_text_cell(self.ws, value.value, copy(value.style))  # type: ignore[arg-type]
            cell = WriteOnlyCell(self.ws, value.value)
            cell._style = copy(value.style)
            return cell
        if isinstance(value, _Link):
            cell = _clean_text_cell(self.ws, value.text, copy(value.style))  # type: ignore[arg-type]
            cell.hyperlink = Hyperlink(ref="", target=value.target)
            return cell
        return value

    def value_xml(self, ref: str, value: object) -> str:
        """One cell of any value write_row takes ("" for None)."""
        if value is None:
            return ""
        kind = value.__class__
        if kind is str:
            return _string_xml(ref, "", value)  # type: ignore[arg-type]
        if kind is _Styled:
            inner, style = cast(_Styled, value)
            s = f' s="{self.ws.parent._cell_styles.add(style)}"'
            if inner.__class__ is str:
                return _string_xml(ref, s, inner)
            number = to_excel(inner, self.ws.parent.epoch)
            return f'<c r="{ref}"{s} t="n"><v>{_safe_number(number)}</v></c>'
        if kind is _Link:
            text, target, style = cast(_Link, value)
            self.ws._hyperlinks.append((ref, target))
            return _string_xml(ref, f' s="{self.ws.parent._cell_styles.add(style)}"', text)
        if kind is int:
            return f'<c r="{ref}" t="n"><v>{value}</v></c>'
        if kind is float:
            return (f'<c r="{ref}" t="n"><v>{value:.16g}</v></c>'
                    if math.isfinite(value) else "")  # type: ignore[arg-type]
        if not isinstance(value, Cell):
            value = WriteOnlyCell(self.ws, value)
        return self.cell_xml(ref, value)

    def cell_xml(self, ref: str, cell: Cell) -> str:
        style = f' s="{cell.style_id}"' if cell.has_style else ""
        if cell.hyperlink is not None:
            cell.hyperlink.ref = ref
            self.ws._hyperlinks.append(cell.hyperlink)
        value, kind = cell._value, cell.data_type
        if value is None or value == "":
            return f'<c r="{ref}"{style}/>'
        if kind == "s":
            return _string_xml(ref, style, str(value))
        if kind == "d":
            value = to_excel(value, self.ws.parent.epoch)
            kind = "n"
        if kind == "n":
            return f'<c r="{ref}"{style} t="n"><v>{_safe_number(value)}</v></c>'
        if kind == "b":
            return f'<c r="{ref}"{style} t="b"><v>{int(bool(value))}</v></c>'
        raise ValueError(f"cell {ref}: type {kind!r} is never written by this workbook")


class _FastRels:
    """A sheet's relationships: first its links', kept as their targets (rId1, rId2, ...),
    then the others (tables, drawing) as openpyxl's objects; written as text (`xml`), the
    XML openpyxl would write. What openpyxl's writers use of a RelationshipList (whose
    insides differ between openpyxl 3.1.2 and 3.1.5)."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.others: list[Relationship] = []

    def append(self, value: Relationship) -> None:
        self.others.append(value)
        if not value.Id:
            value.Id = f"rId{len(self.targets) + len(self.others)}"

    def get(self, key: str) -> Relationship:
        for rel in self.others:
            if rel.Id == key:
                return rel
        raise KeyError(f"Unknown relationship: {key}")

    def __iter__(self) -> Iterator[Relationship]:
        return iter(self.others)

    def __len__(self) -> int:
        return len(self.targets) + len(self.others)

    def xml(self) -> bytes:
        kind = f"{REL_NS}/hyperlink"
        parts = [f'<Relationships xmlns="{PKG_REL_NS}">']
        parts += [f'<Relationship Type="{kind}" Target="{_xml_attribute(t)}" '
                  f'TargetMode="External" Id="rId{n}" />'
                  for n, t in enumerate(self.targets, 1)]
        for rel in self.others:
            mode = "" if rel.TargetMode is None else \
                f' TargetMode="{_xml_attribute(rel.TargetMode)}"'
            parts.append(f'<Relationship Type="{_xml_attribute(rel.Type)}" '
                         f'Target="{_xml_attribute(rel.Target)}"{mode} Id="{rel.Id}" />')
        parts.append("</Relationships>")
        # ElementTree's tostring writes us-ascii, with character references for the rest
        return "".join(parts).encode("ascii", "xmlcharrefreplace")


_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                    "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"})


def _xml_attribute(text: str) -> str:
    """Text as an attribute's value, escaped as ElementTree escapes it."""
    return text.translate(_ATTRIBUTE_ESCAPES)


class _Writer(ExcelWriter):
    """openpyxl's ExcelWriter, writing a sheet's relationships as text when its writer kept
    them so (`_FastRels`): 65,530 links' relationships as objects take seconds."""

    def _write_worksheets(self) -> None:
        # ExcelWriter._write_worksheets of openpyxl 3.1, for what this workbook holds
        # (no comments, legacy drawings or pivot tables)
        for number, ws in enumerate(self.workbook.worksheets, 1):
            if (getattr(ws, "_comments", None) or getattr(ws, "legacy_drawing", None) is not None
                    or getattr(ws, "_pivots", None)):
                raise ValueError(f"sheet {ws.title}: comments, legacy drawings and pivot "
                                 "tables are not written by this workbook")
            ws._id = number
            self.write_worksheet(ws)
            if ws._drawing:
                self._write_drawing(ws._drawing)
                for rel in ws._rels:
                    if "drawing" in rel.Type:
                        rel.Target = ws._drawing.path
            for table in ws._tables.values():
                self._tables.append(table)
                table.id = len(self._tables)
                table._write(self._archive)
                self.manifest.append(table)
                ws._rels.get(table._rel_id).Target = table.path
            if ws._rels:
                xml = ws._rels.xml() if isinstance(ws._rels, _FastRels) \
                    else tostring(ws._rels.to_tree())
                self._archive.writestr(get_rels_path(ws.path)[1:], xml)


def _xml_text(text: str) -> tuple[str, str]:
    """Text as the content of <t>: escaped, with xml:space="preserve" when it must be."""
    if "&" in text or "<" in text or ">" in text:
        text = text.translate(_XML_ESCAPES)
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return space, text


def _string_xml(ref: str, style: str, text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        text = text.translate(_XML_ESCAPES)
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _safe_number(value: object) -> str:
    """A number as openpyxl writes it (integers as they are, floats to 16 digits)."""
    if isinstance(value, float):
        return f"{value:.16g}" if math.isfinite(value) else ""
    return str(value)


# ---------------------------------------------------------------- the tables


def _tables(model: Model, changes: pd.DataFrame | None) -> list[_TableSpec]:
    """Every table sheet, in reading order, with what its single row says when empty."""
    s = summaries
    return [
        _TableSpec("Agreements", s.agreements_table(model), "No agreements recorded",
                   "One row per agreement or recorded discussion (kind 'discussion'); "
                   "source_url links to its first source."),
        _TableSpec("Parties", s.parties_table(model), "No parties recorded",
                   "One row per party; Agreements and Discussions count the party's own "
                   "participation."),
        _TableSpec("Participation", s.participation_table(model), "No participation recorded",
                   "One row per agreement × party, with role and certainty ('inferred': not "
                   "stated by the source). Filter by party_id to see the agreements behind a "
                   "party's count."),
        _TableSpec("AgreementThemes", s.agreement_themes_table(model),
                   "No agreement themes recorded",
                   "One row per agreement × theme; an agreement under a finer theme is also "
                   "listed under every theme above it (direct = no). Filter by theme_id to see "
                   "the agreements behind a theme's count."),
        _TableSpec("ByMinistry", s.by_ministry(model), "No ministries recorded",
                   "One row per ministry: agreements it takes part in directly, then rolled "
                   "up over every party below it, by kind and by top-level theme."),
        _TableSpec("ByCompany", s.by_company(model), "No companies recorded",
                   "One row per company or state company: agreements, discussions, partners, "
                   "themes and partner countries."),
        _TableSpec("ByTheme", s.by_theme(model), "No themes recorded",
                   "One row per theme, in tree order: distinct agreements under it or any "
                   "finer theme below it."),
        _TableSpec("ByCountry", s.by_country(model), "No countries recorded",
                   "One row per country (ISO code) of the parties taking part; INT = "
                   "international organisations, (none) = country not recorded."),
        _TableSpec("PartyThemes", s.party_theme_matrix(model),
                   "No party takes part in an agreement",
                   "Party × theme: distinct agreements of each party under each theme; the "
                   "colour scale marks where the activity is."),
        _TableSpec("Targets", _targets_frame(model), "No targets recorded",
                   "One row per quantified target: value and unit as curated; a target in % "
                   "is also in 'as percentage' as an Excel percentage (40 % → 40%)."),
        _changes_spec(changes),
    ]


def _changes_spec(changes: pd.DataFrame | None) -> _TableSpec:
    return _TableSpec(CHANGES, _changes_frame(changes),
                      "No earlier run to compare with" if changes is None
                      else "No change since the last run",
                      "What changed since the last published run: added, removed or "
                      "changed rows and fields.")


def _reading_guide(tables: list[_TableSpec]) -> list[tuple[str, str]]:
    return [
        (CHARTS, "Bar charts: agreements by top-level theme, by kind, by country, and the top "
                 "ministries (rolled up) and companies; each chart's numbers are beside it."),
        *[(spec.name, spec.about) for spec in tables],
        (DATA_QUALITY, "Every warning about the data, with the file, row and column to look "
                       "at; also what this workbook had to change to hold the text."),
        ("Counts", "Every count is of distinct agreements; recorded discussions are counted "
                   "in their own column, never as agreements."),
        ("Dates", "Full dates are Excel dates (yyyy-mm-dd); dates known only to the month "
                  "or the year (2024-11, 2024) stay text."),
        ("Tables", "Each table is an Excel table named like its sheet (plus KeyFigures and "
                   "Sources here), for filters, pivot tables and Power Query; the names stay "
                   "the same from run to run."),
    ]


def _targets_frame(model: Model) -> pd.DataFrame:
    """The targets table plus 'as percentage': value / 100 where the unit is '%'."""
    frame = summaries.targets_table(model)
    is_percent = frame["unit"].astype(str).str.strip() == "%"
    values = pd.to_numeric(frame["value"], errors="coerce")
    percent = (values / 100).where(is_percent)
    frame.insert(cast(int, frame.columns.get_loc("unit")) + 1, PERCENT_COLUMN, percent)
    return frame


def _changes_frame(changes: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["change", "table", "id", "field", "before", "after"]
    if changes is None:
        return pd.DataFrame(columns=columns)
    return changes.reset_index(drop=True)


def _quality_frame(problems: Sequence[Problem]) -> pd.DataFrame:
    return pd.DataFrame({
        "severity": [p.severity for p in problems],
        "file": [p.file for p in problems],
        "row": pd.array([p.row for p in problems], dtype="Int64"),
        "column": [p.column or "" for p in problems],
        "message": [p.message for p in problems],
        "expected": [p.expected or "" for p in problems],
    })


def _sources_frame(model: Model) -> pd.DataFrame:
    src = model.sources
    # ordered to suit the overview's column widths (OVERVIEW_WIDTHS)
    columns = ["source_id", "title", "published_on", "publisher", "url", "accessed_on"]
    extras = [c for c in model.data.extra_columns.get("sources", ()) if c not in columns]
    return src[columns + extras].reset_index(drop=True)


def _key_figures(model: Model, by_country: pd.DataFrame, n_warnings: int) -> pd.DataFrame:
    """The data set's figures under the labels every output uses (figures.py), then their
    break-downs, each under a label of its own."""
    counts = summaries.key_counts(model)
    rows: list[tuple[str, str, float]] = [(f.label, f.about, f.value)
                                          for f in figures.overview_figures(model)]
    kinds = summaries.kind_counts(model)
    rows += [(f"Agreements: {k}", "agreements of this kind", int(n))
             for k, n in zip(kinds["Kind"], kinds["Records"], strict=True) if k != "discussion"]
    pkinds = summaries.party_kind_counts(model)
    rows += [(f"Parties in the register: {k}", "parties of this kind", int(n))
             for k, n in zip(pkinds["Kind"], pkinds["Parties"], strict=True)]
    targets = figures.agreement_targets(model)
    for total in figures.target_totals(targets["value"].tolist(), targets["unit"].tolist()):
        rows.append((f"Targets in {total.unit}", "targets with a number in this unit",
                     total.targets))
        if total.total is not None:
            rows.append((f"Total in {total.unit}", "sum of those targets' values",
                         total.total))
    rows.append(("Themes", "in the theme tree", counts["themes"]))
    rows.append(("Sources", "reports the data comes from", counts["sources"]))
    rows.append(("Warnings", "see DataQuality", n_warnings))
    return pd.DataFrame(rows, columns=["Figure", "Of", "Count"])


# ---------------------------------------------------------------- charts


@dataclass(frozen=True)
class _ChartBlock:
    title: str
    label: str
    value: str
    frame: pd.DataFrame  # two columns: label, value
    empty: str


def _top(frame: pd.DataFrame, label: str, value: str) -> pd.DataFrame:
    top = frame[frame[value] > 0].sort_values(value, ascending=False, kind="stable")
    return top[[label, value]].head(TOP_N).reset_index(drop=True)


def _chart_blocks(model: Model, tables: dict[str, pd.DataFrame]) -> list[_ChartBlock]:
    themes = tables["ByTheme"]
    top_themes = themes[themes["Level"] == 1][["Theme", "Agreements"]].reset_index(drop=True)
    kinds = summaries.kind_counts(model)
    return [
        _ChartBlock("Agreements by top-level theme", "Theme", "Agreements", top_themes,
                    "No themes recorded"),
        _ChartBlock("Agreements and discussions by kind", "Kind", "Records", kinds,
                    "No agreements recorded"),
        _ChartBlock(f"Agreements by country (top {TOP_N})", "Country name", "Agreements",
                    _top(tables["ByCountry"], "Country name", "Agreements"),
                    "No country takes part in an agreement"),
        _ChartBlock(f"Top {TOP_N} ministries (rolled up)",
                    "Ministry", "Agreements (rolled up)",
                    _top(tables["ByMinistry"], "Ministry", "Agreements (rolled up)"),
                    "No ministry takes part in an agreement"),
        _ChartBlock(f"Top {TOP_N} companies", "Company", "Agreements",
                    _top(tables["ByCompany"], "Company", "Agreements"),
                    "No company takes part in an agreement"),
    ]


def _bar_chart(ws: WriteOnlyWorksheet, block: _ChartBlock, header_row: int,
               last_row: int) -> BarChart:
    chart = BarChart()
    chart.type = "bar"  # horizontal bars: long names stay readable
    chart.style = 10
    chart.title = block.title
    chart.legend = None
    chart.add_data(Reference(ws, min_col=2, min_row=header_row, max_row=last_row),
                   titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row))
    chart.x_axis.scaling.orientation = "maxMin"  # the first (largest) row on top
    chart.y_axis.crosses = "max"  # keeps the value axis at the bottom when flipped
    chart.x_axis.delete = False  # openpyxl 3.1 hides axes unless told
    chart.y_axis.delete = False
    chart.y_axis.number_format = "0"
    chart.y_axis.scaling.min = 0
    if int(block.frame.iloc[:, 1].max()) <= 10:
        chart.y_axis.majorUnit = 1
    # only the value: LibreOffice shows category and series names unless told not to
    chart.dataLabels = DataLabelList(showVal=True, showCatName=False, showSerName=False,
                                     showLegendKey=False, showPercent=False)
    chart.width, chart.height = 16, 8.5
    return chart


def _heat_map(sheet: _Sheet, frame: pd.DataFrame) -> None:
    """A colour scale over the party × theme counts: the columns between Party and Agreements."""
    if frame.shape[1] < 4 or list(frame.columns[:2]) != ["party_id", "Party"]:
        return
    last = get_column_letter(frame.shape[1] - 1)  # the last column is the total
    sheet.ws.conditional_formatting.add(
        f"C2:{last}{len(frame) + 1}",
        ColorScaleRule(start_type="num", start_value=0, start_color="FFFFFF",
                       end_type="max", end_color="2E75B6"))


# ---------------------------------------------------------------- helpers


def _clean_text_cell(ws: WriteOnlyWorksheet, value: str, style: StyleArray | None = None) -> Cell:
    """A text cell for text clean_texts has already cleaned, the fast way.

    openpyxl's own value check would scan the text a second time and take "=..." for
    a formula; the value is set as text directly. The style array is shared, not
    copied: openpyxl only reads it when it writes the cell.
    """
    cell = WriteOnlyCell(ws)
    cell._value = value
    cell.data_type = "s"
    if style is not None:
        cell._style = style
    return cell


def _style(ws: WriteOnlyWorksheet, **attributes: object) -> StyleArray:
    cell = WriteOnlyCell(ws)
    for name, value in attributes.items():
        setattr(cell, name, value)
    return cell._style


def _kind(header: str, series: pd.Series) -> str:
    if header == PERCENT_COLUMN:
        return PERCENT
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype):
        return NUMBER
    if header in DATES:
        return DATE
    if header in LINKS:
        return LINK
    if header in WRAPPED:
        return WRAP
    return TEXT


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _number(value: object) -> object:
    """A number Excel can store, or None (missing, NaN, infinite)."""
    if _missing(value):
        return None
    if isinstance(value, float) and math.isinf(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _plain(value: object) -> object:
    """A value openpyxl can store: text, number, date or None (for empty and missing)."""
    if value.__class__ is str:
        return value or None
    if _missing(value):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    if isinstance(value, (int, float)):
        return value
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _plain(value.item())
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.tzinfo else value
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (tuple, list, set, frozenset)):
        return "; ".join(str(v) for v in value) or None
    return str(value) or None


def _headers(frame: pd.DataFrame) -> list[str]:
    """Column names as Excel table headers: one line, at most 255 characters, unique."""
    headers: list[str] = []
    seen: set[str] = set()
    for j, column in enumerate(frame.columns, 1):
        name = " ".join(UNSTORABLE_RE.sub("", str(column)).split())[:255] or f"Column{j}"
        candidate, n = name, 1
        while candidate.casefold() in seen:
            n += 1
            candidate = f"{name[:248]} ({n})"
        seen.add(candidate.casefold())
        headers.append(candidate)
    return headers


def _wrapped_lines(part: pd.DataFrame, columns: list[int], widths: dict[int, float]) -> list[int]:
    """Lines each row's wrapped text takes in its column width (the tallest cell)."""
    lines = pd.Series(1, index=part.index)
    for j in columns:
        series = part.iloc[:, j]
        per_line = _chars_per_line(widths.get(j + 1, MAX_WIDTH))
        try:
            length, breaks = series.str.len().fillna(0), series.str.count("\n").fillna(0)
        except AttributeError:  # no text in the column at all
            continue
        column_lines = (length // per_line + 1 + breaks).astype("int64")
        lines = lines.where(lines >= column_lines, column_lines)
    return lines.tolist()


def _lines(text: str, width: float) -> int:
    per_line = _chars_per_line(width)
    return sum(len(part) // per_line + 1 for part in text.split("\n"))


def _chars_per_line(width: float) -> int:
    # a column's width counts '0' digits; words wrap early, so count a little less
    return max(1, int(width) - 3)


def _widths(frame: pd.DataFrame) -> dict[int, float]:
    """Column widths fitting the header and the first rows, within MIN_WIDTH..MAX_WIDTH."""
    widths: dict[int, float] = {}
    sample = frame.head(WIDTH_SAMPLE_ROWS)
    for j, header in enumerate(_headers(frame)):
        longest = len(header) + 3  # room for the filter button
        values = sample.iloc[:, j].tolist()
        if header in DATES:
            longest = max(longest, 10)
        for value in values:
            if _missing(value):
                continue
            text = value if isinstance(value, str) else str(value)
            if isinstance(value, float):
                text = f"{value:g}"
            longest = max(longest, max(map(len, text.split("\n"))) if text else 0)
        widths[j + 1] = float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2)))
    return widths


def _print_setup(sheet: _Sheet, *, repeat_header: bool) -> None:
    """Printed or exported to PDF: landscape, as wide as one page, header on every page."""
    ws = sheet.ws
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if repeat_header:
        ws.print_title_rows = "1:1"


def link_target(url: str) -> str | None:
    """The address to link to, or None unless `url` is a plain http(s) address.

    javascript:, file:, data: and every other scheme never become links; non-ASCII
    letters are percent-encoded, as a link address must be ASCII.
    """
    if not url or UNSTORABLE_RE.search(url) or WHITESPACE_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    target = url if url.isascii() and not UNQUOTED_RE.search(url) else quote(url, safe=URL_SAFE)
    return target if len(target) <= LINK_LENGTH_LIMIT else None


def cut_text(text: str) -> str:
    """`text` cut to Excel's cell limit (in UTF-16 units), ending with the TRUNCATED marker."""
    budget = CELL_TEXT_LIMIT - _utf16_len(TRUNCATED)
    head = text[:budget]
    while (excess := _utf16_len(head) - budget) > 0:
        head = head[:len(head) - max(1, excess // 2)]
    return head + TRUNCATED


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


def _moment(moment: dt.datetime) -> str:
    """e.g. '2024-11-27 09:00:00 +04:00 (Asia/Baku)': the run's time with its offset."""
    text = moment.isoformat(sep=" ", timespec="seconds")
    offset = text[19:] or "+00:00"
    text = f"{text[:19]} {'UTC' if offset in ('+00:00', 'Z') else 'UTC' + offset}"
    zone = getattr(moment.tzinfo, "key", None)
    return f"{text} ({zone})" if zone and zone != "UTC" else text

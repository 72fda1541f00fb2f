"""A CSV file is read a block at a time: the same text as a whole-file read, bounded
memory whatever the file holds, and one clear line for a cell too large for the format.

Memory is measured as the growth of a subprocess's peak resident set (VmHWM) while it
reads and validates, over its size once every import is done: behaviour, not timings.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from reports import sources
from reports.sources import CELL_LIMIT, read_sources
from reports.validate import validate
from tests.conftest import BUNDLED_SOURCES, ROOT
from tests.datasets import copy_bundled, read_table, set_cell, to_workbook
from tests.test_faults import run_cli

TOO_LONG = ("the text is longer than a cell may be; expected text of at most 1,048,576 "
            "characters")


def problems_of(path: Path) -> list[str]:
    _, problems = validate(read_sources(path))
    return [str(p) for p in problems]


def whole_file_records(data: bytes) -> list[list[str]]:
    """The records as the former reader saw them: the file decoded whole, every line
    ending made \\n, parsed by csv.reader in one go."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    limit = csv.field_size_limit(CELL_LIMIT)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), strict=True))
    finally:
        csv.field_size_limit(limit)


def records_read(folder: Path, table: str) -> list[list[str]]:
    raw = read_sources(folder)
    assert not [p for p in raw.problems if p.file == f"{table}.csv"], raw.problems
    read = raw.tables[table]
    return [read.header, *map(list, zip(*read.columns, strict=True))]


# ------------------------------------------------------------------ a cell too large

def _write_huge_cell(folder: Path, shape: str, size: int) -> Path:
    """Agreements with a summary of `size` characters in row 3 (record 3, line 4: row 2's
    summary holds a line break). `shape`: "one line" (one unquoted run of letters) or
    "many lines" (quoted, with commas, doubled quotes and a line break every 60)."""
    copy_bundled(folder)
    set_cell(folder, "agreements", 2, "summary", "First line.\nSecond line.")
    rows = read_table(folder, "agreements")
    header = list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(rows[0].values())
    marked = dict(rows[1], summary="@CELL@")
    writer.writerow(marked.values())
    writer.writerows(row.values() for row in rows[2:])
    before, after = out.getvalue().split("@CELL@")
    if shape == "one line":
        chunk, quote = "x" * 1_000_000, ""
    else:
        line = 'Lorem ipsum, "dolor" sit amet, consectetur adipiscing elit.\n'
        chunk, quote = line.replace('"', '""') * (1_000_000 // len(line)), '"'
    with (folder / "agreements.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(before + quote)
        for _ in range(size // len(chunk)):
            handle.write(chunk)
        handle.write(quote + after)
    return folder


@pytest.fixture(scope="module", params=["one line", "many lines"])
def huge_cell(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("huge") / "sources"
    return _write_huge_cell(folder, request.param, 40_000_000)


def test_a_cell_over_the_limit_is_one_line_and_nothing_is_written(
        huge_cell: Path, tmp_path: Path) -> None:
    done = run_cli("validate", "--sources", str(huge_cell))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"agreements.csv:3: column 'summary': {TOO_LONG}", "1 error, 0 warnings"]
    output = tmp_path / "output"
    run = run_cli("run", "--sources", str(huge_cell), "--output", str(output))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"agreements.csv:3: column 'summary': {TOO_LONG}" in run.stderr.splitlines()
    assert not (output / "runs").exists() and not (output / "latest").exists()


PEAK = r"""
import gc, sys
from pathlib import Path
from reports.sources import read_sources
from reports.validate import validate
from tests.conftest import BUNDLED_SOURCES

def status(key):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no " + key)

validate(read_sources(BUNDLED_SOURCES))  # every import done, every cache warm
gc.collect()
try:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # VmHWM starts again from the present size
    base = status("VmRSS")
except OSError:
    base = status("VmHWM")  # no reset: growth under the imports' peak goes unseen
raw = read_sources(Path(sys.argv[1]))
data, problems = validate(raw)
print(status("VmHWM") - base, sum(p.is_error for p in problems))
"""


def peak_growth(folder: Path) -> tuple[int, int]:
    """Bytes the peak resident set grows by to read and validate `folder`, and the number
    of errors, in a fresh interpreter."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc/self/status (Linux)")
    done = subprocess.run([sys.executable, "-c", PEAK, str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    growth, errors = done.stdout.split()
    return int(growth), int(errors)


def csv_bytes(folder: Path) -> int:
    return sum(file.stat().st_size for file in folder.glob("*.csv"))


def test_a_cell_over_the_limit_is_refused_before_it_is_held_whole(huge_cell: Path) -> None:
    growth, errors = peak_growth(huge_cell)
    assert errors == 1
    # less than the cell itself, which is never held whole: a few MB (the former reader
    # peaked at 7 to 9 times the file)
    assert growth < csv_bytes(huge_cell) / 2, growth


def test_reading_and_validating_costs_a_small_multiple_of_the_files(tmp_path: Path) -> None:
    from tests.test_scripts import synthetic

    folder = synthetic(tmp_path / "sources", 40_000)
    size = csv_bytes(folder)
    assert size > 15_000_000
    growth, errors = peak_growth(folder)
    assert errors == 0
    # about 3 times with the block reader; 8.6 times when files were read whole
    assert growth < 4 * size + 30_000_000, (growth, size)


def test_a_cell_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "limit")
    set_cell(folder, "agreements", 2, "summary", "y" * CELL_LIMIT)
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems]
    assert len(data.agreements.at[0, "summary"]) == CELL_LIMIT
    folder = copy_bundled(tmp_path / "over")
    set_cell(folder, "agreements", 2, "summary", "y" * (CELL_LIMIT + 1))
    assert problems_of(folder) == [f"agreements.csv:2: column 'summary': {TOO_LONG}"]


def test_csv_s_field_limit_is_as_it_was_after_reading(tmp_path: Path) -> None:
    before = csv.field_size_limit()
    read_sources(BUNDLED_SOURCES)
    assert csv.field_size_limit() == before


# cells over a small limit, read in small blocks: every path of the reader, quickly

@pytest.fixture()
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CELL_LIMIT", 40)
    monkeypatch.setattr(sources, "_BLOCK_BYTES", 16)


def _problem(folder: Path, text: str) -> list[str]:
    copy_bundled(folder)
    (folder / "themes.csv").write_text(text, encoding="utf-8", newline="")
    _, problems = validate(read_sources(folder))
    return [str(p) for p in problems if p.file == "themes.csv"]


EXPECTED = "expected text of at most 40 characters"


@pytest.mark.usefixtures("small")
@pytest.mark.parametrize(("text", "line"), [
    # one long line: refused while the line is put together, the cell known at once
    ("theme_id,name\nsmes," + "n" * 100 + "\n",
     "themes.csv:2: column 'name': the text is longer than a cell may be; " + EXPECTED),
    ('theme_id,name\nsmes,"' + "a,b" * 40 + '"\n',
     "themes.csv:2: column 'name': the text is longer than a cell may be; " + EXPECTED),
    # a quoted cell over many lines: csv.reader refuses it, the record is read again
    ('theme_id,name\n"smes\n","' + "ab\n" * 40 + '"\n',
     "themes.csv:2: column 'name': the text is longer than a cell may be; " + EXPECTED),
    # a long line that goes on with a quoted cell begun on the line before
    ('theme_id,name\nsmes,"a\n' + "b" * 100 + '"\n',
     "themes.csv:2: column 'name': the text is longer than a cell may be; " + EXPECTED),
    # the row is the record number (row 2 spans lines 2 to 4), header = row 1
    ('theme_id,name\n"sm\n\nes",x\nsmes,' + "n" * 60 + "\n",
     "themes.csv:3: column 'name': the text is longer than a cell may be; " + EXPECTED),
    ("theme_id," + "n" * 60 + "\nsmes,x\n",
     "themes.csv:1: the text of cell 2 of the header is longer than a cell may be; "
     + EXPECTED),
    ("theme_id,name\nsmes,x,," + "z" * 60 + "\n",
     "themes.csv:2: the text of cell 4 of the row is longer than a cell may be; " + EXPECTED),
], ids=["one-line", "quoted-commas", "many-lines", "goes-on-quoted", "record-number",
        "header", "beyond-header"])
def test_a_cell_over_the_limit_names_row_and_column(tmp_path: Path, text: str,
                                                    line: str) -> None:
    assert _problem(tmp_path / "sources", text) == [line]


@pytest.mark.usefixtures("small")
def test_a_long_line_that_breaks_the_rules_is_refused_where_it_breaks(tmp_path: Path) -> None:
    text = 'theme_id,name\nsmes,"a"b' + "c" * 100 + "\n"  # not put together whole first
    assert _problem(tmp_path / "sources", text) == [
        "themes.csv:2: the file cannot be read as CSV (',' expected after '\"'); expected "
        "comma-separated values with double-quoted cells"]


@pytest.mark.usefixtures("small")
def test_a_long_line_of_cells_within_the_limit_is_read_as_a_whole_read_would(
        tmp_path: Path) -> None:
    cells = ["c" * 40, '"' * 20, "d,e" * 13, "f\ng" * 10, "", "h" * 39]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(
        [["theme_id", "name", "parent_id", "description", "x", "y"], cells, cells[::-1]])
    folder = copy_bundled(tmp_path / "sources")
    data = out.getvalue().encode("utf-8")
    (folder / "themes.csv").write_bytes(data)
    assert records_read(folder, "themes") == whole_file_records(data)


def test_a_workbook_cell_over_the_limit_names_sheet_row_and_column(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CELL_LIMIT", 1000)  # an Excel cell holds 32,767
    folder = copy_bundled(tmp_path / "csv")
    set_cell(folder, "parties", 4, "aliases", "a" * 1001)
    set_cell(folder, "parties", 6, "name", "b" * 1001)
    set_cell(folder, "parties", 7, "name", "c" * 1000)
    lines = problems_of(to_workbook(folder, tmp_path / "data.xlsx"))
    assert [line for line in lines if not line.endswith("(warning)")] == [
        "data.xlsx[parties]:4: column 'aliases': the text is longer than a cell may be; "
        "expected text of at most 1,000 characters",
        "data.xlsx[parties]:6: column 'name': the text is longer than a cell may be; "
        "expected text of at most 1,000 characters"]


# ------------------------------------------------------------------ the same text, in blocks

def _rows_text(count: int) -> str:
    """A themes table of `count` rows, multi-byte letters and multi-line cells among them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["theme_id", "name", "parent_id", "description"])
    for i in range(count):
        writer.writerow([f"t-{i}", f"Tema {i} şəhər 中 😀", "", "two\nlines" if i % 7 else ""])
    return out.getvalue()


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_any_block_size_reads_the_same_records_and_names_the_bad_byte_s_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, encoding: str) -> None:
    monkeypatch.setattr(sources, "_BLOCK_BYTES", block)
    folder = copy_bundled(tmp_path / "sources")
    text = _rows_text(12).replace("\n", "\r\n")
    data = text.encode(encoding)
    (folder / "themes.csv").write_bytes(data)
    assert records_read(folder, "themes") == whole_file_records(data)
    # a byte no UTF-8 (a lone 0xFF) or UTF-16 (a lone low surrogate) holds, put before
    # row t-6: its line is the one after the line endings before it
    cut = text.index("t-6,")
    bad = b"\xff" if encoding != "utf-16" else b"\x00\xdc"
    rest = text[cut:].encode("utf-16-le" if encoding == "utf-16" else "utf-8")
    (folder / "themes.csv").write_bytes(text[:cut].encode(encoding) + bad + rest)
    what = "UTF-16" if encoding == "utf-16" else "UTF-8"
    byte = "FF" if encoding != "utf-16" else "00"
    line = text[:cut].count("\r\n") + 1
    assert line == 13
    assert [line for line in problems_of(folder) if line.startswith("themes.csv")] == [
        f"themes.csv:{line}: file is not valid {what} (byte 0x{byte} on this line); expected "
        'UTF-8 or UTF-16 with a byte-order mark (in Excel: "Save as > CSV UTF-8")']


def test_an_invalid_byte_deep_in_a_large_file_names_its_line(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "sources")
    text = _rows_text(60_000)  # about 3.5 MB: many blocks
    data = bytearray(text.encode("utf-8"))
    block = sources._BLOCK_BYTES
    assert len(data) > 4 * block
    for at in (len(data) - 10, 3 * block, 3 * block - 1, block + 1, 2 * block - 2):
        broken = data[:at] + b"\xe7" + data[at + 1:]
        (folder / "themes.csv").write_bytes(broken)
        line = bytes(broken[:at]).count(b"\n") + 1
        assert problems_of(folder)[0].startswith(
            f"themes.csv:{line}: file is not valid UTF-8 (byte 0xE7 on this line)"), at


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_windows_line_ending_split_by_a_block_boundary_is_one(tmp_path: Path,
                                                                encoding: str) -> None:
    folder = copy_bundled(tmp_path / "sources")
    width = 1 if encoding == "utf-8" else 2
    bom = 0 if encoding == "utf-8" else 2
    block = sources._BLOCK_BYTES
    header = "theme_id,name,parent_id,description\r\n"
    # a row of a quoted cell whose \r ends block 1 and whose \n starts block 2, then a
    # row whose record-ending \r\n is split by the end of block 2 the same way
    first = (block - bom) // width - len(header) - len('smes,"') - 1
    row_1 = 'smes,"' + "a" * first + '\r\nb",,\r\n'
    second = ((2 * block - bom) // width - 1 - len(header) - len(row_1)
              - len("digitalization,") - len(",,"))
    row_2 = "digitalization," + "c" * second + ",,\r\nlast,x,,\r\n"
    text = header + row_1 + row_2
    data = text.encode(encoding)
    crlf = "\r\n".encode("utf-16-le" if encoding == "utf-16" else "utf-8")
    for boundary in (block, 2 * block):  # \r ends one block, \n starts the next
        assert data[boundary - width : boundary + width] == crlf
    (folder / "themes.csv").write_bytes(data)
    records = records_read(folder, "themes")
    assert records == whole_file_records(data)
    assert records[1][1] == "a" * first + "\nb"
    assert [r[0] for r in records] == ["theme_id", "smes", "digitalization", "last"]


# ------------------------------------------------------------------ read in two processes

def _as_read(raw: sources.RawData) -> tuple[dict, list[str]]:
    tables = {name: (t.label, t.header, t.columns, list(t.row_numbers))
              for name, t in raw.tables.items()}
    return tables, [repr(p) for p in raw.problems]


@pytest.mark.parametrize("damage", ["none", "bad rows", "not CSV", "missing file"])
def test_the_largest_file_read_in_a_forked_process_gives_what_one_process_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """A big data set's largest CSV file is read beside the others (the run passes
    parallel): the same tables, the same problems in the same order, whatever is wrong."""
    folder = copy_bundled(tmp_path / "sources")
    biggest = max(sources.TABLE_NAMES, key=lambda n: (folder / f"{n}.csv").stat().st_size)
    if damage == "bad rows":  # a problem in the largest file and one in another
        path = folder / f"{biggest}.csv"
        path.write_text(path.read_text(encoding="utf-8") + "a,b,c,d,e,f,g,h,i,j,k,l,m,n\n",
                        encoding="utf-8")
        set_cell(folder, "themes", 1, "theme_id", "")
    elif damage == "not CSV":
        (folder / f"{biggest}.csv").write_bytes(b'id,"name\nx,"y"z\n' + b"rest\n" * 20_000)
    elif damage == "missing file":
        (folder / "targets.csv").unlink()
    one = read_sources(folder)
    largest = max((n for n in sources.TABLE_NAMES if (folder / f"{n}.csv").exists()),
                  key=lambda n: (folder / f"{n}.csv").stat().st_size)
    monkeypatch.setattr(sources, "READ_ASIDE_FROM", 1)
    forked: list[str] = []
    read_csv_table = sources._read_csv_table

    def recorded(where: Path, name: str) -> tuple:
        forked.append(name)  # seen here only for the files this process reads
        return read_csv_table(where, name)

    monkeypatch.setattr(sources, "_read_csv_table", recorded)
    two = read_sources(folder, parallel=True)
    assert _as_read(two) == _as_read(one)
    assert largest not in forked and forked  # it was read in the other process
    assert largest == biggest or damage == "missing file"
    if damage != "none":
        assert one.problems


def test_a_reader_that_dies_is_one_clear_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from reports.errors import ReportsError

    folder = copy_bundled(tmp_path / "sources")
    monkeypatch.setattr(sources, "READ_ASIDE_FROM", 1)
    read_csv_table = sources._read_csv_table
    monkeypatch.setattr(sources, "_read_csv_table", lambda where, name: os._exit(9)
                        if os.getpid() != here else read_csv_table(where, name))
    here = os.getpid()
    with pytest.raises(ReportsError, match=r"the reader of \w+\.csv stopped without a "
                                           r"result \(exit code 9\)"):
        read_sources(folder, parallel=True)

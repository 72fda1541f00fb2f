"""Tiny data sets for tests: the bundled CSVs copied and edited one cell at a time."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import BUNDLED_SOURCES, ROOT

TABLES = ("agreements", "parties", "participation", "themes", "targets", "sources")


def read_table(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_table(folder: Path, table: str, rows: list[dict[str, str]],
                header: list[str] | None = None) -> None:
    header = header or list(rows[0].keys())
    with (folder / f"{table}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def copy_bundled(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        shutil.copyfile(BUNDLED_SOURCES / f"{table}.csv", folder / f"{table}.csv")
    return folder


def set_cell(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Set a cell; `row` is the spreadsheet row number (header = 1)."""
    rows = read_table(folder, table)
    header = list(rows[0].keys())
    if column not in header:
        header.append(column)
    rows[row - 2][column] = value
    write_table(folder, table, rows, header)


def add_row(folder: Path, table: str, like: int, **values: str) -> int:
    """Append a copy of spreadsheet row `like` (header = 1) with `values` changed; returns
    the new row's number."""
    rows = read_table(folder, table)
    rows.append({**rows[like - 2], **values})
    write_table(folder, table, rows)
    return len(rows) + 1


def to_workbook(folder: Path, path: Path) -> Path:
    """The same data as one .xlsx workbook with six sheets (written with openpyxl)."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for table in TABLES:
        sheet = book.create_sheet(table)
        with (folder / f"{table}.csv").open(encoding="utf-8-sig", newline="") as handle:
            for record in csv.reader(handle):
                sheet.append(record)
                for cell in sheet[sheet.max_row]:
                    cell.data_type = "s"
    book.save(path)
    return path


def make_synthetic(folder: Path, agreements: int, seed: int = 1) -> Path:
    """scripts/make-synthetic-sources into `folder` (seeded: the same data every time)."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make-synthetic-sources"),
                           "--agreements", str(agreements), "--seed", str(seed), "--output",
                           str(folder), "--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder

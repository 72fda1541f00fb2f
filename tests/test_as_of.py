"""As-of is never the wall clock: the same data gives the same outputs on any day.

The as-of date is `--as-of` when given, else the newest accessed_on / published_on of the
sources, else the newest signed_on of the agreements (a partial date as it stands), else
"" (nothing in the data carries a date).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import reports.pipeline
from reports.config import Settings
from reports.model import Model
from reports.sources import read_sources
from reports.validate import date_order, newest_date, validate
from tests.datasets import copy_bundled, read_table, set_cell

DAY_1 = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)
DAY_2 = dt.datetime(2026, 3, 2, 17, 5, tzinfo=dt.UTC)  # a year (and a day, and hours) later
DATA_TABLES = ("Agreements", "Parties", "Participation", "ByMinistry", "ByCompany",
               "ByTheme", "ByCountry")
AFTER = "after every date of its sources"


def undated_sources(folder: Path) -> Path:
    """The bundled data with every source's published_on and accessed_on blank."""
    copy_bundled(folder)
    for row in range(2, len(read_table(folder, "sources")) + 2):
        set_cell(folder, "sources", row, "published_on", "")
        set_cell(folder, "sources", row, "accessed_on", "")
    return folder


def run_on(monkeypatch: pytest.MonkeyPatch, day: dt.datetime, sources: Path, output: Path,
           **settings: object) -> Path:
    """One run with the clock stopped at `day`; returns the published run's folder."""
    monkeypatch.setattr(reports.pipeline, "_now", lambda: day)
    result = reports.pipeline.run(Settings(sources=sources, output=output, workers=1,
                                           **settings))
    assert result.outcome == "published" and result.folder is not None
    return result.folder


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def sheets_of(workbook: Path) -> dict[str, list[list[object]]]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(workbook))
    return {name: book.get_sheet_by_name(name).to_python() for name in DATA_TABLES}


def as_of_of(folder: Path) -> str:
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems]
    return reports.pipeline._as_of(Model(data))


def test_the_same_data_on_two_days_gives_the_same_briefings_and_tables(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = undated_sources(tmp_path / "sources")
    first = run_on(monkeypatch, DAY_1, sources, tmp_path / "day1")
    second = run_on(monkeypatch, DAY_2, sources, tmp_path / "day2")
    assert first.name != second.name  # two runs indeed, started a year apart
    assert manifest_of(first)["started_at"] != manifest_of(second)["started_at"]
    # no source carries a date: the newest signed_on, partial as curated
    assert manifest_of(first)["as_of"] == manifest_of(second)["as_of"] == "2024-11"
    pdfs = sorted(p.relative_to(first).as_posix() for p in first.glob("briefings/*.pdf"))
    assert pdfs, "no briefing was published"
    assert pdfs == sorted(p.relative_to(second).as_posix()
                          for p in second.glob("briefings/*.pdf"))
    for name in pdfs:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert sheets_of(first / "agreements.xlsx") == sheets_of(second / "agreements.xlsx")


def test_the_newest_source_date_is_the_as_of(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "bundled")  # the source was published on 2024-11-27
    assert as_of_of(folder) == "2024-11-27"
    set_cell(folder, "sources", 2, "accessed_on", "2024-12-02")
    assert as_of_of(folder) == "2024-12-02"


def test_undated_sources_give_the_newest_signed_on(tmp_path: Path) -> None:
    folder = undated_sources(tmp_path / "undated")
    assert as_of_of(folder) == "2024-11"
    set_cell(folder, "agreements", 4, "signed_on", "2024-11-05")
    assert as_of_of(folder) == "2024-11-05"  # a day in November is newer than "November"
    set_cell(folder, "agreements", 5, "signed_on", "2024")
    assert as_of_of(folder) == "2024-11-05"


def test_nothing_dated_gives_an_empty_as_of(tmp_path: Path) -> None:
    folder = undated_sources(tmp_path / "nothing")
    for row in range(2, len(read_table(folder, "agreements")) + 2):
        set_cell(folder, "agreements", row, "signed_on", "")
    assert as_of_of(folder) == ""


def test_dates_compare_by_their_earliest_day_then_precision() -> None:
    assert newest_date(["2024-11", "2024-11-05"]) == "2024-11-05"
    assert newest_date(["2024-10-31", "2024-11"]) == "2024-11"
    assert newest_date(["2024-11", "2024-11-01", "2024"]) == "2024-11-01"  # a tie: the precise
    assert newest_date(["2024", "2024-01"]) == "2024-01"
    assert newest_date(["2025", "2024-12-31"]) == "2025"
    assert newest_date(["", "not a date", "2024-13"]) == ""
    assert newest_date([]) == ""
    assert date_order("2024-11") == ("2024-11-01", 2)


def test_as_of_given_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = run_on(monkeypatch, DAY_1, copy_bundled(tmp_path / "sources"),
                    tmp_path / "output", as_of="2025-01-15")
    assert manifest_of(folder)["as_of"] == "2025-01-15"


def test_an_agreement_signed_after_every_date_of_its_sources_is_a_warning(
        tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "late")  # its one source was published on 2024-11-27
    set_cell(folder, "agreements", 5, "signed_on", "2024-12-03")
    data, problems = validate(read_sources(folder))
    assert data is not None  # a warning: the run goes on
    late = [p for p in problems if AFTER in p.message]
    assert [(p.is_error, p.file, p.row, p.column) for p in late] == [
        (False, "agreements.csv", 5, "signed_on")]
    assert str(late[0]) == ("agreements.csv:5: column 'signed_on': dated 2024-12-03, after "
                            "every date of its sources (newest 2024-11-27) (warning)")


@pytest.mark.parametrize("signed_on", ["2024-11", "2024", "2024-11-27", ""])
def test_a_date_that_could_be_before_its_sources_is_not_a_warning(
        tmp_path: Path, signed_on: str) -> None:
    folder = copy_bundled(tmp_path / "early")
    set_cell(folder, "agreements", 5, "signed_on", signed_on)
    _, problems = validate(read_sources(folder))
    assert not [str(p) for p in problems if AFTER in p.message]


def test_a_partial_date_whose_earliest_day_is_after_its_sources_is_a_warning(
        tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "month")
    set_cell(folder, "agreements", 5, "signed_on", "2024-12")
    _, problems = validate(read_sources(folder))
    assert [str(p) for p in problems if AFTER in p.message] == [
        "agreements.csv:5: column 'signed_on': dated 2024-12, after every date of its "
        "sources (newest 2024-11-27) (warning)"]


def test_undated_sources_never_make_an_agreement_late(tmp_path: Path) -> None:
    folder = undated_sources(tmp_path / "undated")
    set_cell(folder, "agreements", 5, "signed_on", "2024-12-03")
    _, problems = validate(read_sources(folder))
    assert not [str(p) for p in problems if AFTER in p.message]

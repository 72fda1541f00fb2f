"""The Excel workbook, read back as its readers see it.

Cells are read with python-calamine (a reader independent of openpyxl), tables and
styles with openpyxl, links and formulas straight from the zip, and LibreOffice opens
the file once per module to prove it converts with no error cell.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
import shutil
import subprocess
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from reports.model import Model
from reports.problems import Problem
from reports.render.xlsx import (
    CELL_TEXT_LIMIT,
    TRUNCATED,
    cut_text,
    link_target,
    write_workbook,
)
from reports.sources import read_sources
from reports.validate import validate
from tests.conftest import BUNDLED_SOURCES, require_tool

GENERATED_AT = dt.datetime(2024, 11, 28, 9, 30, tzinfo=ZoneInfo("Asia/Baku"))
AS_OF = "2024-11-27"
RUN_ID = "20241128-053000-0123abcd"
SHEET_TABLES = ("Agreements", "Parties", "Participation", "AgreementThemes", "ByMinistry",
                "ByCompany", "ByTheme", "ByCountry", "PartyThemes", "Targets", "Changes",
                "DataQuality")
ERROR_TEXTS = ("#NAME?", "#REF!", "#VALUE!", "#DIV/0!", "#N/A", "Err:5")
FORMULA_ELEMENT = re.compile(rb"<(?:\w+:)?f[ >/]")
HOSTILE_TITLES = ('=HYPERLINK("http://example.com","x")', "=1+1", "#N/A")
HOSTILE_PARTY = "=cmd|' /C calc'!A0"
GOOD_URL = "https://example.org/report?q=ə"


@dataclass(frozen=True)
class Book:
    path: Path
    problems: list[Problem]

    def rows(self, sheet: str) -> list[list[object]]:
        return CalamineWorkbook.from_path(str(self.path)).get_sheet_by_name(sheet).to_python()

    def records(self, sheet: str) -> list[dict[str, object]]:
        header, *rows = self.rows(sheet)
        return [dict(zip(header, row, strict=True)) for row in rows]

    def by(self, sheet: str, key: str) -> dict[object, dict[str, object]]:
        return {r[key]: r for r in self.records(sheet)}

    def parts(self, pattern: str) -> dict[str, bytes]:
        with zipfile.ZipFile(self.path) as archive:
            return {n: archive.read(n) for n in archive.namelist() if re.fullmatch(pattern, n)}


def _write(model: Model, path: Path, *, changes: pd.DataFrame | None = None,
           warnings: list[Problem] | None = None) -> Book:
    problems = write_workbook(model, path, as_of=AS_OF, generated_at=GENERATED_AT,
                              warnings=list(model.data.warnings if warnings is None
                                            else warnings),
                              changes=changes, sources_label="sources", run_id=RUN_ID)
    return Book(path, problems)


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (BUNDLED_SOURCES / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory, bundled_model: Model) -> Book:
    return _write(bundled_model, tmp_path_factory.mktemp("bundled") / "agreements.xlsx")


@pytest.fixture(scope="module")
def libreoffice(tmp_path_factory: pytest.TempPathFactory, book: Book,
                hostile: Book) -> dict[str, Path]:
    """Both workbooks converted at once: an xlsx round trip, and every sheet as CSV."""
    soffice = require_tool("soffice")
    base = tmp_path_factory.mktemp("libreoffice")
    profile = (base / "profile").as_uri()
    done: dict[str, Path] = {}
    for kind, target in (("xlsx", "xlsx:Calc MS Excel 2007 XML"),
                         ("csv", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,"
                                 "false,false,false,-1")):
        out = base / kind
        result = subprocess.run(
            [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile}",
             "--convert-to", target, "--outdir", str(out), str(book.path), str(hostile.path)],
            capture_output=True, text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stderr
        done[kind] = out
    return done


# ---------------------------------------------------------------- structure


def test_overview_comes_first_with_as_of_date_and_generated_at_with_offset(book: Book) -> None:
    names = CalamineWorkbook.from_path(str(book.path)).sheet_names
    assert names[0] == "Overview"
    assert set(SHEET_TABLES) <= set(names) and "Charts" in names
    facts = {row[0]: row[1] for row in book.rows("Overview") if row and row[0]}
    assert facts["Data as of"] in (dt.date(2024, 11, 27), dt.datetime(2024, 11, 27))
    assert re.search(r"2024-11-28 09:30:00 UTC\+04:00", str(facts["Generated at"]))
    assert facts["Run"] == RUN_ID
    assert "COP29" in str(book.rows("Overview")[0][0])


def test_overview_key_figures_and_reading_guide(book: Book) -> None:
    rows = book.rows("Overview")
    figures = {r[0]: r[2] for r in rows if r[2] not in ("", None) and isinstance(r[2], float)}
    # counted by hand from the news report (sources/*.csv): 8 records, one a discussion
    # (the Ministry of Economy's talks on AI); 21 parties, of which 19 take part (bp and
    # SOCAR take part only through Volts and SOCAR Downstream)
    assert figures["Agreements"] == 7
    assert figures["Agreements: memorandum"] == 3
    assert figures["Discussions"] == 1
    assert figures["Parties taking part"] == 19
    assert figures["Parties in the register"] == 21
    assert figures["Parties in the register: ministry"] == 3
    assert figures["Countries taking part"] == 8
    assert figures["Targets"] == 1
    assert figures["Targets with a number"] == 1
    assert figures["Targets in %"] == 1
    assert "Total in %" not in figures  # percentages are never summed
    guide = {r[0] for r in rows}
    assert set(SHEET_TABLES) | {"Charts"} <= guide


def test_every_table_exists_and_covers_header_and_all_rows(book: Book) -> None:
    wb = openpyxl.load_workbook(book.path)
    for name in SHEET_TABLES:
        tables = wb[name].tables
        assert name in tables, f"no table {name} on its sheet"
        rows = book.rows(name)
        last_column = openpyxl.utils.get_column_letter(len(rows[0]))
        assert tables[name].ref == f"A1:{last_column}{len(rows)}", name
        assert len(rows) >= 2  # a header and at least one row
    overview = wb["Overview"].tables
    assert set(overview) == {"KeyFigures", "Sources"}
    cells = book.rows("Overview")
    for name, first_header in (("KeyFigures", "Figure"), ("Sources", "source_id")):
        top = next(i for i, row in enumerate(cells, 1) if row[0] == first_header)
        ref = overview[name].ref
        assert ref.startswith(f"A{top}:"), (name, ref)
    for part in book.parts(r"xl/tables/table\d+\.xml").values():
        table = ElementTree.fromstring(part)
        ns = {"m": table.tag.split("}")[0][1:]}
        assert table.find("m:autoFilter", ns) is not None
        style = table.find("m:tableStyleInfo", ns)
        assert style.get("name").startswith("TableStyleMedium")
        assert style.get("showRowStripes") == "1"


def test_every_agreement_and_party_of_the_curated_data_is_in_the_workbook(book: Book) -> None:
    agreements = [r["agreement_id"] for r in book.records("Agreements")]
    assert agreements == [r["agreement_id"] for r in _csv_rows("agreements.csv")]
    parties = {r["party_id"] for r in book.records("Parties")}
    assert parties == {r["party_id"] for r in _csv_rows("parties.csv")}
    assert len(book.records("Participation")) == len(_csv_rows("participation.csv"))


def test_frozen_header_bold_header_and_fitted_widths(book: Book) -> None:
    wb = openpyxl.load_workbook(book.path)
    for name in SHEET_TABLES:
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        assert ws["A1"].font.b, name
        widths = [d.width for d in ws.column_dimensions.values() if d.width]
        assert widths and max(widths) <= 60, name
    agreements = wb["Agreements"]
    header = [c.value for c in agreements[1]]
    summary = agreements.cell(2, header.index("summary") + 1)
    assert summary.alignment.wrap_text
    # LibreOffice does not fit rows to wrapped text itself: the height is written
    assert agreements.row_dimensions[2].height >= 30
    assert all(len(name) <= 31 for name in wb.sheetnames)


def test_dates_numbers_and_percentages_keep_their_type(book: Book) -> None:
    agreements = book.records("Agreements")
    # every bundled agreement is dated to the month only: partial dates stay text
    assert {a["signed_on"] for a in agreements} == {"2024-11"}
    target = book.records("Targets")[0]
    assert target["value"] == 40 and target["unit"] == "%"
    assert target["as percentage"] == pytest.approx(0.4)
    assert target["target_year"] == 2030
    ws = openpyxl.load_workbook(book.path)["Targets"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("as percentage") + 1).number_format == "0%"
    assert isinstance(book.records("Parties")[0]["Agreements"], float)


def test_document_properties(book: Book) -> None:
    props = openpyxl.load_workbook(book.path).properties
    assert props.title == "COP29 agreements — workbook"
    assert props.creator == "agreement-reports"
    assert AS_OF in props.subject
    assert props.created == dt.datetime(2024, 11, 28, 5, 30)


def test_same_input_gives_the_same_bytes(tmp_path: Path, bundled_model: Model,
                                          book: Book) -> None:
    again = _write(bundled_model, tmp_path / "again.xlsx")
    assert again.path.read_bytes() == book.path.read_bytes()


def test_native_bar_charts_and_heat_map(book: Book) -> None:
    charts = book.parts(r"xl/charts/chart\d+\.xml")
    assert len(charts) == 5
    titles = b" ".join(charts.values())
    for title in (b"by top-level theme", b"by kind", b"by country", b"ministries",
                  b"companies"):
        assert title in titles
    assert all(b"<c:barChart>" in c or b"barChart" in c for c in charts.values())
    ws = openpyxl.load_workbook(book.path)["PartyThemes"]
    rules = [rule for cf in ws.conditional_formatting for rule in cf.rules]
    assert [r.type for r in rules] == ["colorScale"]
    chart_rows = {r[0]: r[1] for r in book.rows("Charts") if len(r) > 1}
    assert chart_rows["Green economy"] == 5 and chart_rows["Ministry of Economy"] == 3


def test_no_formula_anywhere_in_the_bundled_workbook(book: Book) -> None:
    for name, xml in book.parts(r"xl/worksheets/sheet\d+\.xml").items():
        assert not FORMULA_ELEMENT.search(xml), name


# ---------------------------------------------------------------- the numbers


def test_by_ministry_counts_match_a_hand_count(book: Book) -> None:
    rows = book.by("ByMinistry", "party_id")
    expected = {  # agreements, discussions, rolled up: agreements, discussions
        "ministry-of-economy": (1, 1, 3, 1),
        "ministry-of-digital-development-and-transport": (1, 0, 1, 0),
        "ministry-of-finance": (1, 0, 1, 0),
    }
    assert set(rows) == set(expected)
    for party, counts in expected.items():
        r = rows[party]
        assert (r["Agreements"], r["Discussions"], r["Agreements (rolled up)"],
                r["Discussions (rolled up)"]) == counts, party


def test_by_company_counts_match_a_hand_count(book: Book) -> None:
    rows = book.by("ByCompany", "party_id")
    expected = {"aic": 4, "bp": 0, "socar": 0}
    for one in ("byd", "sarda-group", "electrify-azerbaijan", "dias", "carbonbit", "masdar",
                "volts", "socar-downstream", "technip-energies-italy", "ecostar", "alterra"):
        expected[one] = 1
    assert {p: r["Agreements"] for p, r in rows.items()} == expected
    assert all(r["Discussions"] == 0 for r in rows.values())


def test_by_theme_counts_match_a_hand_count(book: Book) -> None:
    rows = book.by("ByTheme", "theme_id")
    expected = {
        "green-economy": (5, 0), "smes": (2, 0), "digitalization": (0, 1),
        "e-mobility": (1, 0), "circular-economy": (2, 0), "carbon-technologies": (1, 0),
        "energy-storage": (1, 0), "sme-green-transition": (2, 0),
        "sme-international-cooperation": (1, 0), "artificial-intelligence": (0, 1),
        "climate-digitalization": (0, 1),
    }
    assert {t: (r["Agreements"], r["Discussions"]) for t, r in rows.items()} == expected


def test_by_country_counts_match_a_hand_count(book: Book) -> None:
    rows = book.by("ByCountry", "Country")
    assert (rows["AZ"]["Agreements"], rows["AZ"]["Discussions"]) == (7, 1)
    for code in ("CN", "TR", "AE", "IT", "US", "BR", "GB"):
        assert (rows[code]["Agreements"], rows[code]["Discussions"]) == (1, 0), code


def _recount(pairs: list[tuple[str, str]], is_discussion: Callable[[str], bool]
             ) -> dict[str, tuple[int, int]]:
    """key -> (distinct agreements, distinct discussions) from (key, agreement_id) pairs."""
    seen: dict[str, set[str]] = defaultdict(set)
    for key, agreement in pairs:
        seen[key].add(agreement)
    return {key: (sum(not is_discussion(a) for a in ids), sum(is_discussion(a) for a in ids))
            for key, ids in seen.items()}


def test_summary_counts_agree_with_a_recount_from_the_workbooks_own_tables(book: Book) -> None:
    kinds = {r["agreement_id"]: r["kind"] for r in book.records("Agreements")}

    def is_discussion(agreement: str) -> bool:
        return kinds[agreement] == "discussion"

    participation = [(r["party_id"], r["agreement_id"]) for r in book.records("Participation")]
    themes = [(r["theme_id"], r["agreement_id"]) for r in book.records("AgreementThemes")]
    parties = book.by("Parties", "party_id")

    def counts(sheet: str, key: str) -> dict[str, tuple[int, int]]:
        return {k: (int(r["Agreements"]), int(r["Discussions"]))
                for k, r in book.by(sheet, key).items()}

    by_party = _recount(participation, is_discussion)
    by_theme = _recount(themes, is_discussion)
    assert counts("ByTheme", "theme_id") == {t: by_theme.get(t, (0, 0))
                                             for t in counts("ByTheme", "theme_id")}
    for sheet in ("ByMinistry", "ByCompany"):
        mine = counts(sheet, "party_id")
        assert mine == {p: by_party.get(p, (0, 0)) for p in mine}, sheet
    assert counts("Parties", "party_id") == {p: by_party.get(p, (0, 0)) for p in parties}

    def parent_chain(party: str) -> list[str]:
        chain = [party]
        while parties[chain[-1]]["parent_id"]:
            chain.append(str(parties[chain[-1]]["parent_id"]))
        return chain

    rolled = _recount([(up, a) for p, a in participation for up in parent_chain(p)],
                      is_discussion)
    for party, r in book.by("ByMinistry", "party_id").items():
        assert (r["Agreements (rolled up)"], r["Discussions (rolled up)"]) == \
            rolled.get(party, (0, 0)), party

    def country(party: str) -> str:
        p = parties[party]
        if p["country"]:
            return str(p["country"])
        return "INT" if p["kind"] == "international_organization" else "(none)"

    by_country = _recount([(country(p), a) for p, a in participation], is_discussion)
    assert counts("ByCountry", "Country") == by_country


# ---------------------------------------------------------------- LibreOffice


def test_libreoffice_round_trip_keeps_every_agreement(libreoffice: dict[str, Path],
                                                      book: Book) -> None:
    converted = libreoffice["xlsx"] / book.path.name
    assert converted.is_file()
    again = Book(converted, [])
    assert [r["agreement_id"] for r in again.records("Agreements")] == \
        [r["agreement_id"] for r in book.records("Agreements")]


def test_libreoffice_csv_of_every_sheet_has_no_error_cell(libreoffice: dict[str, Path],
                                                          book: Book) -> None:
    names = CalamineWorkbook.from_path(str(book.path)).sheet_names
    files = {p.name: p for p in libreoffice["csv"].glob(f"{book.path.stem}-*.csv")}
    assert {f"{book.path.stem}-{n}.csv" for n in names} <= set(files)
    for path in files.values():
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert not cell.startswith(ERROR_TEXTS), (path.name, cell)
    with files[f"{book.path.stem}-Overview.csv"].open(encoding="utf-8") as handle:
        overview = handle.read()
    assert "Data as of,2024-11-27" in overview


def test_libreoffice_shows_formula_like_text_as_written(libreoffice: dict[str, Path],
                                                        hostile: Book) -> None:
    path = libreoffice["csv"] / f"{hostile.path.stem}-Agreements.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        titles = [row["title"] for row in csv.DictReader(handle)]
    assert titles[:3] == list(HOSTILE_TITLES)
    with (libreoffice["csv"] / f"{hostile.path.stem}-Parties.csv").open(encoding="utf-8") as f:
        assert HOSTILE_PARTY in f.read()


# ---------------------------------------------------------------- hostile and odd text


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """Formula-like titles and names, a 40,000-character summary, unsafe source addresses."""
    folder = tmp_path_factory.mktemp("hostile-sources")
    for file in BUNDLED_SOURCES.glob("*.csv"):
        shutil.copy(file, folder / file.name)

    def edit(name: str, change: Callable[[list[dict[str, str]]], None]) -> None:
        path = folder / name
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            fields, rows = list(reader.fieldnames or []), list(reader)
        change(rows)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fields)
            writer.writeheader()
            writer.writerows(rows)

    def agreements(rows: list[dict[str, str]]) -> None:
        for row, title in zip(rows, HOSTILE_TITLES, strict=False):
            row["title"] = title
        rows[3]["summary"] = "word " * 8_000  # 40,000 characters
        rows[3]["signed_on"] = "2024-11-20"
        rows[1]["source_ids"] = "file-source"
        rows[2]["source_ids"] = "good-source"

    def parties(rows: list[dict[str, str]]) -> None:
        rows[0]["name"] = HOSTILE_PARTY

    def sources(rows: list[dict[str, str]]) -> None:
        template = dict(rows[0])
        rows[0]["url"] = "https://example.org/trend"
        rows.append({**template, "source_id": "file-source", "url": "https://example.org/a"})
        rows.append({**template, "source_id": "good-source", "url": GOOD_URL})

    edit("agreements.csv", agreements)
    edit("parties.csv", parties)
    edit("sources.csv", sources)
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems]
    # the validator refuses addresses that are not http(s); these arrive as if it had not
    frame = data.sources.copy()
    frame["url"] = frame["source_id"].map({"trend-2024-11-27": "javascript:alert(1)",
                                           "file-source": "file:///etc/passwd",
                                           "good-source": GOOD_URL})
    model = Model(dataclasses.replace(data, sources=frame))
    return _write(model, tmp_path_factory.mktemp("hostile") / "hostile.xlsx")


def test_formula_like_text_stays_text(hostile: Book) -> None:
    titles = [r["title"] for r in hostile.records("Agreements")]
    assert titles[:3] == list(HOSTILE_TITLES)
    assert hostile.by("Parties", "party_id")["ministry-of-economy"]["name"] == HOSTILE_PARTY
    participation = hostile.records("Participation")
    assert participation[0]["agreement"] == HOSTILE_TITLES[0]
    for name, xml in hostile.parts(r"xl/worksheets/sheet\d+\.xml").items():
        assert not FORMULA_ELEMENT.search(xml), name
        assert b't="e"' not in xml, name  # '#N/A' is text, not an error value


def test_only_http_addresses_become_links(hostile: Book) -> None:
    targets = []
    for rels in hostile.parts(r"xl/worksheets/_rels/sheet\d+\.xml\.rels").values():
        for rel in ElementTree.fromstring(rels):
            if rel.get("Type", "").endswith("/hyperlink"):
                targets.append(rel.get("Target"))
    assert targets, "the https source should be linked"
    assert all(t.startswith(("http://", "https://")) for t in targets), targets
    assert "https://example.org/report?q=%C9%99" in targets
    by_id = hostile.by("Agreements", "agreement_id")
    urls = [r["source_url"] for r in by_id.values()]
    assert "javascript:alert(1)" in urls and "file:///etc/passwd" in urls  # shown, not linked
    unlinked = [p for p in hostile.problems if "not linked" in p.message]
    assert {p.column for p in unlinked} == {"source_url", "url"}


def test_long_text_is_cut_with_a_marker_and_a_warning(hostile: Book) -> None:
    summary = str(hostile.records("Agreements")[3]["summary"])
    assert len(summary) <= CELL_TEXT_LIMIT
    assert summary.endswith(TRUNCATED)
    assert summary.startswith("word word")
    cut = [p for p in hostile.problems if "cut to 32,767" in p.message]
    assert [(p.column, p.row) for p in cut] == [("summary", 5)]
    shown = [r for r in hostile.records("DataQuality") if "cut to 32,767" in str(r["message"])]
    assert len(shown) == 1 and shown[0]["column"] == "summary"


def test_full_dates_are_excel_dates(hostile: Book) -> None:
    signed = [r["signed_on"] for r in hostile.records("Agreements")]
    assert signed[3] in (dt.date(2024, 11, 20), dt.datetime(2024, 11, 20))
    assert signed[0] == "2024-11"
    ws = openpyxl.load_workbook(hostile.path)["Agreements"]
    header = [c.value for c in ws[1]]
    assert ws.cell(5, header.index("signed_on") + 1).number_format == "yyyy-mm-dd"


# ---------------------------------------------------------------- changes and data quality


def test_changes_without_an_earlier_run_say_so(book: Book) -> None:
    rows = book.records("Changes")
    assert len(rows) == 1 and rows[0]["change"] == "No earlier run to compare with"


def test_changes_since_the_last_run_are_listed(tmp_path: Path, bundled_model: Model) -> None:
    changes = pd.DataFrame([("changed", "agreements", "ecostar-charter", "status", "open",
                             "signed")],
                           columns=["change", "table", "id", "field", "before", "after"])
    rows = _write(bundled_model, tmp_path / "a.xlsx", changes=changes).records("Changes")
    assert rows == [{"change": "changed", "table": "agreements", "id": "ecostar-charter",
                     "field": "status", "before": "open", "after": "signed"}]
    none = _write(bundled_model, tmp_path / "b.xlsx", changes=changes.iloc[0:0])
    assert [r["change"] for r in none.records("Changes")] == ["No change since the last run"]


def test_data_quality_lists_every_warning_or_says_there_is_none(
        tmp_path: Path, book: Book, bundled_model: Model) -> None:
    rows = book.records("DataQuality")
    warnings = bundled_model.data.warnings
    assert len(rows) == len(warnings) >= 1
    assert [(r["severity"], r["file"], r["row"], r["column"], r["message"]) for r in rows] == \
        [(w.severity, w.file, w.row, w.column or "", w.message) for w in warnings]
    clean = _write(bundled_model, tmp_path / "clean.xlsx", warnings=[])
    (only,) = clean.records("DataQuality")
    assert str(only["severity"]).startswith("No warnings")


def test_a_table_with_nothing_to_show_holds_one_row_saying_so(tmp_path: Path) -> None:
    folder = tmp_path / "sources"
    shutil.copytree(BUNDLED_SOURCES, folder)
    with (BUNDLED_SOURCES / "targets.csv").open(encoding="utf-8") as handle:
        header = handle.readline()
    (folder / "targets.csv").write_text(header, encoding="utf-8")
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems]
    empty = _write(Model(data), tmp_path / "empty.xlsx")
    rows = empty.rows("Targets")
    assert len(rows) == 2 and rows[1][0] == "No targets recorded"
    table = openpyxl.load_workbook(empty.path)["Targets"].tables["Targets"]
    assert table.ref == f"A1:{openpyxl.utils.get_column_letter(len(rows[0]))}2"


def test_a_naive_generated_at_is_refused(tmp_path: Path, bundled_model: Model) -> None:
    with pytest.raises(ValueError, match="time zone"):
        write_workbook(bundled_model, tmp_path / "x.xlsx", as_of=AS_OF,
                       generated_at=dt.datetime(2024, 11, 28), warnings=[], changes=None)
    assert not (tmp_path / "x.xlsx").exists()


# ---------------------------------------------------------------- small pieces


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(1)", "file:///etc/passwd", "data:text/html,x",
    "http://", "https:///path", "http://exa mple.org", "ftp://example.org", "",
    "http://example.org/\x07", "https://example.org/" + "a" * 3000,
])
def test_link_target_refuses_anything_but_a_plain_web_address(url: str) -> None:
    assert link_target(url) is None


def test_link_target_keeps_web_addresses_and_encodes_letters() -> None:
    assert link_target("https://example.org/a?b=c#d") == "https://example.org/a?b=c#d"
    assert link_target("HTTP://Example.org") == "HTTP://Example.org"
    assert link_target("https://example.org/ə") == "https://example.org/%C9%99"


def test_cut_text_counts_what_excel_counts() -> None:
    emoji = "😀" * 20_000  # 40,000 UTF-16 units
    cut = cut_text(emoji)
    assert cut.endswith(TRUNCATED)
    assert len(cut.encode("utf-16-le")) // 2 <= CELL_TEXT_LIMIT
    assert len(cut_text("x" * 40_000)) == CELL_TEXT_LIMIT


def test_the_fast_workbook_path_is_the_one_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.render.xlsx as xlsx

    # rows go into the XML stream as text: five times faster than openpyxl's cells
    assert xlsx.fast_path_in_use()
    # the check can fail: a stream without the raw write (lxml's, et_xmlfile 1.1's)
    monkeypatch.setattr(xlsx, "_raw_writer", lambda xf: None)
    assert not xlsx.fast_path_in_use()

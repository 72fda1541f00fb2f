"""No input, however broken or hostile, gives a traceback, a wrong output or a dangerous one."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import pipeline
from reports.config import Settings
from reports.errors import InvalidData
from reports.render.fonts import missing_glyphs
from reports.sources import read_sources
from reports.validate import validate
from tests.conftest import BUNDLED_SOURCES, ROOT, require_tool
from tests.datasets import copy_bundled, read_table, set_cell, to_workbook

# ------------------------------------------------------------------ untrusted workbooks


def test_a_zip_bomb_workbook_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    book = to_workbook(BUNDLED_SOURCES, tmp_path / "data.xlsx")
    with zipfile.ZipFile(book, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet99.xml", b"<" + b"a" * (64 * 1024 * 1024))
    done = subprocess.run([sys.executable, "-m", "reports", "validate", "--sources", str(book)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    assert "data.xlsx: part xl/worksheets/sheet99.xml is compressed" in done.stderr
    assert "zip bomb" in done.stderr and "Traceback" not in done.stderr


def test_an_xml_entity_bomb_workbook_is_refused(tmp_path: Path) -> None:
    book = to_workbook(BUNDLED_SOURCES, tmp_path / "data.xlsx")
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                        for i in range(1, 10))
              + ']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
              'count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>')
    rewritten = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(rewritten, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/sharedStrings.xml" or item.filename.endswith("sheet1.xml"):
                data = laughs.encode() if "shared" in item.filename else data
            dst.writestr(item, data)
        if "xl/sharedStrings.xml" not in src.namelist():
            dst.writestr("xl/sharedStrings.xml", laughs)
    done = subprocess.run([sys.executable, "-m", "reports", "validate", "--sources",
                           str(rewritten)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    assert "declares a DTD or XML entities" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_a_workbook_is_one_clear_line(tmp_path: Path) -> None:
    fake = tmp_path / "data.xlsx"
    fake.write_text("agreement_id,title\n", encoding="utf-8")
    _, problems = validate(read_sources(fake))
    assert [str(p) for p in problems] == [
        "data.xlsx: the file is not an .xlsx workbook (File is not a zip file); expected a "
        "workbook saved as .xlsx by Excel or LibreOffice"]


# ------------------------------------------------------------------ corrupt one cell

BAD_VALUES = {
    ("agreements", "agreement_id"): "Not An Id",
    ("agreements", "kind"): "treaty",
    ("agreements", "signed_on"): "2023-02-29",
    ("agreements", "status"): "done",
    ("agreements", "themes"): "no-such-theme",
    ("agreements", "source_ids"): "",
    ("agreements", "title"): "",
    ("parties", "party_id"): "",
    ("parties", "kind"): "firm",
    ("parties", "country"): "XX",
    ("parties", "parent_id"): "nobody",
    ("participation", "agreement_id"): "no-such-agreement",
    ("participation", "role"): "witness",
    ("participation", "certainty"): "maybe",
    ("themes", "parent_id"): "nowhere",
    ("targets", "value"): "forty",
    ("targets", "target_year"): "2030.5",
    ("sources", "url"): "file:///etc/passwd",
    ("sources", "published_on"): "2024-11",
    ("sources", "publisher"): "",
}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cell=st.sampled_from(sorted(BAD_VALUES)), row_pick=st.integers(0, 1000))
def test_any_corrupted_cell_is_named_and_nothing_is_written(
        tmp_path_factory: pytest.TempPathFactory, cell: tuple[str, str], row_pick: int) -> None:
    table, column = cell
    folder = copy_bundled(tmp_path_factory.mktemp("corrupt") / "sources")
    rows = read_table(folder, table)
    row = 2 + row_pick % len(rows)
    set_cell(folder, table, row, column, BAD_VALUES[cell])
    output = folder.parent / "output"
    with pytest.raises(InvalidData) as caught:
        pipeline.run(Settings(sources=folder, output=output, workers=1))
    located = [p for p in caught.value.problems if p.is_error
               and p.file == f"{table}.csv" and p.row == row]
    assert located, [str(p) for p in caught.value.problems]
    assert not (output / "runs").exists() and not (output / "latest").exists()


# ------------------------------------------------------------------ hostile text stays text

FORMULAS = ['=HYPERLINK("http://example.com","x")', "=1+1", "=cmd|' /C calc'!A0"]
MARKUP = ['<b>bold</b> & <i>x</i>', '<a href="javascript:alert(1)">click</a>',
          '<img src="/etc/passwd"/>', '<font color="[[[getattr(pow, Word(\'__globals__\'))'
          "['os'].system('touch /tmp/agreement-reports-pwned')]]]\">x</font>"]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = copy_bundled(tmp_path_factory.mktemp("hostile") / "sources")
    set_cell(folder, "agreements", 2, "title", FORMULAS[0])
    set_cell(folder, "agreements", 3, "title", FORMULAS[1])
    set_cell(folder, "parties", 9, "name", FORMULAS[2])
    set_cell(folder, "agreements", 4, "title", MARKUP[0])
    set_cell(folder, "agreements", 4, "summary", " ".join(MARKUP[1:]))
    set_cell(folder, "parties", 10, "name", MARKUP[1])
    set_cell(folder, "participation", 5, "note", MARKUP[3])
    set_cell(folder, "sources", 2, "url", "https://example.org/report?a=1&b=<2>")
    output = folder.parent / "output"
    result = pipeline.run(Settings(sources=folder, output=output, workers=1))
    assert result.outcome == "published"
    return output / "latest"


def test_curated_formulas_come_out_as_text_with_no_formula_element(hostile_run: Path) -> None:
    _assert_formulas_are_text(hostile_run)


def test_formulas_stay_text_through_openpyxl_s_own_writer_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # where the XML stream takes no raw text (lxml's), rows go through openpyxl's writer
    import reports.render.xlsx

    monkeypatch.setattr(reports.render.xlsx, "_raw_writer", lambda xf: None)
    folder = copy_bundled(tmp_path / "sources")
    set_cell(folder, "agreements", 2, "title", FORMULAS[0])
    set_cell(folder, "agreements", 3, "title", FORMULAS[1])
    set_cell(folder, "parties", 9, "name", FORMULAS[2])
    set_cell(folder, "agreements", 4, "title", MARKUP[0])
    result = pipeline.run(Settings(sources=folder, output=tmp_path / "output", workers=1))
    assert result.outcome == "published"
    _assert_formulas_are_text(tmp_path / "output" / "latest")


def _assert_formulas_are_text(run: Path) -> None:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(run / "agreements.xlsx"))
    cells = {str(v) for name in book.sheet_names
             for row in book.get_sheet_by_name(name).to_python() for v in row}
    for text in FORMULAS + MARKUP[:1]:
        assert text in cells
    with zipfile.ZipFile(run / "agreements.xlsx") as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)
            if name.endswith(".rels") and "worksheets" in name:
                targets = re.findall(rb'Target="([^"]*)"', archive.read(name))
                external = [t for t in targets if b"://" in t or b":" in t.split(b"/")[0]]
                assert all(t.startswith((b"http://", b"https://")) for t in external), targets


def test_curated_markup_prints_literally_and_runs_nothing(hostile_run: Path) -> None:
    pdftotext = require_tool("pdftotext")
    qpdf = require_tool("qpdf")
    assert not Path("/tmp/agreement-reports-pwned").exists()
    for pdf in sorted((hostile_run / "briefings").glob("*.pdf")):
        expanded = pdf.with_suffix(".qdf")
        subprocess.run([qpdf, "--qdf", "--object-streams=disable", str(pdf), str(expanded)],
                       check=True)
        raw = expanded.read_bytes()
        expanded.unlink()
        for forbidden in (b"/JavaScript", b"/Launch", b"/EmbeddedFile", b"/Subtype /Image"):
            assert forbidden not in raw, (pdf.name, forbidden)
        for uri in re.findall(rb"/URI \(([^)]*)\)", raw):
            assert uri.startswith((b"http://", b"https://")), uri
    text = " ".join(subprocess.run([pdftotext, "-enc", "UTF-8", str(hostile_run / "briefings" /
                                                                     "overview.pdf"), "-"],
                                   capture_output=True, text=True, check=True).stdout.split())
    assert "<b>bold</b> & <i>x</i>" in text
    assert '<a href="javascript:alert(1)">click</a>' in text


# ------------------------------------------------------------------ arbitrary Unicode

PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
                          exclude_characters="\ufeff\ufffe\uffff")


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(PRINTABLE, min_size=1, max_size=30).map(str.strip)
                      .filter(lambda s: bool(s) and ";" not in s), min_size=2, max_size=2,
                      unique=True))
def test_unicode_text_comes_out_exactly_in_workbook_and_briefings(
        tmp_path_factory: pytest.TempPathFactory, names: list[str]) -> None:
    from python_calamine import CalamineWorkbook

    folder = copy_bundled(tmp_path_factory.mktemp("unicode") / "sources")
    title, party = names
    set_cell(folder, "agreements", 3, "title", title)
    set_cell(folder, "parties", 13, "name", party)  # Dias, a party of that agreement
    output = folder.parent / "output"
    try:
        result = pipeline.run(Settings(sources=folder, output=output, workers=1))
    except InvalidData as exc:  # only a likely-duplicate or similar must never be an error
        pytest.fail(str([str(p) for p in exc.problems if p.is_error]))
    latest = output / "latest"
    book = CalamineWorkbook.from_path(str(latest / "agreements.xlsx"))
    cells = {str(v) for row in book.get_sheet_by_name("Agreements").to_python() for v in row}
    assert unicodedata.normalize("NFC", title) in cells
    cells = {str(v) for row in book.get_sheet_by_name("Parties").to_python() for v in row}
    assert unicodedata.normalize("NFC", party) in cells
    pdftotext = require_tool("pdftotext")
    text = " ".join(subprocess.run([pdftotext, "-enc", "UTF-8",
                                    str(latest / "briefings" / "company-dias.pdf"), "-"],
                                   capture_output=True, text=True, check=True).stdout.split())
    for value in (title, party):
        value = unicodedata.normalize("NFC", value)
        if missing_glyphs(value) or not all(ch.isprintable() for ch in value):
            continue  # a warning names it; the font has no glyph to extract
        if any(unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf")
               for ch in value):
            continue  # text extraction reorders or drops combining marks
        assert " ".join(value.split()) in text, (value, text[:400])
    assert result.outcome == "published"


def test_every_table_row_reaches_the_workbook(tmp_path: Path) -> None:
    from python_calamine import CalamineWorkbook

    output = tmp_path / "output"
    pipeline.run(Settings(sources=BUNDLED_SOURCES, output=output, workers=1))
    book = CalamineWorkbook.from_path(str(output / "latest" / "agreements.xlsx"))
    sheets = {"agreements": "Agreements", "parties": "Parties",
              "participation": "Participation", "targets": "Targets", "themes": "ByTheme"}
    for table, sheet in sheets.items():
        rows = book.get_sheet_by_name(sheet).to_python()
        assert len(rows) - 1 == len(read_table(BUNDLED_SOURCES, table)), table

"""Curators get every problem at once, each naming file, row and column."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reports import pipeline
from reports.config import Settings
from reports.errors import InvalidData
from reports.model import Model
from reports.sources import read_sources
from reports.summaries import (
    agreements_table,
    by_company,
    by_country,
    by_ministry,
    by_theme,
    party_theme_matrix,
)
from reports.validate import validate
from tests.conftest import BUNDLED_SOURCES
from tests.datasets import add_row, copy_bundled, read_table, set_cell, to_workbook, write_table


def problems_of(path: Path) -> list[str]:
    _, problems = validate(read_sources(path))
    return [str(p) for p in problems]


def test_bundled_data_is_valid_with_only_the_inferred_participation_warning() -> None:
    data, problems = validate(read_sources(BUNDLED_SOURCES))
    assert data is not None
    assert [str(p) for p in problems] == [
        "participation.csv:14: column 'certainty': participation is inferred, not stated by "
        "the source; readers see it marked (warning)"]


def test_csv_folder_and_workbook_give_the_same_summaries(tmp_path: Path) -> None:
    book = to_workbook(BUNDLED_SOURCES, tmp_path / "data.xlsx")
    from_csv, _ = validate(read_sources(BUNDLED_SOURCES))
    from_xlsx, problems = validate(read_sources(book))
    assert from_csv is not None and from_xlsx is not None, problems
    for summary in (by_ministry, by_company, by_theme, by_country):
        a, b = summary(Model(from_csv)), summary(Model(from_xlsx))
        assert a.equals(b), summary.__name__


def test_workbook_numbers_and_dates_read_as_the_text_they_show(tmp_path: Path) -> None:
    import datetime as dt

    from openpyxl import load_workbook

    book = to_workbook(BUNDLED_SOURCES, tmp_path / "data.xlsx")
    wb = load_workbook(book)
    wb["targets"]["D2"].value = 40  # a number, as Excel stores it
    wb["targets"]["F2"].value = 2030
    wb["sources"]["E2"].value = dt.datetime(2024, 11, 27)  # a date cell
    wb.save(book)
    data, problems = validate(read_sources(book))
    assert data is not None, [str(p) for p in problems]
    assert data.targets["value"].tolist() == [40.0]
    assert data.sources["published_on"].tolist() == ["2024-11-27"]


MISTAKES = [
    # (name, table, row, column, value, expected line)
    ("unknown_kind", "agreements", 2, "kind", "treaty",
     "agreements.csv:2: column 'kind': 'treaty' is not an allowed value; expected one of "
     "agreement, memorandum, charter, declaration, joint_venture, contract, discussion, other"),
    ("impossible_date", "agreements", 3, "signed_on", "2024-02-30",
     "agreements.csv:3: column 'signed_on': '2024-02-30' is not a real date; expected "
     "YYYY-MM-DD, or YYYY-MM / YYYY where only that is known"),
    ("date_in_wrong_format", "agreements", 4, "signed_on", "27/11/2024",
     "agreements.csv:4: column 'signed_on': '27/11/2024' is not a real date; expected "
     "YYYY-MM-DD, or YYYY-MM / YYYY where only that is known"),
    ("month_13", "agreements", 4, "signed_on", "2024-13",
     "agreements.csv:4: column 'signed_on': '2024-13' is not a real date; expected "
     "YYYY-MM-DD, or YYYY-MM / YYYY where only that is known"),
    ("empty_required_title", "agreements", 5, "title", "",
     "agreements.csv:5: column 'title': is empty; expected a value"),
    ("malformed_id", "parties", 3, "party_id", "Ministry Of Finance",
     "parties.csv:3: column 'party_id': 'Ministry Of Finance' is not a valid id; expected "
     "lowercase letters a-z, digits 0-9 and '-' (e.g. 'ministry-of-economy')"),
    ("unknown_party_reference", "participation", 2, "party_id", "ministry-of-economyy",
     "participation.csv:2: column 'party_id': 'ministry-of-economyy' is not in parties.csv; "
     "expected an id listed in parties.csv"),
    ("unknown_theme_in_list", "agreements", 2, "themes", "e-mobility; e-mobilty",
     "agreements.csv:2: column 'themes': 'e-mobilty' is not in themes.csv; expected ids "
     "listed in themes.csv"),
    ("unknown_source", "agreements", 2, "source_ids", "trend",
     "agreements.csv:2: column 'source_ids': 'trend' is not in sources.csv; expected ids "
     "listed in sources.csv"),
    ("lowercase_country", "parties", 9, "country", "cn",
     "parties.csv:9: column 'country': 'cn' is not an ISO 3166-1 alpha-2 country code; "
     "expected two capital letters such as AZ, TR or GB; empty for an international "
     "organisation"),
    ("percent_in_number", "targets", 2, "value", "40%",
     "targets.csv:2: column 'value': '40%' is not a number; expected a number such as 40 or "
     "12.5 (the unit goes in 'unit')"),
    ("two_digit_year", "targets", 2, "target_year", "30",
     "targets.csv:2: column 'target_year': '30' is not a year; expected a four-digit year "
     "such as 2030"),
    ("javascript_url", "sources", 2, "url", "javascript:alert(1)",
     "sources.csv:2: column 'url': 'javascript:alert(1)' is not a web address; expected an "
     "address starting with http:// or https://"),
    ("unknown_status", "agreements", 7, "status", "initiated",
     "agreements.csv:7: column 'status': 'initiated' is not an allowed value; expected one "
     "of signed, open, in_progress, completed, stalled, cancelled"),
    ("duplicate_id_differing_in_case", "themes", 3, "theme_id", " green-economy ",
     "themes.csv:3: column 'theme_id': 'green-economy' is already used in row 2; expected "
     "each theme_id once (ids differing only in case count as the same)"),
]


@pytest.mark.parametrize(("name", "table", "row", "column", "value", "expected"), MISTAKES,
                         ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_named_with_file_row_and_column(
        tmp_path: Path, name: str, table: str, row: int, column: str, value: str,
        expected: str) -> None:
    folder = copy_bundled(tmp_path / name / "sources")
    set_cell(folder, table, row, column, value)
    output = tmp_path / name / "output"
    with pytest.raises(InvalidData) as caught:
        pipeline.run(Settings(sources=folder, output=output))
    assert caught.value.exit_status == 1
    errors = [str(p) for p in caught.value.problems if p.is_error]
    assert expected in errors
    assert not (output / "runs").exists() and not (output / "latest").exists()
    # every problem, warnings included, has its stable code for tools to match on
    from reports.problems import CODES

    assert all(p.code in CODES for p in caught.value.problems)


CODES_OF_MISTAKES = {
    "unknown_kind": "not-allowed", "impossible_date": "invalid-date",
    "date_in_wrong_format": "invalid-date", "month_13": "invalid-date",
    "empty_required_title": "empty-value", "malformed_id": "invalid-id",
    "unknown_party_reference": "unknown-reference", "unknown_theme_in_list": "unknown-reference",
    "unknown_source": "unknown-reference", "lowercase_country": "invalid-country",
    "percent_in_number": "invalid-number", "two_digit_year": "invalid-year",
    "javascript_url": "invalid-url", "unknown_status": "not-allowed",
    "duplicate_id_differing_in_case": "duplicate-id",
}


def test_every_mistake_fixture_has_its_expected_code() -> None:
    assert set(CODES_OF_MISTAKES) == {m[0] for m in MISTAKES}


@pytest.mark.parametrize(("name", "code"), sorted(CODES_OF_MISTAKES.items()))
def test_validate_as_json_gives_codes_and_locations(tmp_path: Path, name: str,
                                                    code: str) -> None:
    import json

    from tests.test_faults import run_cli

    _, table, row, column, value, _ = next(m for m in MISTAKES if m[0] == name)
    folder = copy_bundled(tmp_path / "sources")
    set_cell(folder, table, row, column, value)
    done = run_cli("validate", "--sources", str(folder), "--format", "json")
    assert done.returncode == 1
    problems = json.loads(done.stdout)
    wanted = {"file": f"{table}.csv", "row": row, "column": column, "code": code,
              "severity": "error"}
    assert any(wanted.items() <= p.items() for p in problems), problems
    assert all(set(p) == {"file", "row", "column", "code", "severity", "message"}
               for p in problems)
    if name == "unknown_kind":  # run says the same, as data, when the data is invalid
        same = run_cli("run", "--sources", str(folder), "--output", str(tmp_path / "out"),
                       "--format", "json")
        assert same.returncode == 1 and json.loads(same.stdout) == problems


def test_every_problem_is_reported_at_once_sorted_errors_first(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "many")
    set_cell(folder, "parties", 5, "kind", "bureau")
    set_cell(folder, "agreements", 3, "kind", "treaty")
    set_cell(folder, "agreements", 2, "signed_on", "2024-02-30")
    lines = problems_of(folder)
    errors = [line for line in lines if not line.endswith("(warning)")]
    assert [e.split(": ")[0] for e in errors] == [
        "agreements.csv:2", "agreements.csv:3", "parties.csv:5"]
    assert lines.index(errors[-1]) < min(i for i, line in enumerate(lines)
                                         if line.endswith("(warning)"))


def test_missing_file_and_missing_column(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "missing")
    (folder / "targets.csv").unlink()
    rows = read_table(folder, "themes")
    write_table(folder, "themes", rows, ["theme_id", "parent_id", "description"])
    lines = problems_of(folder)
    assert any(line.startswith("targets.csv: file is missing") for line in lines)
    assert ("themes.csv: column 'name': required column is missing; expected a header with "
            "theme_id, name, parent_id, description") in lines


def test_parent_cycle_is_an_error_on_each_member(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "cycle")
    set_cell(folder, "parties", 2, "parent_id", "kobia")  # economy -> kobia -> economy
    lines = problems_of(folder)
    cycle = [line for line in lines if "leads back" in line]
    assert [line.split(":")[1] for line in cycle] == ["2", "5"]


def test_agreement_without_party_and_participation_twice(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "participation")
    rows = read_table(folder, "participation")
    rows = [r for r in rows if r["agreement_id"] != "carbon-technologies-mou"]
    rows.append(dict(rows[0]))
    write_table(folder, "participation", rows)
    lines = problems_of(folder)
    assert ("agreements.csv:4: column 'agreement_id': agreement 'carbon-technologies-mou' has "
            "no party; expected at least one row for it in participation.csv") in lines
    assert any(line.startswith(f"participation.csv:{len(rows) + 1}: party 'ministry-of-economy'"
                               " already takes the role 'signatory'") for line in lines)


def test_not_utf8_is_an_error_that_names_the_line(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "cp1254")
    text = (folder / "parties.csv").read_text(encoding="utf-8")
    (folder / "parties.csv").write_bytes(text.encode("cp1254", errors="replace"))
    lines = problems_of(folder)
    assert lines[0].startswith("parties.csv:5: file is not valid UTF-8")
    assert "CSV UTF-8" in lines[0]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_bom_encodings_and_line_endings_are_read(tmp_path: Path, encoding: str) -> None:
    folder = copy_bundled(tmp_path / encoding)
    for table in ("parties", "agreements"):
        text = (folder / f"{table}.csv").read_text(encoding="utf-8")
        ending = "\r\n" if encoding == "utf-16" else "\r"
        (folder / f"{table}.csv").write_bytes(text.replace("\n", ending).encode(encoding))
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems]
    assert "Dias Bilişim ve Teknoloji Hizmetleri A.Ş." in set(data.parties["name"])


def test_text_changes_are_warnings(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "text")
    set_cell(folder, "parties", 12, "name", "  Dias Bili\u0307s\u0327im\x07 A.S\u0327.  ")
    data, problems = validate(read_sources(folder))
    assert data is not None
    lines = [str(p) for p in problems]
    assert ("parties.csv:12: column 'name': removed characters a workbook cannot hold "
            "(U+0007) (warning)") in lines
    assert ("parties.csv:12: column 'name': spaces around the text were removed (warning)"
            in lines)
    assert ("parties.csv:12: column 'name': text was normalised to Unicode NFC (composed "
            "letters) (warning)") in lines
    assert data.parties.loc[10, "name"] == "Dias Bili\u0307şim A.Ş."


def test_likely_duplicate_party_is_a_warning(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "dup")
    add_row(folder, "parties", 21, party_id="ecostar-2", name="ECOSTAR L.L.C.", short_name="")
    lines = problems_of(folder)
    assert ("parties.csv:23: column 'name': 'ECOSTAR L.L.C.' looks like the same party as "
            "'ecostar' (row 21) (warning)") in lines


def test_a_workbook_missing_a_sheet_names_the_sheet(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    book = to_workbook(BUNDLED_SOURCES, tmp_path / "data.xlsx")
    wb = load_workbook(book)
    del wb["targets"]
    wb.save(book)
    lines = problems_of(book)
    assert lines[0] == ("data.xlsx[targets]: sheet is missing; expected a sheet named "
                        "'targets' in data.xlsx")


def test_a_workbook_error_names_the_sheet_and_row(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "csv")
    set_cell(folder, "agreements", 5, "status", "signed-ish")
    lines = problems_of(to_workbook(folder, tmp_path / "data.xlsx"))
    assert lines[0].startswith("data.xlsx[agreements]:5: column 'status': 'signed-ish' is not")


def test_a_theme_cycle_is_an_error(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "themes")
    set_cell(folder, "themes", 3, "parent_id", "circular-economy")  # e-mobility
    set_cell(folder, "themes", 4, "parent_id", "e-mobility")  # circular-economy
    lines = problems_of(folder)
    assert [line.split(":")[0:2] for line in lines if "leads back" in line] == [
        ["themes.csv", "3"], ["themes.csv", "4"]]


def test_a_name_equal_to_another_partys_short_name_is_a_likely_duplicate(
        tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "alias")
    add_row(folder, "parties", 2, party_id="kobia-agency", name="KOBİA", short_name="",
            aliases="", kind="agency", parent_id="")
    lines = problems_of(folder)
    assert any(line.startswith("parties.csv:23: column 'name':") and "'kobia'" in line
               and line.endswith("(warning)") for line in lines), lines


def test_an_idle_party_and_an_unused_theme_are_warnings(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "idle")
    add_row(folder, "parties", 2, party_id="ministry-of-ecology", name="Ministry of Ecology",
            aliases="")
    add_row(folder, "themes", 2, theme_id="hydrogen", name="Hydrogen",
            parent_id="green-economy", description="")
    data, problems = validate(read_sources(folder))
    assert data is not None  # warnings never stop a run
    lines = [str(p) for p in problems]
    assert ("parties.csv:23: column 'party_id': 'ministry-of-ecology' takes part in no "
            "agreement (warning)") in lines
    assert "themes.csv:13: column 'theme_id': no agreement is under theme 'hydrogen' (warning)" \
        in lines
    # bp and SOCAR take part through their subsidiaries: no warning for them
    assert not any("'bp' takes part" in line or "'socar' takes part" in line for line in lines)


def test_two_themes_with_one_name_and_an_extra_column_named_like_ours_stay_apart(
        tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "names")
    set_cell(folder, "themes", 3, "name", "Green economy")  # e-mobility, under green-economy
    set_cell(folder, "agreements", 2, "parties", "my own list")  # an extra column
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems]
    model = Model(data)
    matrix = party_theme_matrix(model)
    assert {"Green economy (green-economy)", "Green economy (e-mobility)"} <= set(matrix.columns)
    assert matrix.set_index("party_id").at["byd", "Green economy (e-mobility)"] == 1
    table = agreements_table(model)
    assert table.at[0, "extra: parties"] == "my own list"
    assert "Ministry of Economy" in table.at[0, "parties"]


def test_a_very_long_cell_is_read_and_a_nul_byte_is_removed_with_a_warning(
        tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "long")
    set_cell(folder, "agreements", 2, "summary", "x" * 200_000)
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems]
    assert len(data.agreements.at[0, "summary"]) == 200_000
    text = (folder / "themes.csv").read_text(encoding="utf-8")
    (folder / "themes.csv").write_text(text.replace("E-mobility", "E-mob\0ility"),
                                       encoding="utf-8")
    data, problems = validate(read_sources(folder))
    assert data is not None
    assert ("themes.csv:3: column 'name': removed characters a workbook cannot hold (U+0000) "
            "(warning)") in [str(p) for p in problems]
    assert data.themes.at[1, "name"] == "E-mobility"


def test_a_problem_prints_as_one_line_whatever_its_text_holds() -> None:
    from reports.problems import ERROR, WARNING, Problem, one_line

    problem = Problem(ERROR, "bad\nname.csv", 2, "ki\tnd", "'x\r\ny' is not allowed",
                      "one of a\u2028b")
    assert str(problem) == ("bad\\nname.csv:2: column 'ki\\tnd': 'x\\r\\ny' is not allowed; "
                            "expected one of a\\u2028b")
    assert str(Problem(WARNING, "a\nb.csv", None, None, "odd")) == "a\\nb.csv: odd (warning)"
    assert one_line("\x00\x1b\x7f\x85\u2029\udcff") == "\\x00\\x1b\\x7f\\x85\\u2029\\udcff"
    assert one_line("C:\\data\\é 中.csv") == "C:\\data\\é 中.csv"  # backslashes stay as they are


def _validate_cli(sources: Path) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-m", "reports", "validate", "--sources", str(sources)],
                          capture_output=True, text=True, cwd=root, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_a_newline_in_the_sources_path_keeps_every_problem_on_one_line(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "bad\nname")
    set_cell(folder, "agreements", 2, "kind", "nonsense")
    (folder / "sources.csv").unlink()
    _, problems = validate(read_sources(folder))
    result = _validate_cli(folder)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == len(problems) + 1  # each problem, then the count
    kind = [line for line in lines if "'kind'" in line]
    assert kind == ["agreements.csv:2: column 'kind': 'nonsense' is not an allowed value; "
                    "expected one of agreement, memorandum, charter, declaration, joint_venture, "
                    "contract, discussion, other"]
    [missing] = [line for line in lines if "sources.csv" in line and "missing" in line]
    assert missing.endswith(f"in {tmp_path}/bad\\nname")
    assert not any(line.startswith("name") for line in lines)  # no second half of a line


def test_a_newline_in_a_workbook_name_keeps_every_problem_on_one_line(tmp_path: Path) -> None:
    folder = copy_bundled(tmp_path / "csv")
    set_cell(folder, "agreements", 2, "kind", "nonsense")
    book = to_workbook(folder, tmp_path / "bad\nname.xlsx")
    result = _validate_cli(book)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    mentions = [line for line in lines if "bad" in line or "name.xlsx" in line]
    assert mentions and all("bad\\nname.xlsx" in line for line in mentions)
    assert [line for line in mentions if "column 'kind'" in line] == [
        "bad\\nname.xlsx[agreements]:2: column 'kind': 'nonsense' is not an allowed value; "
        "expected one of agreement, memorandum, charter, declaration, joint_venture, contract, "
        "discussion, other"]

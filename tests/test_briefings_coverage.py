"""Briefings for every party and country, readable at real-world size.

A synthetic data set shaped like a treaty database (governments and international
organisations as parties, one treaty with 190 parties, 30 agreements whose titles are
equal for their first 120 characters, an empty top-level theme), and the bundled data
after ten edits.
"""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import pycountry
import pytest

from tests.conftest import require_tool
from tests.datasets import add_row, copy_bundled, set_cell
from tests.test_faults import run_cli

PREFIX = ("Exchange of notes constituting an arrangement between the Government of the "
          "Republic and the Government of the Kingdom concerning")  # 120+ characters alike


def write(folder: Path, table: str, header: list[str], rows: list[list[str]]) -> None:
    with (folder / f"{table}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def treaty_database(folder: Path) -> Path:
    folder.mkdir(parents=True)
    codes = sorted(c.alpha_2 for c in pycountry.countries)[:190]
    parties = [[f"gov-{c.lower()}", f"Government of {pycountry.countries.get(alpha_2=c).name}",
                "", "government", c, "", ""] for c in codes]
    parties += [[f"io-{n}", f"International Organisation {n}", f"IO{n}",
                 "international_organization", "", "", ""] for n in range(5)]
    write(folder, "parties", ["party_id", "name", "short_name", "kind", "country", "parent_id",
                              "aliases"], parties)
    agreements = [["big-treaty", "Convention on the conservation of migratory fish stocks",
                   "agreement", "2001-05-04", "", "", "signed", "fisheries",
                   "A treaty open to every state.", "unts"]]
    participation = [["big-treaty", p[0], "signatory", "", ""] for p in parties[:190]]
    participation.append(["big-treaty", "io-0", "partner", "", ""])
    for n in range(30):
        aid = f"notes-{n:02d}"
        # same date, same parties: only the end of the title tells them apart
        agreements.append([aid, f"{PREFIX} fisheries cooperation, number {n}", "agreement",
                           "1999-01", "", "", "signed", "fisheries", "", "unts"])
        first, second = parties[0][0], parties[1][0]
        participation += [[aid, first, "signatory", "", ""], [aid, second, "signatory", "", ""]]
    write(folder, "agreements", ["agreement_id", "title", "kind", "signed_on", "event",
                                 "location", "status", "themes", "summary", "source_ids"],
          agreements)
    write(folder, "participation", ["agreement_id", "party_id", "role", "certainty", "note"],
          participation)
    write(folder, "themes", ["theme_id", "name", "parent_id", "description"], [
        ["green-economy", "Green economy", "", ""], ["fisheries", "Fisheries", "green-economy", ""],
        ["smes", "SMEs", "", ""], ["digitalization", "Digitalization", "", ""]])
    write(folder, "targets", ["agreement_id", "description", "metric", "value", "unit",
                              "target_year"], [])
    write(folder, "sources", ["source_id", "publisher", "title", "url", "published_on",
                              "accessed_on"],
          [["unts", "United Nations Treaty Series", "", "", "2005-01-01", ""]])
    return folder


def page_texts(pdf: Path) -> list[str]:
    require_tool("pdftotext")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    return [" ".join(page.split()) for page in text.split("\f")]


@pytest.fixture(scope="module")
def treaty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list]:
    from tests.test_figures import produce

    tmp = tmp_path_factory.mktemp("treaties")
    out = produce(tmp, treaty_database(tmp / "sources"), ("theme:*",))
    return out.run, out.manifest, out.emails


def test_every_party_and_country_has_its_briefing_listed_everywhere(treaty_run) -> None:
    run, manifest, _ = treaty_run
    made = {f["path"] for f in manifest["files"] if f["kind"] == "briefing"}
    index = (run / "briefings" / "index.html").read_text(encoding="utf-8")
    codes = sorted(c.alpha_2 for c in pycountry.countries)[:190]
    expected = {f"briefings/party-gov-{c.lower()}.pdf" for c in codes}
    expected |= {f"briefings/country-{c.lower()}.pdf" for c in codes}
    expected.add("briefings/party-io-0.pdf")  # the one organisation taking part
    assert expected <= made
    assert "briefings/party-io-1.pdf" not in made  # takes part in nothing
    for path in expected:
        assert (run / path).is_file(), path
        assert f'href="{Path(path).name}"' in index, path
    scopes = {f["scope"] for f in manifest["files"] if f["kind"] == "briefing"}
    assert {"party", "country"} <= scopes


def test_rows_alike_for_120_characters_can_be_told_apart(treaty_run) -> None:
    run, _, _ = treaty_run
    text = " ".join(page_texts(run / "briefings" / "overview.pdf"))
    table = text.split("Agreements", 2)[-1]
    for n in range(30):
        assert f"id notes-{n:02d}" in table, n  # each alike row carries its id
    assert "Newest first, undated last" in text


def test_the_card_of_a_treaty_of_190_parties_takes_at_most_one_page(treaty_run) -> None:
    run, _, _ = treaty_run
    pages = page_texts(run / "briefings" / "country-fr.pdf")
    title = "Convention on the conservation of migratory fish stocks Agreement · 2001-05-04"
    start = next(i for i, page in enumerate(pages) if title in page)
    end = next(i for i, page in enumerate(pages)
               if "Participation table, agreement_id big-treaty" in page)
    assert start == end
    assert "Signatory (190): " in pages[start] and "+ 178 more" in pages[start]


def test_an_empty_theme_says_so_and_is_not_mailed_to_theme_star(treaty_run) -> None:
    run, manifest, emails = treaty_run
    pages = page_texts(run / "briefings" / "theme-digitalization.pdf")
    assert "No agreement in this data set is under Digitalization." in pages[0]
    assert "By kind" not in pages[0]  # no empty charts
    sent = {part.get_filename() for msg in emails for part in msg.iter_attachments()}
    assert "theme-green-economy.pdf" in sent
    assert "theme-digitalization.pdf" not in sent and "theme-smes.pdf" not in sent


def test_finer_themes_in_the_theme_briefing_equal_the_workbook(treaty_run) -> None:
    from python_calamine import CalamineWorkbook

    run, _, _ = treaty_run
    rows = CalamineWorkbook.from_path(str(run / "agreements.xlsx")).get_sheet_by_name(
        "ByTheme").to_python()
    by_theme = {r[1]: r for r in rows[1:]}
    fisheries = int(by_theme["fisheries"][rows[0].index("Agreements")])
    first = page_texts(run / "briefings" / "theme-green-economy.pdf")[0]
    assert f"Fisheries ({fisheries})" in first and fisheries == 31
    assert "By finer theme" in first


def test_after_ten_edits_page_one_holds_every_change_or_points_to_the_rest(
        tmp_path: Path) -> None:
    sources = copy_bundled(tmp_path / "sources")
    config = tmp_path / "agreement-reports.toml"
    config.write_text(f'sources = "{sources}"\noutput = "output"\n', encoding="utf-8")
    assert run_cli("run", "--config", str(config)).returncode == 0
    for row in range(2, 9):  # seven titles, one status, one target, one new party
        set_cell(sources, "agreements", row, "title", f"A title edited at row {row} "
                 "to be long enough to wrap onto a second line of the briefing's page")
    set_cell(sources, "agreements", 3, "status", "in_progress")
    set_cell(sources, "targets", 2, "value", "45")
    add_row(sources, "participation", 2, party_id="socar")
    done = run_cli("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    pages = page_texts(tmp_path / "output" / "latest" / "briefings" / "overview.pdf")
    first = pages[0]
    assert "Since the last briefing" in first
    # the changes that matter most come first: the status, then the target
    status = first.index("status “signed” → “in progress”")
    assert status < first.index("40” → “45")
    pointer = re.search(r"… and (\d+) more changes?: page (\d+)\.", first)
    if pointer:
        rest = pages[int(pointer[2]) - 1]
        assert "Since the last briefing, continued" in rest
    else:
        assert "A title edited at row 8" in first


def test_changes_beyond_page_one_continue_where_page_one_says(
        tmp_path: Path, bundled_model) -> None:  # noqa: ANN001 - a conftest fixture
    import dataclasses

    from reports.briefings import build_briefings
    from reports.render.pdf import render_briefing

    overview = build_briefings(bundled_model, "2024-11-27", ("overview",))[0]
    lines = tuple(f"Agreement “Number {n}”: title “old {n}” → “new {n}”." for n in range(40))
    pdf = tmp_path / "overview.pdf"
    render_briefing(dataclasses.replace(overview, changes=lines), pdf)
    pages = page_texts(pdf)
    pointer = re.search(r"… and (\d+) more changes: page (\d+)\.", pages[0])
    assert pointer, pages[0]
    shown = sum(f"“Number {n}”" in pages[0] for n in range(40))
    assert shown + int(pointer[1]) == 40 and shown > 3
    rest = " ".join(pages[int(pointer[2]) - 1:])
    assert rest.index("Since the last briefing, continued") < rest.index(f"“Number {shown}”")
    assert "“Number 39”" in rest


def test_a_briefing_of_one_agreement_is_one_page(bundled_model, tmp_path: Path) -> None:  # noqa: ANN001
    from pypdf import PdfReader

    from reports.briefings import build_briefings
    from reports.render.pdf import render_briefings

    ones = [b for b in build_briefings(bundled_model, "2024-11-27")
            if len(b.agreements) == 1]
    assert len(ones) > 10  # most companies, agencies and countries of the bundled data
    render_briefings(ones, tmp_path, workers=1)
    for b in ones:
        assert len(PdfReader(tmp_path / f"{b.name}.pdf").pages) == 1, b.name

"""The PDF briefings: the right files, the right content, safe, readable and reproducible.

Expected names and coverage come from the CSV files by hand (csv module), never from
the code under test. The bundled briefings are rendered once for the module.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import pickle
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.briefings import (
    CARDS_IN_LARGE,
    Briefing,
    BriefingSource,
    BriefingTarget,
    build_briefings,
)
from reports.model import Model
from reports.render.charts import bar_chart
from reports.render.fonts import missing_glyphs
from reports.render.pdf import Rendered, render_briefing, render_briefings
from reports.validate import DataSet
from tests.conftest import BUNDLED_SOURCES, ROOT, require_tool

AS_OF = "2024-11-27"
MARKUP = ["<b>bold</b>", '<a href="javascript:alert(1)">x</a>', '<img src="/etc/passwd"/>',
          "AT&T"]


# ------------------------------------------------------------------ the CSVs, read by hand
def rows(table: str) -> list[dict[str, str]]:
    with (BUNDLED_SOURCES / f"{table}.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_names() -> set[str]:
    """Every party of the bundled data takes part, itself or (bp, SOCAR) through a party
    below it; every country with a party in an agreement has its briefing too."""
    names = {"overview"}
    for party in rows("parties"):
        scope = ("ministry" if party["kind"] == "ministry" else "company"
                 if party["kind"] in ("company", "state_company") else "party")
        names.add(f"{scope}-{party['party_id']}")
    taking_part = {r["party_id"] for r in rows("participation")}
    names |= {f"country-{p['country'].lower()}" for p in rows("parties")
              if p["country"] and p["party_id"] in taking_part}
    names |= {f"theme-{t['theme_id']}" for t in rows("themes") if not t["parent_id"]}
    assert {"party-kobia", "party-itc", "country-az", "country-tr"} <= names
    return names


def members_of(party_id: str) -> set[str]:
    """The party and every party below it through parent_id."""
    children: dict[str, list[str]] = {}
    for party in rows("parties"):
        children.setdefault(party["parent_id"], []).append(party["party_id"])
    members, stack = set(), [party_id]
    while stack:
        pid = stack.pop()
        members.add(pid)
        stack.extend(children.get(pid, []))
    return members


def covered_titles(party_id: str) -> set[str]:
    members = members_of(party_id)
    ids = {r["agreement_id"] for r in rows("participation") if r["party_id"] in members}
    return {a["title"] for a in rows("agreements") if a["agreement_id"] in ids}


# ------------------------------------------------------------------ PDF helpers
def normalised(text: str) -> str:
    return " ".join(text.split())


@cache
def pdf_text(path: Path) -> str:
    """pdftotext -layout of the whole file, whitespace collapsed to single spaces."""
    pdftotext = require_tool("pdftotext")
    out = subprocess.run([pdftotext, "-layout", "-enc", "UTF-8", str(path), "-"],
                         capture_output=True, text=True, check=True).stdout
    return normalised(out)


def expanded(pdf: Path) -> bytes:
    """The PDF uncompressed, one object at a time, for grepping its structure."""
    qpdf = require_tool("qpdf")
    target = pdf.with_suffix(".qdf")
    subprocess.run([qpdf, "--qdf", "--object-streams=disable", str(pdf), str(target)],
                   check=True)
    return target.read_bytes()


def uris(raw: bytes) -> list[bytes]:
    return re.findall(rb"/URI \(([^)]*)\)", raw)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def briefings(bundled_model: Model) -> list[Briefing]:
    return build_briefings(bundled_model, AS_OF)


@pytest.fixture(scope="module")
def rendered(briefings: list[Briefing], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, dict[str, Rendered]]:
    folder = tmp_path_factory.mktemp("briefings")
    pages = render_briefings(briefings, folder, workers=2)  # the parallel path
    return folder, pages


@pytest.fixture(scope="module")
def dias(briefings: list[Briefing]) -> Briefing:
    return next(b for b in briefings if b.name == "company-dias")


# ------------------------------------------------------------------ the set of files
def listing(briefing: Briefing, **fields: object) -> Briefing:
    """The briefing with other agreements (and any other fields): all of them listed."""
    return dataclasses.replace(briefing, count=-1, with_discussions=None, recent=None,
                               **fields)  # type: ignore[arg-type]


def test_one_briefing_per_ministry_company_and_top_level_theme_plus_the_overview(
        rendered: tuple[Path, dict[str, Rendered]]) -> None:
    folder, pages = rendered
    assert {p.stem for p in folder.glob("*.pdf")} == expected_names()
    assert set(pages) == expected_names()
    assert all(r.pages >= 1 for r in pages.values())


def test_every_pdf_is_sound_and_uses_only_the_embedded_font(
        rendered: tuple[Path, dict[str, Rendered]]) -> None:
    qpdf, pdffonts = require_tool("qpdf"), require_tool("pdffonts")
    folder, _ = rendered
    for pdf in sorted(folder.glob("*.pdf")):
        check = subprocess.run([qpdf, "--check", str(pdf)], capture_output=True, text=True)
        assert check.returncode == 0, (pdf.name, check.stdout, check.stderr)
        listing = subprocess.run([pdffonts, str(pdf)], capture_output=True, text=True,
                                 check=True).stdout.splitlines()[2:]
        assert listing, pdf.name
        for line in listing:
            # columns: name type encoding emb sub uni object ID
            assert line.split()[-5] == "yes", (pdf.name, line)
            assert "DejaVuSans" in line.split()[0] and "Helvetica" not in line, (pdf.name, line)


def test_the_overview_shows_names_with_their_own_letters(
        rendered: tuple[Path, dict[str, Rendered]]) -> None:
    text = pdf_text(rendered[0] / "overview.pdf")
    assert "Dias Bilişim ve Teknoloji Hizmetleri A.Ş." in text
    assert "KOBİA" in text


def test_the_titles_checked_below_are_not_substrings_of_each_other() -> None:
    titles = [a["title"] for a in rows("agreements")]
    assert not [(a, b) for a in titles for b in titles if a != b and a in b]


@pytest.mark.parametrize("party", [p for p in rows("parties")
                                   if p["kind"] in ("ministry", "company", "state_company")],
                         ids=lambda p: p["party_id"])
def test_a_party_briefing_names_the_party_and_exactly_the_agreements_it_covers(
        rendered: tuple[Path, dict[str, Rendered]], party: dict[str, str]) -> None:
    scope = "ministry" if party["kind"] == "ministry" else "company"
    text = pdf_text(rendered[0] / f"{scope}-{party['party_id']}.pdf")
    assert party["name"] in text
    mine = covered_titles(party["party_id"])
    assert mine, "every bundled party takes part in something"
    for title in mine:
        assert normalised(title) in text, title
    for other in {a["title"] for a in rows("agreements")} - mine:
        assert normalised(other) not in text, other


def test_a_ministry_briefing_counts_the_parties_below_it(
        rendered: tuple[Path, dict[str, Rendered]]) -> None:
    # KOBİA sits below the Ministry of Economy and brings in two declarations
    assert members_of("ministry-of-economy") >= {"kobia"}
    text = pdf_text(rendered[0] / "ministry-ministry-of-economy.pdf")
    assert "Ministry of Economy took part via Small and Medium Business Development " \
           "Agency (KOBİA)." in text
    assert "initiator · below Ministry of Economy" in text


# ------------------------------------------------------------------ page furniture, metadata
def test_metadata_outline_and_page_footer(rendered: tuple[Path, dict[str, Rendered]],
                                          briefings: list[Briefing]) -> None:
    folder, pages = rendered
    for b in briefings:
        reader = PdfReader(folder / f"{b.name}.pdf")
        assert reader.metadata is not None
        assert reader.metadata.title == b.title
        assert reader.metadata.author == "agreement-reports"
        assert reader.metadata.get("/CreationDate", "").startswith("D:20241127")
        assert len(reader.pages) == pages[b.name].pages
        titles = [e.title for e in reader.outline if not isinstance(e, list)]
        assert titles[:2] == ["Summary", "Since the last briefing"], b.name
        assert titles[2] in ("Agreements", "Agreements and discussions"), b.name
        first = normalised(reader.pages[0].extract_text())
        assert f"page 1 of {pages[b.name].pages} · data version {b.version}" in first, b.name
        assert f"Data as of {AS_OF}" in first
        assert b.title in first


def test_one_and_many_read_right(rendered: tuple[Path, dict[str, Rendered]],
                                 dias: Briefing) -> None:
    # Dias: 1 agreement, 0 discussions, 1 partner, 1 country, 0 targets
    assert dict(dias.figures)["Agreements"] == "1"
    text = pdf_text(rendered[0] / "company-dias.pdf")
    assert "Agreement Discussions Partner Partner country Targets" in text


# ------------------------------------------------------------------ since the last briefing
@pytest.mark.parametrize(("changes", "expected"), [
    (None, ["This is the first briefing: there is no earlier run to compare with."]),
    ((), ["No change since the last briefing."]),
    (("Memorandum on carbon technologies: status signed → in_progress", "Added: A & B"),
     ["• Memorandum on carbon technologies: status signed → in_progress", "• Added: A & B"]),
])
def test_since_the_last_briefing(tmp_path: Path, dias: Briefing,
                                 changes: tuple[str, ...] | None, expected: list[str]) -> None:
    pdf = tmp_path / "b.pdf"
    render_briefing(dataclasses.replace(dias, changes=changes), pdf)
    text = pdf_text(pdf)
    section = text.split("Since the last briefing", 1)[1]
    for line in expected:
        assert line in section
    assert ("No change" in section) == (changes == ())


# ------------------------------------------------------------------ hostile text
def test_curated_markup_prints_literally_and_runs_nothing(tmp_path: Path, dias: Briefing) -> None:
    pwned = tmp_path / "pwned-marker"
    payload = ("<font color=\"[[[getattr(pow, Word('__globals__'))['os']"
               f".system('touch {pwned}')]]]\">x</font>")
    hostile = " ".join([*MARKUP, payload])
    agreement = dias.agreements[0]
    party = dataclasses.replace(agreement.parties[0], name=f"Party {hostile}",
                                note=f"Note {hostile}")
    agreement = dataclasses.replace(
        agreement, title=f"Title {hostile}", summary=f"Summary {hostile}",
        parties=(party, *agreement.parties[1:]),
        sources=(BriefingSource(f"Publisher {hostile}", "Bad link", "javascript:alert(1)",
                                "2024-11-27"),
                 BriefingSource("Publisher", "Good link", "https://example.org/report",
                                "2024-11-27")))
    briefing = listing(dias, agreements=(agreement,), summary=(f"Said {hostile}",),
                                   partners=((f"Party {hostile}", 1),))
    pdf = tmp_path / "hostile.pdf"
    assert render_briefing(briefing, pdf) >= 1
    assert not pwned.exists()
    # the temporary path is one long word that wraps mid-word: compare without any spaces
    squeezed = "".join(pdf_text(pdf).split())
    for label in ("Title", "Summary", "Party", "Said"):
        assert "".join(f"{label} {hostile}".split()) in squeezed, label
    raw = expanded(pdf)
    for forbidden in (b"/JavaScript", b"/Launch", b"/Subtype /Image", b"/EmbeddedFile"):
        assert forbidden not in raw, forbidden
    assert uris(raw) and set(uris(raw)) == {b"https://example.org/report"}


def test_links_only_for_http_and_https(tmp_path: Path, dias: Briefing) -> None:
    agreement = dataclasses.replace(dias.agreements[0], sources=(
        BriefingSource("A", "Script", "javascript:alert(1)", ""),
        BriefingSource("B", "File", "file:///etc/passwd", ""),
        BriefingSource("C", "Report", "https://example.org/report", ""),
        BriefingSource("D", "Plain", "http://example.org/?a=1&b=2", "")))
    pdf = tmp_path / "links.pdf"
    render_briefing(listing(dias, agreements=(agreement,)), pdf)
    assert set(uris(expanded(pdf))) == {b"https://example.org/report",
                                        b"http://example.org/?a=1&b=2"}
    text = pdf_text(pdf)
    assert "Source: A, “Script”" in text  # shown, but not as a link


# ------------------------------------------------------------------ identical bytes
def test_same_briefings_give_identical_bytes_in_process_and_in_workers(
        rendered: tuple[Path, dict[str, Rendered]], briefings: list[Briefing],
        tmp_path: Path) -> None:
    folder, pages = rendered
    again = render_briefings(list(reversed(briefings)), tmp_path, workers=1)
    assert again == pages
    for b in briefings:
        data = (folder / f"{b.name}.pdf").read_bytes()
        assert (tmp_path / f"{b.name}.pdf").read_bytes() == data
        # what the manifest records comes from the renderer: it must describe the file
        assert pages[b.name].bytes == len(data)
        assert pages[b.name].sha256 == hashlib.sha256(data).hexdigest()
        assert pages[b.name].version == b.version


def test_same_briefing_gives_identical_bytes_in_two_fresh_processes(
        tmp_path: Path, briefings: list[Briefing]) -> None:
    pickled = tmp_path / "briefings.pickle"
    pickled.write_bytes(pickle.dumps(briefings[:3]))
    script = ("import pickle, sys; from pathlib import Path; "
              "from reports.render.pdf import render_briefing; "
              "[render_briefing(b, Path(sys.argv[2]) / f'{b.name}.pdf') "
              "for b in pickle.loads(Path(sys.argv[1]).read_bytes())]")
    for run, seed in (("one", "1"), ("two", "3")):
        (tmp_path / run).mkdir()
        subprocess.run([sys.executable, "-c", script, str(pickled), str(tmp_path / run)],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed})
    for b in briefings[:3]:
        one = (tmp_path / "one" / f"{b.name}.pdf").read_bytes()
        assert one == (tmp_path / "two" / f"{b.name}.pdf").read_bytes(), b.name


def test_the_same_data_gives_the_same_briefing_content_in_two_processes() -> None:
    script = ("from reports.model import Model; from reports.sources import read_sources; "
              "from reports.validate import validate; "
              "from reports.briefings import build_briefings; "
              "from tests.conftest import BUNDLED_SOURCES; "
              "data, _ = validate(read_sources(BUNDLED_SOURCES)); "
              f"print([b.version for b in build_briefings(Model(data), '{AS_OF}')])")
    versions = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               check=True, cwd=ROOT,
                               env={**os.environ, "PYTHONHASHSEED": seed}).stdout
                for seed in ("1", "3")]
    assert versions[0] == versions[1]


# ------------------------------------------------------------------ large briefings
def test_a_party_with_many_agreements_gets_top_lists_and_an_appendix(
        tmp_path: Path, dias: Briefing) -> None:
    template = dias.agreements[0]
    many = tuple(dataclasses.replace(template, agreement_id=f"a{i}", title=f"Agreement no. {i}")
                 for i in range(120))
    partners = tuple((f"Partner {i}", 1) for i in range(30))
    pdf = tmp_path / "large.pdf"
    pages = render_briefing(listing(dias, agreements=many, partners=partners), pdf)
    outline = PdfReader(pdf).outline
    titles = [e.title for e in outline if not isinstance(e, list)]
    assert "Appendix: all 120 agreements" in titles
    cards = next(e for e in outline if isinstance(e, list))
    assert len(cards) == CARDS_IN_LARGE < 120
    text = pdf_text(pdf)
    assert f"Below are the {CARDS_IN_LARGE} most recent of 120" in text
    assert "+ 20 others (1 each)" in text  # the partners chart keeps its top ten
    assert pages > 3


def test_a_capped_appendix_lists_the_most_recent_agreements(
        tmp_path: Path, dias: Briefing, monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.render.pdf

    monkeypatch.setattr(reports.render.pdf, "TABLE_ROWS_MAX", 10)
    template = dias.agreements[0]
    # 30 agreements, one a day, in the briefing's order (newest first)
    many = tuple(dataclasses.replace(template, agreement_id=f"a{i}", title=f"Pact {i:02d}",
                                     signed_on=f"2024-10-{i + 1:02d}")
                 for i in reversed(range(30)))
    pdf = tmp_path / "capped.pdf"
    render_briefing(listing(dias, agreements=many), pdf)
    titles = [e.title for e in PdfReader(pdf).outline if not isinstance(e, list)]
    assert "Appendix: the 10 most recent of 30 agreements" in titles
    text = pdf_text(pdf)
    appendix = text.split("Appendix: the 10 most recent", 1)[1]
    listed = re.findall(r"Pact (\d\d)", appendix)
    assert listed == [f"{i:02d}" for i in range(29, 19, -1)]  # the newest ten, newest first
    assert "… and 20 more, earlier or undated, listed in the workbook" in text


def test_an_agreement_with_dozens_of_parties_and_a_huge_title_still_lays_out(
        tmp_path: Path, dias: Briefing) -> None:
    template = dias.agreements[0]
    crowd = tuple(dataclasses.replace(template.parties[0], party_id=f"p{i}",
                                      name=f"Party number {i} of a long consortium")
                  for i in range(80))
    big = dataclasses.replace(template, parties=template.parties + crowd,
                              title="A very long title " * 200)
    pdf = tmp_path / "crowd.pdf"
    render_briefing(listing(dias, agreements=(big,)), pdf)  # no LayoutError
    text = pdf_text(pdf)
    # the table cell lists the first few of the 81 partners on two lines; the card groups
    # them by role, with a count, the first names and where the rest are
    shown = re.search(r"\+ (\d+) more", text)
    assert shown and 60 < int(shown.group(1)) < 81
    role = template.parties[0].role
    n = sum(p.role == role for p in big.parties)
    assert f"{role.replace('_', ' ').capitalize()} ({n}): " in text
    assert f"+ {n - 12} more" in text
    assert "Party number 79 of a long consortium" not in text
    assert "the workbook's Participation table, agreement_id" in text


def test_a_table_cell_of_one_long_name_and_a_count_stays_in_its_column(
        dias: Briefing) -> None:
    """A partner whose name alone takes both lines of the cell: the count still fits."""
    import io

    from reportlab.pdfbase.pdfmetrics import stringWidth

    from reports.render.fonts import register_fonts
    from reports.render.pdf import CELL, FONT, _Briefing, _BriefingCanvas

    register_fonts()
    template = dias.agreements[0]
    long_names = tuple(dataclasses.replace(template.parties[0], party_id=f"q{i}",
                                           name="Investment Promotion Authority of Saudi "
                                                f"Arabia Number {i}") for i in range(4))
    agreement = dataclasses.replace(template, parties=template.parties + long_names)
    briefing = listing(dias, agreements=(agreement,))
    layout = _Briefing(briefing, "v", _BriefingCanvas(io.BytesIO(), briefing, "v"))
    width = 90.0
    lines = [text for _, text in layout.names_cell(agreement, width)]
    assert len(lines) == 2 and lines[-1].endswith(" more"), lines
    assert all(stringWidth(line, FONT, CELL) <= width for line in lines), lines


# ------------------------------------------------------------------ fonts and charts
def test_missing_glyphs_names_what_the_font_cannot_print() -> None:
    assert missing_glyphs("ş İ ə KOBİA") == ""
    assert missing_glyphs("plain ASCII\n\t") == ""
    assert missing_glyphs("中 and 中") == "'中' (U+4E2D)"
    # DejaVu Sans does carry U+1F600 😀; U+1F98A 🦊 is newer than the font
    assert missing_glyphs("\U0001F98A") == "'\U0001F98A' (U+1F98A)"
    assert missing_glyphs("\u3000") == ""  # ideographic space: whitespace is ignored


def test_a_chart_with_nothing_to_show_is_left_out() -> None:
    assert bar_chart([], 200) is None
    assert bar_chart([("Green economy", 0), ("SMEs", 0)], 200) is None
    chart = bar_chart([("Green economy", 5), ("SMEs", 0)], 200)
    assert chart is not None and chart.width == 200
    # a zero keeps its row (the reader sees the theme has none), the longest bar the top value
    assert [(lines, value) for lines, value, _ in chart.rows] == [(("Green economy",), 5),
                                                                  (("SMEs",), 0)]
    assert chart.top_value == 5 and chart.height > 0


def test_common_and_rare_characters_both_come_out_as_written(tmp_path: Path,
                                                            dias: Briefing) -> None:
    # common letters take show_text's fixed codes, the rest reportlab's own encoding
    names = ["Şəki İpək Ağdam — “Çay” … ÆØÅ æøå Żółć", "Жук и Ко © ® § Ελλάδα № ☂",
             "Mixed Şəki Жук © and 😀 beyond U+FFFF"]
    agreement = dataclasses.replace(dias.agreements[0], title=names[0], summary=names[1])
    briefing = listing(dias, agreements=(agreement,), summary=(names[2],))
    pdf = tmp_path / "letters.pdf"
    render_briefing(briefing, pdf)
    text = pdf_text(pdf)
    for name in names:
        assert name in text, name


def test_big_counts_read_with_thousands_separators(tmp_path: Path, dias: Briefing) -> None:
    from reports.briefings import plural

    assert plural(1, "agreement") == "1 agreement"
    assert plural(12345, "country", "countries") == "12,345 countries"
    pdf = tmp_path / "counts.pdf"
    two = (*dias.agreements, dataclasses.replace(dias.agreements[0], agreement_id="other"))
    render_briefing(listing(dias, agreements=two,  # charts from two agreements on
                                        partners=(("Big Partner", 12345),)), pdf)
    assert "12,345" in pdf_text(pdf)  # the bar's value label
    # targets: no 1.5e+06, and fractions as curated
    assert BriefingTarget("Investment", "investment", 1_500_000.0, "USD", 2030).text == \
        "1,500,000 USD investment by 2030"
    assert BriefingTarget("Share", "share", 2024.5, "%", None).text == "2,024.5 % share"
    chart = bar_chart([(f"Party {i}", 5000 - i) for i in range(12)], 200)  # 4,990 and 4,989 hidden
    assert chart is not None and chart.others == "+ 2 others (4,989 to 4,990 each)"


def test_the_font_cache_is_the_one_in_use() -> None:
    from reportlab.pdfbase import pdfmetrics

    from reports.render import fonts

    fonts.register_fonts()
    for face in (fonts.FONT, fonts.FONT_BOLD):
        # subsets and their PDF objects built once per process, not once per briefing
        assert isinstance(pdfmetrics.getFont(face), fonts._CachedTTFont), face
    assert fonts.font_folder() == fonts.FONT_FOLDER  # the project's own files


def test_one_order_on_ties_and_whatever_the_order_of_the_rows(
        bundled_dataset: DataSet) -> None:
    """ORDER: newest first, undated last, then by title, then by id; and a briefing is the
    same whatever the order of the agreements' rows in the data."""
    agreements = bundled_dataset.agreements.copy()
    n = len(agreements)
    agreements["title"] = ["Same title" if i % 2 else f"Title {i % 3}" for i in range(n)]
    agreements["signed_on"] = [("", "2024-11", "2024-11-01", "2024")[i % 4] for i in range(n)]
    tied = Model(dataclasses.replace(bundled_dataset, agreements=agreements))
    overview = build_briefings(tied, AS_OF, ("overview",))[0]
    by_hand = sorted(zip(agreements["signed_on"], agreements["title"],
                         agreements["agreement_id"], strict=True),
                     key=lambda row: (row[1], row[2]))
    by_hand.sort(key=lambda row: row[0], reverse=True)
    by_hand.sort(key=lambda row: not row[0])
    assert [a.agreement_id for a in overview.agreements] == [row[2] for row in by_hand]
    reversed_rows = agreements.iloc[::-1].reset_index(drop=True)
    again = Model(dataclasses.replace(bundled_dataset, agreements=reversed_rows))
    assert build_briefings(again, AS_OF) == build_briefings(tied, AS_OF)

"""One set of figures: every number a reader sees agrees with every other place it is shown.

Each figure is read back from each output with a real reader (pdftotext for the
briefings, calamine for the workbook, the .eml files of a dry-run delivery,
manifest.json, index.html and the command's closing line) and compared. For the
bundled data the expected figures are hand counts from the news report.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from tests.conftest import BUNDLED_SOURCES, require_tool
from tests.datasets import make_synthetic
from tests.test_faults import run_cli

FIGURES = ("Agreements", "Discussions", "Parties taking part", "Parties in the register",
           "Countries taking part", "Targets", "Targets with a number")


@dataclass
class Outputs:
    run: Path
    manifest: dict
    cli: str
    emails: list[email.message.EmailMessage]


def produce(tmp: Path, sources: Path, subscriptions: tuple[str, ...] = (
        "overview", "ministry:*", "company:*", "theme:*")) -> Outputs:
    """One run of the command with a dry-run delivery of the subscribed briefings to one
    reader."""
    config = tmp / "agreement-reports.toml"
    config.write_text(
        f'sources = "{sources}"\noutput = "output"\n[delivery]\ndry_run = true\n'
        'sender = "briefings@example.org"\n[[delivery.recipients]]\n'
        f'email = "reader@example.org"\nbriefings = {json.dumps(list(subscriptions))}\n',
        encoding="utf-8")
    done = run_cli("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    run = (tmp / "output" / "latest").resolve()
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    outbox = tmp / "output" / "outbox" / manifest["run_id"]
    emails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
              for p in sorted(outbox.glob("*.eml"))]
    assert emails
    return Outputs(run, manifest, done.stdout, emails)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    return produce(tmp_path_factory.mktemp("bundled"), BUNDLED_SOURCES)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    """Many discussions, subsidiaries, inferred participation, targets with and without
    numbers (scripts/make-synthetic-sources)."""
    tmp = tmp_path_factory.mktemp("synthetic")
    return produce(tmp, make_synthetic(tmp / "sources", 400))


# -- reading each output ----------------------------------------------------------------------

def loose(label: str) -> str:
    """A label with singular and plural alike ('Partner country' == 'Partner countries')."""
    words = []
    for word in label.lower().split():
        if word.endswith("ies"):
            word = word[:-3] + "y"
        elif word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return " ".join(words)


def number(text: str) -> int:
    return int(text.replace(",", ""))


def page_one(pdf: Path) -> str:
    require_tool("pdftotext")
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", "-f", "1", "-l", "1",
                           str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def pdf_figures(pdf: Path) -> dict[str, int]:
    """The key figures on a briefing's first page: the line of numbers under the title,
    and the labels under them (columns two or more spaces apart)."""
    lines = page_one(pdf).splitlines()
    start = next(i for i, line in enumerate(lines) if "data version" in line)
    rest = [line for line in lines[start + 1:] if line.strip()]
    values = rest[0].split()
    assert all(re.fullmatch(r"[\d,]+", v) for v in values), rest[0]
    labels = re.split(r"\s{2,}", rest[1].strip())
    assert len(labels) == len(values), (rest[0], rest[1])
    return {loose(label): number(value) for label, value in zip(labels, values, strict=True)}


def sheet(run: Path, name: str) -> list[dict]:
    rows = CalamineWorkbook.from_path(str(run / "agreements.xlsx")).get_sheet_by_name(
        name).to_python()
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def key_figures(run: Path) -> dict[str, float]:
    rows = CalamineWorkbook.from_path(str(run / "agreements.xlsx")).get_sheet_by_name(
        "Overview").to_python()
    top = next(i for i, row in enumerate(rows) if row[:3] == ["Figure", "Of", "Count"])
    out = {}
    for row in rows[top + 1:]:
        if not row[0]:
            break
        out[str(row[0])] = row[2]
    return out


SENTENCE = re.compile(
    r"(?P<a>[\d,]+) agreements?, (?P<d>[\d,]+) discussions?, (?P<p>[\d,]+) (?:party|parties) "
    r"taking part \((?P<r>[\d,]+) in the register\), (?P<c>[\d,]+) (?:country|countries) "
    r"taking part, (?P<t>[\d,]+) targets? \((?P<n>[\d,]+) with a number\)")


def from_sentence(text: str) -> dict[str, int]:
    found = SENTENCE.search(text)
    assert found, text
    return dict(zip(FIGURES, (number(found[k]) for k in "adprctn"), strict=True))


def index_figures(run: Path) -> dict[str, dict[str, int]]:
    """briefing file -> the key figures index.html lists for it."""
    html = (run / "briefings" / "index.html").read_text(encoding="utf-8")
    out = {}
    for href, cell in re.findall(r'<a href="([^"]+)">.*?</td>(?:<td>.*?</td>){2}<td>(.*?)</td>',
                                 html):
        out[href] = {loose(label): number(value)
                     for label, value in re.findall(r"([^:<>]+): ([\d,]+)", cell)}
    return out


def workbook_row(run: Path, entry: dict) -> dict[str, int]:
    """The workbook's row for a briefing's subject, figure names loosened."""
    if entry["scope"] == "overview":
        return {loose(k): int(v) for k, v in key_figures(run).items()}
    table, key = {"ministry": ("ByMinistry", "party_id"), "company": ("ByCompany", "party_id"),
                  "party": ("Parties", "party_id"), "country": ("ByCountry", "Country"),
                  "theme": ("ByTheme", "theme_id")}[entry["scope"]]
    subject = entry["subject_id"].upper() if entry["scope"] == "country" else entry[
        "subject_id"]
    row = next(r for r in sheet(run, table) if r[key] == subject)
    return {loose(k): int(v) for k, v in row.items() if isinstance(v, float)}


# -- the tests -----------------------------------------------------------------------------

def assert_everywhere_equal(out: Outputs) -> dict[str, int]:
    """The data set's figures agree in the manifest, the workbook, the CLI and the e-mails;
    every briefing's key figures agree with the workbook, index.html and the manifest."""
    figures = {label: out.manifest["figures"][label] for label in FIGURES}
    book = key_figures(out.run)
    assert {label: int(book[label]) for label in FIGURES} == figures
    assert from_sentence(out.cli) == figures
    for msg in out.emails:
        assert from_sentence(msg.get_body(("plain",)).get_content()) == figures
    listed = index_figures(out.run)
    for entry in out.manifest["files"]:
        if entry["kind"] != "briefing":
            continue
        shown = pdf_figures(out.run / entry["path"])
        row = workbook_row(out.run, entry)
        for label, value in shown.items():
            assert row[label] == value, (entry["path"], label, row.get(label), value)
        assert listed[Path(entry["path"]).name] == shown, entry["path"]
        assert {loose(k): v for k, v in entry["figures"].items()} == shown, entry["path"]
    return figures


def test_bundled_figures_agree_everywhere_and_with_a_hand_count(bundled: Outputs) -> None:
    figures = assert_everywhere_equal(bundled)
    # counted by hand from the news report: seven signed instruments and one discussion
    # (the Ministry of Economy's talks on AI); 21 parties, 19 of which take part (bp and
    # SOCAR only through Volts and SOCAR Downstream); parties from Azerbaijan, Türkiye,
    # the UK, the UAE, Italy, Brazil, China (BYD) and the US (Alterra); one target, 40 %
    assert figures == {"Agreements": 7, "Discussions": 1, "Parties taking part": 19,
                       "Parties in the register": 21, "Countries taking part": 8,
                       "Targets": 1, "Targets with a number": 1}


def test_bundled_charts_and_rolled_up_figures_match_the_workbook(bundled: Outputs) -> None:
    overview = page_one(bundled.run / "briefings" / "overview.pdf")
    by_country = {r["Country"]: r for r in sheet(bundled.run, "ByCountry")}
    # all eight agreements but the discussion have an Azerbaijani party: 7, not 8
    assert re.search(r"Azerbaijan\s+7\b", overview)
    assert by_country["AZ"]["Agreements"] == 7 and by_country["AZ"]["Discussions"] == 1
    companies = {r["party_id"]: r for r in sheet(bundled.run, "ByCompany")}
    # bp signed nothing itself; its subsidiary Volts signed the battery memorandum
    assert (companies["bp"]["Agreements"], companies["bp"]["Agreements (rolled up)"]) == (0, 1)
    assert pdf_figures(bundled.run / "briefings" / "company-bp.pdf")[
        loose("Agreements (rolled up)")] == 1
    ministries = {r["party_id"]: r for r in sheet(bundled.run, "ByMinistry")}
    economy = ministries["ministry-of-economy"]
    # itself: the bus deal and the AI discussion; below it, KOBİA's two declarations
    assert (economy["Agreements"], economy["Discussions"]) == (1, 1)
    assert economy["Agreements (rolled up)"] == 3
    # the Parties chart counts agreements only: the Ministry of Economy has 1, not 2
    assert not re.search(r"Ministry of Economy\s+2\b", overview)


def test_synthetic_figures_agree_everywhere(synthetic: Outputs) -> None:
    companies = sheet(synthetic.run, "ByCompany")
    # the data set exercises what the figures must get right
    assert synthetic.manifest["figures"]["Discussions"] > 0
    assert any(r["Agreements (rolled up)"] > r["Agreements"] for r in companies)
    figures = synthetic.manifest["figures"]
    assert 0 < figures["Targets with a number"] < figures["Targets"]
    assert figures["Parties taking part"] <= figures["Parties in the register"]
    assert_everywhere_equal(synthetic)


def test_no_target_sentence_repeats_a_word_of_its_unit_or_metric(synthetic: Outputs,
                                                                 bundled: Outputs) -> None:
    from reports.briefings import BriefingTarget

    seen = 0
    for out in (bundled, synthetic):
        for row in sheet(out.run, "Targets"):
            value = row["value"] if isinstance(row["value"], float) else None
            year = int(row["target_year"]) if isinstance(row["target_year"], float) else None
            text = BriefingTarget(row["description"], row["metric"], value, row["unit"],
                                  year).text
            words = [w.lower() for w in re.split(r"[\s_]+", text) if w]
            for word in {w.lower() for w in re.split(r"[\s_]+", f"{row['unit']} "
                                                     f"{row['metric']}") if w}:
                assert words.count(word) <= 1, (text, row["unit"], row["metric"])
            seen += 1
    assert seen > 10
    overview = subprocess.run([require_tool("pdftotext"), "-enc", "UTF-8", str(
        bundled.run / "briefings" / "overview.pdf"), "-"], capture_output=True, text=True,
        check=True).stdout
    assert "40 % localization rate by 2030" in " ".join(overview.split())


def test_words_match_the_data(bundled: Outputs) -> None:
    smes = " ".join(page_one(bundled.run / "briefings" / "theme-smes.pdf").split())
    # the Baku Coalition Declaration was initiated and is open to join: not "signed"
    assert "2 agreements" in smes and "1 signed, 1 open to join" in smes
    assert "were signed" not in smes
    overview = " ".join(page_one(bundled.run / "briefings" / "overview.pdf").split())
    assert "Agreements and discussions at COP29" in overview
    assert "Agreements signed at COP29" not in overview
    for msg in bundled.emails:
        body = msg.get_body(("plain",)).get_content()
        assert "1 discussion," in body and "1 discussions" not in body
        assert "1 target (" in body and "1 targets" not in body


def test_more_counts_exactly_the_partners_not_shown(bundled: Outputs) -> None:
    require_tool("pdftotext")
    text = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(
        bundled.run / "briefings" / "company-aic.pdf"), "-"], capture_output=True, text=True,
        check=True).stdout
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.lstrip().startswith(
        "Memorandum on an energy") and "Memorandum " in line[30:])
    cell = " ".join(lines[row:row + 2])
    # AIC's partners there are Masdar and Volts; AIC itself is only marked, never counted
    assert "its part inferred" in cell
    assert "+ 2 more" not in cell
    shown = sum(name in cell for name in ("Volts", "Abu Dhabi"))
    assert ("+ 1 more" in cell) == (shown == 1) and shown >= 1


def test_party_country_and_theme_tables_equal_a_recount_with_sets(tmp_path: Path) -> None:
    """Every party's, country's and theme's figures (rolled up too) equal a plain count with
    Python sets over the same data: the figures are computed on integer positions and
    arrays, and a slip there would show wrong partner or country counts to readers."""
    from collections import defaultdict

    from reports import figures
    from reports.model import Model
    from reports.sources import read_sources
    from reports.validate import validate

    data, _ = validate(read_sources(make_synthetic(tmp_path / "sources", 600, seed=7)))
    assert data is not None
    model = Model(data)
    kind = dict(zip(data.agreements["agreement_id"], data.agreements["kind"], strict=True))
    parties = {r["party_id"]: r for r in data.parties.to_dict("records")}
    per_agreement: dict[str, set[str]] = defaultdict(set)
    for a, p in zip(data.participation["agreement_id"], data.participation["party_id"],
                    strict=True):
        per_agreement[a].add(p)
    targets: dict[str, int] = defaultdict(int)
    for a in data.targets["agreement_id"]:
        targets[a] += 1

    def recount(group: set[str], agreements: set[str], partners: set[str]) -> list[int]:
        signed = {a for a in agreements if kind[a] != "discussion"}
        countries = {parties[p]["country"] for p in partners} - {""}
        return [len(signed), len(agreements) - len(signed), len(partners), len(countries),
                sum(targets[a] for a in signed)]

    def of_group(group: set[str]) -> list[int]:
        agreements = {a for a, ps in per_agreement.items() if ps & group}
        partners = set().union(*(per_agreement[a] for a in agreements)) - group
        return recount(group, agreements, partners)

    def below(party: str) -> set[str]:
        return {p for p in parties if party in chain(p)}

    def chain(party: str) -> list[str]:
        up = [party]
        while parties[up[-1]]["parent_id"]:
            up.append(parties[up[-1]]["parent_id"])
        return up

    table = figures.party_figures(model)
    columns = [figures.AGREEMENTS, figures.DISCUSSIONS, figures.PARTNERS,
               figures.PARTNER_COUNTRIES, figures.TARGETS]
    rolled = [c + figures.ROLLED_UP for c in columns]
    assert any(len(below(p)) > 1 for p in parties)  # the data has parties below others
    for party in parties:
        assert table.loc[party, columns].tolist() == of_group({party}), party
        assert table.loc[party, rolled].tolist() == of_group(below(party)), party

    by_country: dict[str, set[str]] = defaultdict(set)
    for party in parties:
        by_country[figures.country_code(parties[party]["kind"],
                                        parties[party]["country"])].add(party)
    countries = figures.country_figures(model)
    assert sorted(countries.index) == sorted(by_country)
    for code, group in by_country.items():
        assert countries.loc[code, columns].tolist() == of_group(group), code

    themes = figures.theme_figures(model)
    for theme in model.theme_order:
        agreements = set(model.agreement_themes.loc[
            model.agreement_themes["theme_id"] == theme, "agreement_id"])
        taking = set().union(*(per_agreement[a] for a in agreements))
        signed, discussed, partners, countries_, targeted = recount(set(), agreements, taking)
        assert themes.loc[theme, [figures.AGREEMENTS, figures.DISCUSSIONS,
                                  figures.PARTIES_TAKING_PART, figures.COUNTRIES,
                                  figures.TARGETS]].tolist() == \
            [signed, discussed, partners, countries_, targeted], theme

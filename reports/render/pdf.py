"""Briefing -> PDF, with reportlab platypus; many briefings in parallel.

    pages = render_briefing(briefing, Path("out/briefings/overview.pdf"))
    pages_by_name = render_briefings(briefings, Path("out/briefings"), progress=True)

A briefing is A4 portrait: a first page that stands alone (title, as-of date and data
version, key figures, executive summary, charts), "Since the last briefing", the
agreements table, then one card per agreement. Big briefings (more than
`LARGE_BRIEFING` agreements) get cards for the first `CARDS_IN_LARGE` and the full
table as an appendix.

Every string of the briefing is curated data and is escaped before it reaches
Paragraph markup, so markup in the data prints literally; links are made only for
http(s) URLs. The same Briefing gives byte-identical files (reportlab's invariant
mode, dates from `briefing.as_of`, no wall-clock time anywhere).
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    LongTable,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import HRFlowable
from tqdm import tqdm

from ..briefings import Briefing, BriefingAgreement, BriefingParty
from .charts import bar_chart
from .fonts import FONT, FONT_BOLD, register_fonts

log = logging.getLogger(__name__)

AUTHOR = "agreement-reports"
# More agreements than this: cards for the first few, the table as an appendix. Cards
# are most of a briefing's pages (and of its rendering time); past a few dozen
# agreements a reader scans the table, and the workbook holds every detail.
LARGE_BRIEFING = 40
CARDS_IN_LARGE = 20
TABLE_CHUNK = 200  # rows per LongTable: splitting one huge table across pages is quadratic
NAMES_IN_CELL = 8  # more parties than this in one table cell: "+ N more" (a cell cannot split)
TITLE_IN_CELL = 300  # characters of a title in a table cell; the card shows it whole
TABLE_ROWS_MAX = 2000  # a briefing lists at most this many agreements; the workbook has all
PARALLEL_FROM = 4  # fewer briefings than this render in-process: forking costs more

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 20 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 20 * mm

INK = colors.HexColor("#22272d")
HEADING = colors.HexColor("#1f3a5f")
MUTED_HEX = "#5f6b78"
MUTED = colors.HexColor(MUTED_HEX)
RULE = colors.HexColor("#c9d1da")
FIGURE_BG = colors.HexColor("#edf2f8")
TABLE_HEADER_BG = colors.HexColor("#e3e7ec")
ZEBRA = colors.HexColor("#f5f7f9")
LINK = "#1f5fa8"

_PAGE_COUNT_FORM = "pageCountAndVersion"


# ----------------------------------------------------------------- text
def _esc(text: object) -> str:
    """Curated text -> Paragraph markup that prints it literally."""
    return escape(str(text))


def _attr(text: str) -> str:
    """Curated text -> the value of a double-quoted markup attribute."""
    return escape(text, {'"': "&quot;", "'": "&#39;"})


def _is_web_url(url: str) -> bool:
    # only these schemes get a link: javascript:, file:, data: ... stay plain text
    return url.lower().startswith(("http://", "https://")) and not any(
        ch.isspace() or ord(ch) < 32 for ch in url)


def _words(text: str) -> str:
    """A curated code ('technology_provider') as words ('technology provider')."""
    return text.replace("_", " ")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_SINGULAR = {"Agreements": "Agreement", "Discussions": "Discussion", "Partners": "Partner",
             "Parties": "Party", "Countries": "Country", "Targets": "Target"}


def _figure_label(label: str, value: str) -> str:
    """'Agreements' for 7, 'Agreement' for 1."""
    if value.strip() != "1":
        return label
    if label in _SINGULAR:
        return _SINGULAR[label]
    if label.endswith("ies"):
        return label[:-3] + "y"
    return label[:-1] if label.endswith("s") and not label.endswith("ss") else label


def _scope_label(b: Briefing) -> str:
    """What the briefing is about, for the page header."""
    if b.scope == "overview" or not b.subject:
        return b.dataset
    return f"{_cap(b.scope)} briefing · {b.subject}"


def _pdf_date(as_of: str) -> str:
    """'2024-11-27' -> PDF date 'D:20241127000000+00'00''; the run's as-of date, never now."""
    digits = "".join(ch for ch in as_of if ch.isdigit())[:8].ljust(8, "0")
    if digits[4:6] == "00":
        digits = digits[:4] + "01" + digits[6:]
    if digits[6:8] == "00":
        digits = digits[:6] + "01"
    return f"D:{digits}000000+00'00'"


# ----------------------------------------------------------------- styles
@dataclass(frozen=True)
class _Styles:
    title: ParagraphStyle
    subtitle: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    body: ParagraphStyle
    bullet: ParagraphStyle
    meta: ParagraphStyle
    note: ParagraphStyle
    chart_title: ParagraphStyle
    chart_caption: ParagraphStyle
    figure_value: ParagraphStyle
    figure_label: ParagraphStyle
    cell: ParagraphStyle
    cell_name: ParagraphStyle
    cell_head: ParagraphStyle


@cache
def _styles() -> _Styles:
    register_fonts()
    # every style names the embedded font, bullets included: reportlab's default is Helvetica
    base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=13.5, textColor=INK,
                          bulletFontName=FONT, splitLongWords=True)

    def style(name: str, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **kw)

    return _Styles(
        title=style("title", fontName=FONT_BOLD, fontSize=19, leading=24, textColor=HEADING,
                    spaceAfter=4),
        subtitle=style("subtitle", fontSize=9, leading=12, textColor=MUTED, spaceAfter=12),
        h1=style("h1", fontName=FONT_BOLD, fontSize=13.5, leading=17, textColor=HEADING,
                 spaceBefore=16, spaceAfter=6, keepWithNext=True),
        h2=style("h2", fontName=FONT_BOLD, fontSize=10.5, leading=13.5, textColor=HEADING,
                 spaceBefore=2, spaceAfter=2, keepWithNext=True),
        body=style("body", spaceAfter=4),
        bullet=style("bullet", leftIndent=11, bulletIndent=1, spaceAfter=3),
        meta=style("meta", fontSize=8.5, leading=11.5, textColor=MUTED, spaceAfter=4),
        note=style("note", fontSize=8.5, leading=11.5, textColor=MUTED, spaceBefore=4),
        chart_title=style("chart_title", fontName=FONT_BOLD, fontSize=9.5, leading=12,
                          textColor=HEADING),
        chart_caption=style("chart_caption", fontSize=7.5, leading=9.5, textColor=MUTED,
                            spaceAfter=5),
        figure_value=style("figure_value", fontName=FONT_BOLD, fontSize=18, leading=21,
                           textColor=HEADING, alignment=TA_CENTER),
        figure_label=style("figure_label", fontSize=8, leading=10, textColor=MUTED,
                           alignment=TA_CENTER),
        cell=style("cell", fontSize=7.5, leading=9.5),
        cell_name=style("cell_name", fontSize=7.5, leading=9.5, leftIndent=6,
                        firstLineIndent=-6, spaceAfter=1.5),
        cell_head=style("cell_head", fontName=FONT_BOLD, fontSize=7.5, leading=9.5),
    )


# ----------------------------------------------------------------- document
class _Outlined(Paragraph):
    """A heading that is also an entry of the PDF outline (bookmarks)."""

    def __init__(self, text: str, style: ParagraphStyle, *, key: str, title: str,
                 level: int) -> None:
        super().__init__(text, style)
        self.outline = (key, title, level)


class _BriefingCanvas(Canvas):
    """Canvas in the embedded font whose dates are the briefing's as-of date.

    "page N of M" needs M before the last page exists: every footer refers to a form
    XObject that `save` fills in once the page count is known, so one pass suffices.
    """

    def __init__(self, *args: Any, created: str, footer_tail: str, **kwargs: Any) -> None:
        # reportlab's page preamble would otherwise select (and so list) Helvetica
        kwargs["initialFontName"] = FONT
        super().__init__(*args, **kwargs)
        self.setDateFormatter(lambda *_: created)
        self._footer_tail = footer_tail
        self.page_count = 0

    def save(self) -> None:
        self.page_count = self.getPageNumber() - 1
        self.beginForm(_PAGE_COUNT_FORM, lowerx=0, lowery=-3, upperx=PAGE_WIDTH, uppery=10)
        self.setFont(FONT, 7.5)
        self.setFillColor(MUTED)
        self.drawString(0, 0, f"{self.page_count}{self._footer_tail}")
        self.endForm()
        super().save()


class _BriefingDoc(BaseDocTemplate):
    def __init__(self, target: io.BytesIO, briefing: Briefing, version: str) -> None:
        self.briefing = briefing
        keywords = list(dict.fromkeys(k for k in briefing.keywords if k))
        super().__init__(
            target, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X,
            topMargin=MARGIN_TOP, bottomMargin=MARGIN_BOTTOM, title=briefing.title,
            subject=(f"{_scope_label(briefing)}: data as of {briefing.as_of}, "
                     f"data version {version}"),
            author=AUTHOR, creator=AUTHOR, keywords=keywords, lang="en", invariant=1,
            initialFontName=FONT)
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body",
                      leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        self.addPageTemplates([PageTemplate(id="page", frames=[frame],
                                            onPage=partial(_furniture, briefing=briefing))])

    def afterFlowable(self, flowable: Flowable) -> None:
        outline = getattr(flowable, "outline", None)
        if outline is None:
            return
        key, title, level = outline
        top = self.frame._y + flowable.height + 8  # the heading's top, a little above
        self.canv.bookmarkPage(key, fit="XYZ", left=0, top=top)
        self.canv.addOutlineEntry(title, key, level=level, closed=level > 0)


def _fit(text: str, width: float, size: float = 7.5) -> str:
    """`text` cut with … to fit `width` points on one line (headers and footers)."""
    if stringWidth(text, FONT, size) <= width:
        return text
    while text and stringWidth(text + "…", FONT, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _furniture(canv: Canvas, doc: BaseDocTemplate, *, briefing: Briefing) -> None:
    """Header (scope, as-of date) and footer ("page N of M · data version X") of each page."""
    canv.saveState()
    left, right = MARGIN_X, PAGE_WIDTH - MARGIN_X
    head_y = PAGE_HEIGHT - MARGIN_TOP + 9 * mm
    canv.setFont(FONT, 7.5)
    canv.setFillColor(MUTED)
    as_of = f"Data as of {briefing.as_of}"
    room = right - left - canv.stringWidth(as_of, FONT, 7.5) - 24
    canv.drawString(left, head_y, _fit(_scope_label(briefing), room))
    canv.drawRightString(right, head_y, as_of)
    canv.setStrokeColor(RULE)
    canv.setLineWidth(0.5)
    canv.line(left, head_y - 4, right, head_y - 4)
    foot_y = MARGIN_BOTTOM - 10 * mm
    canv.line(left, foot_y + 10, right, foot_y + 10)
    lead = f"page {doc.page} of "
    canv.drawString(left, foot_y, lead)
    canv.saveState()
    canv.translate(left + canv.stringWidth(lead, FONT, 7.5), foot_y)
    canv.doForm(_PAGE_COUNT_FORM)
    canv.restoreState()
    # the page count and version (the form) take at most about 150 points
    room = right - left - canv.stringWidth(lead, FONT, 7.5) - 170
    canv.drawRightString(right, foot_y, _fit(briefing.dataset, room))
    canv.restoreState()


# ----------------------------------------------------------------- story
class _Story:
    """Builds the flowables of one briefing."""

    def __init__(self, briefing: Briefing, version: str, width: float) -> None:
        self.b = briefing
        self.version = version
        self.width = width
        self.s = _styles()
        self.party_scope = briefing.scope in ("ministry", "company")

    def build(self) -> list[Flowable]:
        b, s = self.b, self.s
        out: list[Flowable] = [
            Paragraph(_esc(b.title), s.title),
            Paragraph(f"Data as of {_esc(b.as_of)} · data version {_esc(self.version)}",
                      s.subtitle),
        ]
        out += self.figures()
        out.append(_Outlined("Summary", s.h1, key="summary", title="Summary", level=0))
        out += [Paragraph(_esc(sentence), s.bullet, bulletText="•") for sentence in b.summary]
        out += self.charts()
        out += self.changes()
        large = len(b.agreements) > LARGE_BRIEFING
        heading = self.agreements_heading()
        out.append(_Outlined(_esc(heading), s.h1, key="agreements", title=heading, level=0))
        if not b.agreements:
            out.append(Paragraph("No agreement is recorded for this briefing.", s.body))
            return out
        if large:
            # a party with thousands of agreements: top lists above, a few cards, the table last
            cards = b.agreements[:CARDS_IN_LARGE]
            total, rest = len(b.agreements), len(b.agreements) - len(cards)
            out.append(Paragraph(
                f"Below are the first {len(cards)} of {total:,}; the appendix table lists all "
                f"of them, including the {rest:,} not described here.", s.body))
            out += self.cards(cards)
            title = f"Appendix: all {total:,} {heading.lower()}"
            out.append(_Outlined(_esc(title), s.h1, key="appendix", title=title, level=0))
            out += self.table()
        else:
            out += self.table()
            out += self.cards(b.agreements)
        return out

    def agreements_heading(self) -> str:
        discussions = sum(1 for a in self.b.agreements if a.is_discussion)
        return "Agreements and discussions" if discussions else "Agreements"

    # -- first page
    def figures(self) -> list[Flowable]:
        figures = self.b.figures
        if not figures:
            return []
        gap = 6.0
        box = (self.width - gap * (len(figures) - 1)) / len(figures)
        row: list[object] = []
        widths: list[float] = []
        for i, (label, value) in enumerate(figures):
            if i:
                row.append("")
                widths.append(gap)
            row.append([Paragraph(_esc(value), self.s.figure_value),
                        Paragraph(_esc(_figure_label(label, value)), self.s.figure_label)])
            widths.append(box)
        style = [("FONTNAME", (0, 0), (-1, -1), FONT),  # for the gap cells; else Helvetica
                 ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                 ("TOPPADDING", (0, 0), (-1, -1), 7), ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
                 ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2)]
        style += [("BACKGROUND", (c, 0), (c, 0), FIGURE_BG) for c in range(0, len(row), 2)]
        table = Table([row], colWidths=widths, style=TableStyle(style))
        return [table, Spacer(1, 4)]

    def chart_specs(self) -> list[tuple[str, str, Sequence[tuple[str, int]]]]:
        """(title, caption, pairs) of each chart worth showing, in reading order."""
        b = self.b
        specs: list[tuple[str, str, Sequence[tuple[str, int]]]] = []
        themes = b.by_theme
        # in a theme's own briefing a chart of only that theme says nothing new
        if not (b.scope == "theme" and all(v == 0 for n, v in themes if n != b.subject)):
            specs.append(("By theme", "Agreements under each top-level theme", themes))
        specs.append(("By kind", "Agreements and discussions by kind",
                      [(_cap(_words(k)), v) for k, v in b.by_kind]))
        if self.party_scope:
            specs.append(("Partner countries", "Agreements with a partner from each country",
                          b.by_country))
            specs.append(("Partners", "Agreements with each partner", b.partners))
        else:
            specs.append(("Countries", "Agreements with a party from each country",
                          b.by_country))
            specs.append(("Parties", "Agreements each party took part in", b.partners))
        return specs

    def charts(self) -> list[Flowable]:
        """The charts two by two: half the page width each, so bars stay short."""
        gap = 16.0
        half = (self.width - gap) / 2
        blocks: list[list[Flowable]] = []
        for title, caption, pairs in self.chart_specs():
            drawing = bar_chart(pairs, half)
            if drawing is not None:
                blocks.append([Paragraph(_esc(title), self.s.chart_title),
                               Paragraph(_esc(caption), self.s.chart_caption), drawing])
        if not blocks:
            return []
        style = TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT),  # else Helvetica, for ""
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                            ("LEFTPADDING", (0, 0), (-1, -1), 0),
                            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                            ("TOPPADDING", (0, 0), (-1, -1), 0),
                            ("BOTTOMPADDING", (0, 0), (-1, -1), 12)])
        out: list[Flowable] = [Spacer(1, 10)]
        for i in range(0, len(blocks), 2):
            right: list[Flowable] | str = blocks[i + 1] if i + 1 < len(blocks) else ""
            out.append(Table([[blocks[i], "", right]], colWidths=[half, gap, half],
                             style=style))
        return out

    def changes(self) -> list[Flowable]:
        s = self.s
        out: list[Flowable] = [_Outlined("Since the last briefing", s.h1, key="changes",
                                         title="Since the last briefing", level=0)]
        changes = self.b.changes
        if changes is None:
            out.append(Paragraph("This is the first briefing: there is no earlier run to "
                                 "compare with.", s.body))
        elif not changes:
            out.append(Paragraph("No change since the last briefing.", s.body))
        else:
            out += [Paragraph(_esc(line), s.bullet, bulletText="•") for line in changes]
        return out

    # -- the agreements
    def partners_of(self, a: BriefingAgreement) -> list[BriefingParty]:
        """The parties to list in the table: all of them, or in a party's briefing the others."""
        if not self.party_scope:
            return list(a.parties)
        return [p for p in a.parties if p.party_id != self.b.subject_id and not p.via]

    def own_part(self, a: BriefingAgreement) -> list[BriefingParty]:
        """In a party's briefing: its own participations and those of the parties below it."""
        if not self.party_scope:
            return []
        return [p for p in a.parties if p.party_id == self.b.subject_id or p.via]

    def via_sentence(self, a: BriefingAgreement) -> str:
        """e.g. 'Ministry of Economy took part itself and via …', or "" when only directly."""
        own = self.own_part(a)
        via = list(dict.fromkeys(p.via for p in own if p.via))
        if not via:
            return ""
        itself = "itself and " if any(p.party_id == self.b.subject_id for p in own) else ""
        names = ", ".join(via[:-1]) + " and " + via[-1] if len(via) > 1 else via[0]
        return f"{self.b.subject} took part {itself}via {names}."

    def column_widths(self) -> list[float]:
        """Kind, date and status as wide as their longest word (capped); the rest shared out."""
        pad = 8.5
        size = self.s.cell.fontSize

        def fit(texts: list[str], head: str, cap: float) -> float:
            words = [w for t in texts for w in t.split()]
            widest = max((stringWidth(w, FONT, size) for w in words), default=0.0)
            return min(max(widest, stringWidth(head, FONT_BOLD, size)) + pad, self.width * cap)

        agreements = self.b.agreements
        kind = fit([_cap(_words(a.kind)) for a in agreements], "Kind", 0.15)
        date = fit([a.signed_on for a in agreements], "Date", 0.12)
        status = fit([_cap(_words(a.status)) for a in agreements], "Status", 0.13)
        rest = self.width - kind - date - status
        return [rest * 0.38, kind, date, rest * 0.37, rest * 0.25, status]

    def table(self) -> list[Flowable]:
        s = self.s
        head = ["Title", "Kind", "Date", "Partners" if self.party_scope else "Parties",
                "Themes", "Status"]
        header = [Paragraph(h, s.cell_head) for h in head]
        rows: list[list[Paragraph | list[Paragraph]]] = []
        listed = self.b.agreements[:TABLE_ROWS_MAX]
        for a in listed:
            own = self.own_part(a)
            # one paragraph per name, hanging indent: a wrapped name reads as one name
            names = [Paragraph(_esc(p.name) + (" <i>(inferred)</i>" if p.certainty == "inferred"
                                               else ""), s.cell_name)
                     for p in self.partners_of(a)]
            names += [Paragraph(f"<i>via {_esc(v)}</i>", s.cell_name)
                      for v in dict.fromkeys(p.via for p in own if p.via)]
            names += [Paragraph(f"<i>inferred: {_esc(p.name)}</i>", s.cell_name)
                      for p in own if p.certainty == "inferred"]
            if len(names) > NAMES_IN_CELL:
                more = len(names) - NAMES_IN_CELL + 1
                names = [*names[:NAMES_IN_CELL - 1],
                         Paragraph(f"<i>+ {more} more</i>", s.cell_name)]
            title = a.title if len(a.title) <= TITLE_IN_CELL else a.title[:TITLE_IN_CELL] + "…"
            rows.append([
                Paragraph(_esc(title), s.cell),
                Paragraph(_esc(_cap(_words(a.kind))), s.cell),
                Paragraph(_esc(a.signed_on) or "–", s.cell),
                names or Paragraph("–", s.cell),
                Paragraph(", ".join(_esc(t) for t in a.themes) or "–", s.cell),
                Paragraph(_esc(_cap(_words(a.status))) or "–", s.cell),
            ])
        widths = self.column_widths()
        out: list[Flowable] = []
        for start in range(0, len(rows), TABLE_CHUNK):
            chunk = rows[start:start + TABLE_CHUNK]
            style = [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("BACKGROUND", (0, 0), (-1, 0), TABLE_HEADER_BG),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
                ("LINEBELOW", (0, -1), (-1, -1), 0.6, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]),
            ]
            out.append(LongTable([header, *chunk], colWidths=widths, repeatRows=1,
                                 style=TableStyle(style), hAlign="LEFT"))
        if len(self.b.agreements) > len(listed):
            rest = len(self.b.agreements) - len(listed)
            out.append(Paragraph(
                f"… and {rest:,} more, listed in the workbook (agreements.xlsx): filter its "
                "Participation or AgreementThemes table by this briefing's id.", s.body))
        out.append(Spacer(1, 14))
        return out

    def cards(self, agreements: Sequence[BriefingAgreement]) -> list[Flowable]:
        out: list[Flowable] = []
        for n, a in enumerate(agreements):
            out.append(KeepTogether(self.card(a, n)))
        return out

    def card(self, a: BriefingAgreement, n: int) -> list[Flowable]:
        s = self.s
        meta = [_cap(_words(a.kind)), a.signed_on or "undated", _words(a.status),
                ", ".join(x for x in (a.event, a.location) if x)]
        out: list[Flowable] = [
            HRFlowable(width="100%", thickness=0.5, color=RULE, spaceBefore=6, spaceAfter=8),
            _Outlined(_esc(a.title), s.h2, key=f"agreement-{n}", title=a.title, level=1),
            Paragraph(" · ".join(_esc(m) for m in meta if m), s.meta),
        ]
        via = self.via_sentence(a)
        if via:
            out.append(Paragraph(f"<i>{_esc(via)}</i>", s.meta))
        if a.summary:
            out.append(Paragraph(_esc(a.summary), s.body))
        if a.parties:
            out.append(Paragraph("<b>Parties</b>", s.body))
            out += [Paragraph(self.party_line(p), s.bullet, bulletText="•") for p in a.parties]
        if a.themes:
            label = "Theme" if len(a.themes) == 1 else "Themes"
            out.append(Paragraph(f"<b>{label}:</b> " + ", ".join(_esc(t) for t in a.themes),
                                 s.body))
        if a.targets:
            out.append(Paragraph("<b>Target</b>" if len(a.targets) == 1 else "<b>Targets</b>",
                                 s.body))
            out += [Paragraph(_esc(t.text), s.bullet, bulletText="•") for t in a.targets]
        for source in a.sources:
            out.append(Paragraph(self.source_line(source.publisher, source.title, source.url,
                                                  source.published_on), s.meta))
        return out

    def party_line(self, p: BriefingParty) -> str:
        line = f"<b>{_esc(p.name)}</b> — {_esc(_words(p.role))}"
        if p.certainty == "inferred":
            line += " <i>(inferred)</i>"
        if p.via and self.b.subject:
            # p.via names the member itself; say where it sits instead of repeating it
            line += f" · below {_esc(self.b.subject)}"
        if p.note:
            line += f'<font color="{MUTED_HEX}">: {_esc(p.note)}</font>'
        return line

    @staticmethod
    def source_line(publisher: str, title: str, url: str, published_on: str) -> str:
        name = f"“{_esc(title)}”" if title else ""
        if name and _is_web_url(url):
            name = f'<a href="{_attr(url)}" color="{LINK}"><u>{name}</u></a>'
        parts = [p for p in (_esc(publisher), name, _esc(published_on)) if p]
        line = "Source: " + ", ".join(parts)
        if _is_web_url(url):
            line += f' · <a href="{_attr(url)}" color="{LINK}">{_esc(url)}</a>'
        return line


# ----------------------------------------------------------------- entry points
def render_briefing(briefing: Briefing, path: Path) -> int:
    """Write one briefing as a PDF at `path`; returns its number of pages.

    The file is written in one go once the PDF is complete, so a failed render leaves
    no half-written file. Identical briefings give identical bytes.
    """
    register_fonts()
    rl_config.invariant = 1  # no time stamps nor random file ids in the PDF
    version = briefing.version
    buffer = io.BytesIO()
    doc = _BriefingDoc(buffer, briefing, version)
    story = _Story(briefing, version, doc.width).build()
    canvasmaker = partial(_BriefingCanvas, created=_pdf_date(briefing.as_of),
                          footer_tail=f" · data version {version}")
    doc.build(story, canvasmaker=canvasmaker)
    Path(path).write_bytes(buffer.getvalue())
    canv = doc.canv
    assert isinstance(canv, _BriefingCanvas)
    return canv.page_count


def _init_worker() -> None:
    register_fonts()
    rl_config.invariant = 1


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Briefings handed to forked workers by index: they inherit this list, so nothing
# is pickled (pickling the big briefings cost the parent as much CPU as rendering).
_FORKED: list[Briefing] = []


def _render_forked(index: int, path: Path) -> int:
    return _render_job(_FORKED[index], path)


def _render_job(briefing: Briefing, path: Path) -> int:
    try:
        return render_briefing(briefing, path)
    except Exception as exc:
        exc.add_note(f"while rendering the briefing '{briefing.name}'")
        raise


def render_briefings(briefings: list[Briefing], folder: Path, *, workers: int | None = None,
                     progress: bool = False) -> dict[str, int]:
    """Render each briefing to `folder/<name>.pdf`; returns name -> pages, in input order.

    Renders in parallel across `workers` processes (default: the usable cores), or
    in this process for a handful of briefings or `workers=1`. `progress` shows a
    tqdm bar on stderr, for a person watching. The first failure is raised, with a
    note naming the briefing.
    """
    names = [b.name for b in briefings]
    if len(set(names)) != len(names):
        raise ValueError("two briefings share a name; each needs its own file")
    for name in names:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"briefing name {name!r} is not a plain file stem")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    register_fonts()  # before forking, so workers inherit the parsed fonts
    count = min(workers or _cpu_count(), len(briefings))
    pages: dict[str, int] = {}
    if count <= 1 or len(briefings) < PARALLEL_FROM:
        with tqdm(total=len(briefings), unit="briefing", desc="briefings",
                  disable=not progress) as bar:
            for b in briefings:
                pages[b.name] = _render_job(b, folder / f"{b.name}.pdf")
                bar.update()
        return pages
    methods = multiprocessing.get_all_start_methods()
    # fork shares the already-parsed fonts and modules; spawn would re-import everything
    context = multiprocessing.get_context("fork") if "fork" in methods else None
    # the largest first, so that no worker is left with a long one at the end
    order = sorted(range(len(briefings)), key=lambda i: -len(briefings[i].agreements))
    _FORKED[:] = briefings if context is not None else []
    with ProcessPoolExecutor(max_workers=count, mp_context=context,
                             initializer=_init_worker) as pool:
        futures: dict[Future[int], str] = {}
        for i in order:
            b, path = briefings[i], folder / f"{briefings[i].name}.pdf"
            future = (pool.submit(_render_forked, i, path) if context is not None
                      else pool.submit(_render_job, b, path))
            futures[future] = b.name
        # the bar's monitor thread starts only after the workers were forked
        with tqdm(total=len(briefings), unit="briefing", desc="briefings",
                  disable=not progress) as bar:
            for future in as_completed(futures):
                pages[futures[future]] = future.result()
                bar.update()
    _FORKED.clear()
    log.debug("rendered %d briefings with %d workers", len(briefings), count)
    return {name: pages[name] for name in names}


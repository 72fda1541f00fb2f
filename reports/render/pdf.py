"""Briefing -> PDF, drawn straight on a reportlab canvas; many briefings in parallel.

    pages = render_briefing(briefing, Path("out/briefings/overview.pdf"))
    rendered = render_briefings(briefings, Path("out/briefings"), progress=True)  # name -> Rendered

A briefing is A4 portrait: a first page that stands alone (title, as-of date and data
version, key figures, executive summary, charts), "Since the last briefing", the
agreements table, then one card per agreement. Big briefings (more than
`LARGE_BRIEFING` agreements) get cards for the `CARDS_IN_LARGE` most recent and the
table as an appendix: every agreement, or the `TABLE_ROWS_MAX` most recent.

The layout is this module's own (greedy word wrap with the font's metrics, page breaks
between lines, table rows and cards) rather than platypus: a data set of 100,000
agreements has thousands of briefings, and platypus' Paragraph parsing and wrapping
cost about 20 ms a page against about 2 ms here. It also means curated text is never
markup: it is measured and drawn as plain strings, so "<b>" prints as "<b>". Links
are made only for http(s) URLs. The same Briefing gives byte-identical files
(reportlab's invariant mode, dates from `briefing.as_of`, no wall-clock time anywhere).
"""

from __future__ import annotations

import gc
import hashlib
import io
import logging
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from tqdm import tqdm

from .. import processes
from ..briefings import (
    LARGE_BRIEFING,
    ORDER,
    TABLE_ROWS_MAX,
    Briefing,
    BriefingAgreement,
    BriefingParty,
)
from ..figures import as_of_phrase
from .charts import BarChart, bar_chart
from .fonts import FONT, FONT_BOLD, prepare_document, register_fonts
from .fonts import show_text as _show

log = logging.getLogger(__name__)

AUTHOR = "agreement-reports"
CARD_PARTIES_MAX = 20  # a card lists its parties one by one up to this many
NAMES_PER_ROLE = 12  # past that, each role's first names and a count
CELL_LINES = 2  # lines of a table cell, cut with … or "+ N more"; the cards show all
PARALLEL_FROM = 4  # fewer briefings than this render in-process: forking costs more

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 20 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 20 * mm
WIDTH = PAGE_WIDTH - 2 * MARGIN_X
TOP = PAGE_HEIGHT - MARGIN_TOP
BOTTOM = MARGIN_BOTTOM
FULL_PAGE = TOP - BOTTOM

INK = colors.HexColor("#22272d")
HEADING = colors.HexColor("#1f3a5f")
MUTED = colors.HexColor("#5f6b78")
RULE = colors.HexColor("#c9d1da")
FIGURE_BG = colors.HexColor("#edf2f8")
TABLE_HEADER_BG = colors.HexColor("#e3e7ec")
ZEBRA = colors.HexColor("#f5f7f9")
LINK = colors.HexColor("#1f5fa8")

_PAGE_COUNT_FORM = "pageCountAndVersion"
_MORE_CHANGES_FORM = "moreChanges"
_WORD = re.compile(r"\S+")


# ----------------------------------------------------------------- text
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
             "Parties": "Party", "Countries": "Country", "Targets": "Target",
             "countries": "country"}


def _figure_label(label: str, value: str) -> str:
    """'Agreements' for 7, 'Agreement' for 1; 'Partner countries' for 2, 'Partner country'
    for 1 (the first plural word: the rest says what it counts)."""
    if value.strip() != "1":
        return label
    words = label.split(" ")
    for i, word in enumerate(words):
        if word in _SINGULAR:
            words[i] = _SINGULAR[word]
            break
    return " ".join(words)


def _scope_label(b: Briefing) -> str:
    """What the briefing is about, for the page header."""
    if b.scope == "overview" or not b.subject:
        return b.dataset
    return f"{_cap(b.scope)} briefing · {b.subject}"


def _pdf_date(as_of: str) -> str:
    """'2024-11-27' -> PDF date 'D:20241127000000+00'00''; the run's as-of date, never now."""
    digits = "".join(ch for ch in as_of if ch.isdigit())[:8].ljust(8, "0")
    if digits.startswith("0000"):  # undated data: a fixed date, never today's
        digits = "19700101"
    if digits[4:6] == "00":
        digits = digits[:4] + "01" + digits[6:]
    if digits[6:8] == "00":
        digits = digits[:6] + "01"
    return f"D:{digits}000000+00'00'"


def _fit(text: str, width: float, size: float = 7.5, font: str = FONT) -> str:
    """`text` cut with … to fit `width` points on one line."""
    if stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)  # the longest prefix that fits with the ellipsis
    while low < high:
        mid = (low + high + 1) // 2
        if stringWidth(text[:mid] + "…", font, size) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + "…"


_WIDTHS: dict[tuple[str, str], float] = {}


def _word_width(word: str, font: str, size: float) -> float:
    """stringWidth of a word, remembered per process: names and theme words recur in
    thousands of table cells, and a dictionary look-up is several times cheaper."""
    key = (word, font)
    unit = _WIDTHS.get(key)
    if unit is None:
        if len(_WIDTHS) > 200_000:  # a bound on memory; the cache refills with what recurs
            _WIDTHS.clear()
        unit = _WIDTHS[key] = stringWidth(word, font, 1000.0) / 1000.0
    return unit * size


def _cut(word: str, font: str, size: float, width: float) -> list[str]:
    """A word wider than a line, cut between characters into pieces that fit."""
    pieces: list[str] = []
    start, used = 0, 0.0
    for i, ch in enumerate(word):
        w = stringWidth(ch, font, size)
        if used + w > width and i > start:
            pieces.append(word[start:i])
            start, used = i, 0.0
        used += w
    pieces.append(word[start:])
    return pieces


def _split(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap of plain text to `width` points; over-long words are cut."""
    if stringWidth(text, font, size) <= width and "\n" not in text:
        return [text]
    space = _word_width(" ", font, size)
    lines: list[str] = []
    current: list[str] = []
    used = 0.0
    for word in text.split():
        w = _word_width(word, font, size)
        if w > width:
            if current:
                lines.append(" ".join(current))
            *whole, last = _cut(word, font, size, width)
            lines += whole
            current, used = [last], stringWidth(last, font, size)
        elif current and used + space + w > width:
            lines.append(" ".join(current))
            current, used = [word], w
        else:
            used += w + (space if current else 0.0)
            current.append(word)
    if current:
        lines.append(" ".join(current))
    return lines or [""]


def _clip(lines: list[str], most: int, font: str, size: float, width: float) -> list[str]:
    """At most `most` lines; the last one kept ends with … when some were dropped."""
    if len(lines) <= most:
        return lines
    return [*lines[:most - 1], _fit(lines[most - 1] + " …", width, size, font)]


# ----------------------------------------------------------------- lines of mixed text
@dataclass(frozen=True)
class _Run:
    """A stretch of text in one font and colour, optionally a link."""

    text: str
    font: str = FONT
    color: Color = INK
    url: str = ""


@dataclass
class _Line:
    """One laid-out line: segments (x offset, text, font, colour, url) and its spacing."""

    segments: list[tuple[float, str, str, Color, str]]
    size: float
    leading: float
    before: float = 0.0
    after: float = 0.0
    indent: float = 0.0
    bullet: str = ""
    bookmark: tuple[str, str, int] | None = None  # (key, outline title, level)
    rule: bool = False  # a thin horizontal rule across the column instead of text

    @property
    def height(self) -> float:
        return self.before + self.leading + self.after


@dataclass(frozen=True)
class _Style:
    font: str
    size: float
    leading: float
    color: Color
    before: float = 0.0
    after: float = 0.0
    indent: float = 0.0


TITLE = _Style(FONT_BOLD, 19, 24, HEADING, after=4)
SUBTITLE = _Style(FONT, 9, 12, MUTED, after=12)
H1 = _Style(FONT_BOLD, 13.5, 17, HEADING, before=16, after=6)
H2 = _Style(FONT_BOLD, 10.5, 13.5, HEADING, before=2, after=2)
BODY = _Style(FONT, 9.5, 13.5, INK, after=4)
BULLET = _Style(FONT, 9.5, 13.5, INK, after=3, indent=11)
META = _Style(FONT, 8.5, 11.5, MUTED, after=4)
CHART_TITLE = _Style(FONT_BOLD, 9.5, 12, HEADING)
CHART_CAPTION = _Style(FONT, 7.5, 9.5, MUTED, after=5)
CELL = 7.5
CELL_LEADING = 9.5


def _paragraph(runs: Sequence[_Run] | str, style: _Style, width: float = WIDTH, *,
               bullet: str = "", bookmark: tuple[str, str, int] | None = None) -> list[_Line]:
    """Runs of text wrapped into lines of `width` points (less the style's indent)."""
    if isinstance(runs, str):
        runs = [_Run(runs, style.font, style.color)]
    size, room = style.size, width - style.indent
    # words with their style, and whether a space separates each from the one before
    words: list[tuple[str, _Run, bool]] = []
    gap = False
    for run in runs:
        for match in _WORD.finditer(run.text):
            spaced = gap or (match.start() > 0 and run.text[match.start() - 1].isspace())
            words.append((match.group(), run, spaced and bool(words)))
            gap = False
        if run.text and run.text[-1].isspace():
            gap = True
    lines: list[_Line] = []
    segments: list[tuple[float, str, str, Color, str]] = []
    x = 0.0

    def finish() -> None:
        nonlocal segments, x
        lines.append(_Line(segments, size, style.leading, indent=style.indent))
        segments, x = [], 0.0

    for word, run, spaced in words:
        space = _word_width(" ", run.font, size) if spaced and segments else 0.0
        w = _word_width(word, run.font, size)
        pieces = [word]
        if w > room:
            pieces = _cut(word, run.font, size, room)
        for n, piece in enumerate(pieces):
            w = stringWidth(piece, run.font, size) if len(pieces) > 1 else w
            if segments and (n or x + space + w > room):
                finish()
                space = 0.0
            last = segments[-1] if segments else None
            if last and last[2] == run.font and last[3] == run.color and last[4] == run.url:
                text = last[1] + (" " if space else "") + piece
                segments[-1] = (last[0], text, run.font, run.color, run.url)
            else:
                segments.append((x + space, piece, run.font, run.color, run.url))
            x += space + w
            space = 0.0
    if segments or not lines:
        finish()
    lines[0].before = style.before
    lines[0].bullet = bullet
    lines[0].bookmark = bookmark
    lines[-1].after = style.after
    return lines


# ----------------------------------------------------------------- canvas and pages
class _BriefingCanvas(Canvas):
    """Canvas in the embedded font whose dates are the briefing's as-of date.

    "page N of M" needs M before the last page exists: every footer refers to a form
    XObject that `save` fills in once the page count is known, so one pass suffices.
    """

    def __init__(self, target: io.BytesIO, briefing: Briefing, version: str) -> None:
        # reportlab's page preamble would otherwise select (and so list) Helvetica
        super().__init__(target, pagesize=A4, invariant=1, initialFontName=FONT, lang="en")
        prepare_document(self._doc)
        self.setDateFormatter(lambda *_: _pdf_date(briefing.as_of))
        self._footer_tail = f" · data version {version}"
        self.page_count = 0
        self.more_changes: tuple[int, int] | None = None  # (count, page) for the pointer
        self.setTitle(briefing.title)
        self.setAuthor(AUTHOR)
        self.setCreator(AUTHOR)
        self.setSubject(f"{_scope_label(briefing)}: {as_of_phrase(briefing.as_of)}, "
                        f"data version {version}")
        self.setKeywords(list(dict.fromkeys(k for k in briefing.keywords if k)))

    def save(self) -> None:
        self.page_count = self.getPageNumber() - 1
        self.beginForm(_PAGE_COUNT_FORM, lowerx=0, lowery=-3, upperx=PAGE_WIDTH, uppery=10)
        self.setFont(FONT, 7.5)
        self.setFillColor(MUTED)
        self.drawString(0, 0, f"{self.page_count}{self._footer_tail}")
        self.endForm()
        if self.more_changes is not None:  # page 1's pointer to the changes it had no room for
            count, page = self.more_changes
            self.beginForm(_MORE_CHANGES_FORM, lowerx=0, lowery=-3, upperx=PAGE_WIDTH,
                           uppery=12)
            self.setFont(FONT, BODY.size)
            self.setFillColor(INK)
            self.drawString(0, 0, f"… and {count:,} more change{'s' if count != 1 else ''}: "
                                  f"page {page}.")
            self.endForm()
        super().save()


@dataclass
class _Pen:
    """Draws from the top of the page down, starting a new page when a thing does not fit."""

    canv: _BriefingCanvas
    briefing: Briefing
    y: float = TOP
    page: int = 0
    filled: Color | None = None  # the canvas' fill colour when set through `fill`

    def fill(self, color: Color) -> None:
        """Set the fill colour, unless it is set already (setFillColor is not cheap)."""
        if color is not self.filled:
            self.canv.setFillColor(color)
            self.filled = color

    def start(self) -> None:
        self.page = 1
        self.furniture()

    def new_page(self) -> None:
        self.canv.showPage()
        self.filled = None  # a new page starts in the default colours
        self.page += 1
        self.y = TOP
        self.furniture()

    def room(self) -> float:
        return self.y - BOTTOM

    def need(self, height: float) -> None:
        """A new page unless `height` points fit here (or the page is still empty)."""
        if height > self.room() and self.y < TOP:
            self.new_page()

    def furniture(self) -> None:
        """Header (scope, as-of date) and footer ("page N of M · data version X")."""
        canv, b = self.canv, self.briefing
        left, right = MARGIN_X, PAGE_WIDTH - MARGIN_X
        head_y = PAGE_HEIGHT - MARGIN_TOP + 9 * mm
        canv.setFont(FONT, 7.5)
        self.fill(MUTED)
        as_of = _cap(as_of_phrase(b.as_of))
        room = right - left - stringWidth(as_of, FONT, 7.5) - 24
        canv.drawString(left, head_y, _fit(_scope_label(b), room))
        canv.drawRightString(right, head_y, as_of)
        canv.setStrokeColor(RULE)
        canv.setLineWidth(0.5)
        canv.line(left, head_y - 4, right, head_y - 4)
        foot_y = MARGIN_BOTTOM - 10 * mm
        canv.line(left, foot_y + 10, right, foot_y + 10)
        lead = f"page {self.page} of "
        canv.drawString(left, foot_y, lead)
        canv.saveState()
        canv.translate(left + stringWidth(lead, FONT, 7.5), foot_y)
        canv.doForm(_PAGE_COUNT_FORM)
        canv.restoreState()
        # the page count and version (the form) take at most about 150 points
        room = right - left - stringWidth(lead, FONT, 7.5) - 170
        canv.drawRightString(right, foot_y, _fit(b.dataset, room))

    def bookmark(self, key: str, title: str, level: int, top: float) -> None:
        self.canv.bookmarkPage(key, fit="XYZ", left=0, top=top)
        self.canv.addOutlineEntry(title, key, level=level, closed=level > 0)

    def lines(self, lines: Sequence[_Line], *, keep: bool = False, with_next: float = 0.0,
              x: float = MARGIN_X) -> None:
        """Draw `lines`; `keep` moves them to a new page together when they fit on one;
        `with_next` points more must fit below the first line (a heading's first words)."""
        if not lines:
            return
        if keep:
            total = sum(line.height for line in lines)
            if total <= FULL_PAGE:
                self.need(total)
        if with_next:
            self.need(lines[0].height + with_next)
        canv = self.canv
        for line in lines:
            if line.before + line.leading > self.room():
                self.new_page()
            top = self.y if self.y == TOP else self.y - line.before
            if line.bookmark:
                self.bookmark(*line.bookmark, top=top + 4)
            baseline = top - line.leading * 0.78
            if line.rule:
                canv.setStrokeColor(RULE)
                canv.setLineWidth(0.5)
                canv.line(x, top - line.leading / 2, x + WIDTH, top - line.leading / 2)
            if line.bullet:
                self.fill(INK)
                _show(canv, x + 1, baseline, line.bullet, FONT, line.size)
            for dx, text, font, color, url in line.segments:
                left = x + line.indent + dx
                self.fill(color)
                _show(canv, left, baseline, text, font, line.size)
                if url:
                    w = stringWidth(text, font, line.size)
                    canv.setStrokeColor(color)
                    canv.setLineWidth(0.5)
                    canv.line(left, baseline - 1.2, left + w, baseline - 1.2)
                    canv.linkURL(url, (left, baseline - 2.5, left + w, baseline + line.size),
                                 relative=0, thickness=0)
            self.y = top - line.leading - line.after


# ----------------------------------------------------------------- the briefing
class _Briefing:
    """Lays out and draws one briefing."""

    def __init__(self, briefing: Briefing, version: str, canv: _BriefingCanvas) -> None:
        self.b = briefing
        self.version = version
        self.pen = _Pen(canv, briefing)
        self.party_scope = briefing.scope in ("ministry", "company", "party", "country")
        self.card_count = 0  # numbers the cards' outline keys
        self.rest_of_changes: tuple[str, ...] = ()  # those page 1 had no room for

    def draw(self) -> None:
        self.body()
        self.changes_continued()

    def body(self) -> None:
        b, pen = self.b, self.pen
        pen.start()
        pen.lines(_paragraph(b.title, TITLE))
        pen.lines(_paragraph(f"{_cap(as_of_phrase(b.as_of))} · data version {self.version}",
                             SUBTITLE))
        self.figures()
        self.heading("Summary", "summary")
        for sentence in b.summary:
            pen.lines(_paragraph(sentence, BULLET, bullet="•"))
        self.changes()  # on page 1, with the summary: the first page stands alone
        if b.total > 1:  # empty: no empty charts; one: its card says more
            self.charts()
        heading = self.agreements_heading()
        self.heading(heading, "agreements")
        if b.total > 1:
            pen.lines(_paragraph(ORDER, META))

        if not b.agreements:
            pen.lines(_paragraph("No agreement is recorded for this briefing.", BODY))
            return
        if b.total > LARGE_BRIEFING:
            # a party with thousands of agreements: top lists above, a few cards, the table last
            cards = b.cards
            total = b.total
            pen.lines(_paragraph(
                f"Below are the {len(cards)} most recent of {total:,}; the appendix table "
                + ("lists all of them." if total <= TABLE_ROWS_MAX else
                   f"lists the {TABLE_ROWS_MAX:,} most recent and the workbook all of them."),
                BODY))
            self.cards(cards)
            title = (f"Appendix: all {total:,} {heading.lower()}" if total <= TABLE_ROWS_MAX
                     else f"Appendix: the {TABLE_ROWS_MAX:,} most recent of {total:,} "
                          f"{heading.lower()}")
            self.heading(title, "appendix")
            self.table()
        else:
            if b.total > 1:  # one agreement: its card says it all, on one page
                self.table()
            self.cards(b.cards)

    def heading(self, text: str, key: str, level: int = 0) -> None:
        self.pen.lines(_paragraph(text, H1, bookmark=(key, text, level)), with_next=40)

    def agreements_heading(self) -> str:
        return "Agreements and discussions" if self.b.has_discussions else "Agreements"

    def listed(self) -> Sequence[BriefingAgreement]:
        """The table's agreements: all of them, or the TABLE_ROWS_MAX most recent; the
        briefing's order is newest first already."""
        return self.b.agreements[:TABLE_ROWS_MAX]

    # -- first page
    def figures(self) -> None:
        figures = self.b.figures
        if not figures:
            return
        canv, pen = self.pen.canv, self.pen
        gap, height = 6.0, 44.0
        box = (WIDTH - gap * (len(figures) - 1)) / len(figures)
        pen.need(height)
        top = pen.y
        for i, (label, value) in enumerate(figures):
            left = MARGIN_X + i * (box + gap)
            pen.fill(FIGURE_BG)
            canv.rect(left, top - height, box, height, stroke=0, fill=1)
            middle = left + box / 2
            pen.fill(HEADING)
            canv.setFont(FONT_BOLD, 18)
            canv.drawCentredString(middle, top - 24, _fit(value, box - 4, 18, FONT_BOLD))
            pen.fill(MUTED)
            # the label whole, as the workbook spells it: smaller type rather than cut
            text, size = _figure_label(label, value), 8.0
            while size > 6 and stringWidth(text, FONT, size) > box - 4:
                size -= 0.5
            canv.setFont(FONT, size)
            canv.drawCentredString(middle, top - 36, _fit(text, box - 4, size))
        pen.y = top - height - 4

    def chart_specs(self) -> list[tuple[str, str, Sequence[tuple[str, int]]]]:
        """(title, caption, pairs) of each chart worth showing, in reading order."""
        b = self.b
        specs: list[tuple[str, str, Sequence[tuple[str, int]]]] = []
        themes = b.by_theme
        # in a theme's own briefing a chart of only that theme says nothing new
        if b.scope == "theme":  # a theme's own briefing: its finer themes instead
            if b.subthemes:
                specs.append(("By finer theme", "Agreements under each finer theme",
                              b.subthemes))
        else:
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

    def charts(self) -> None:
        """The charts two by two: half the page width each, so bars stay short."""
        gap = 16.0
        half = (WIDTH - gap) / 2
        blocks: list[tuple[list[_Line], BarChart]] = []
        for title, caption, pairs in self.chart_specs():
            chart = bar_chart(pairs, half)
            if chart is not None:
                lines = _paragraph(title, CHART_TITLE, half) + _paragraph(caption, CHART_CAPTION,
                                                                            half)
                blocks.append((lines, chart))
        pen = self.pen
        pen.y -= 10
        for i in range(0, len(blocks), 2):
            pair = blocks[i:i + 2]
            height = max(sum(ln.height for ln in lines) + chart.height for lines, chart in pair)
            pen.need(height + 12)
            top = pen.y
            for n, (lines, chart) in enumerate(pair):
                pen.y = top
                x = MARGIN_X + n * (half + gap)
                pen.lines(lines, x=x)
                chart.draw(pen.canv, x, pen.y)
                pen.filled = None  # the chart set colours of its own
            pen.y = top - height - 12

    def changes(self) -> None:
        """'Since the last briefing' on page 1: as many lines as fit there (they come most
        important first), then a pointer to the page where the rest continue."""
        pen = self.pen
        self.heading("Since the last briefing", "changes")
        changes = self.b.changes
        if changes is None:
            pen.lines(_paragraph("This is the first briefing: there is no earlier run to "
                                 "compare with.", BODY))
            return
        if not changes:
            pen.lines(_paragraph("No change since the last briefing.", BODY))
            return
        paragraphs = [_paragraph(line, BULLET, bullet="•") for line in changes]
        pointer = BODY.leading + 4
        for n, lines in enumerate(paragraphs):
            height = sum(line.height for line in lines)
            rest = len(paragraphs) - n - 1
            if pen.page == 1 and height + (pointer if rest else 0) > pen.room():
                self.rest_of_changes = changes[n:]
                canv = pen.canv
                canv.saveState()
                canv.translate(MARGIN_X, pen.y - BODY.leading * 0.78)
                canv.doForm(_MORE_CHANGES_FORM)
                canv.restoreState()
                pen.y -= pointer
                return
            pen.lines(lines)

    def changes_continued(self) -> None:
        """The changes page 1 had no room for, at the end; page 1 points here."""
        if not self.rest_of_changes:
            return
        pen = self.pen
        pen.need(60)
        self.heading("Since the last briefing, continued", "changes-continued")
        pen.canv.more_changes = (len(self.rest_of_changes), pen.page)
        for line in self.rest_of_changes:
            pen.lines(_paragraph(line, BULLET, bullet="•"))

    # -- the agreements
    def partners_of(self, a: BriefingAgreement) -> list[BriefingParty]:
        """The parties to list in the table: all of them, or in a party's briefing the others."""
        if not self.party_scope:
            return list(a.parties)
        if self.b.scope == "country":
            return [p for p in a.parties if p.country.lower() != self.b.subject_id]
        return [p for p in a.parties if p.party_id != self.b.subject_id and not p.via]

    def own_part(self, a: BriefingAgreement) -> list[BriefingParty]:
        """In a party's briefing: its own participations and those of the parties below it."""
        if not self.party_scope:
            return []
        if self.b.scope == "country":
            return [p for p in a.parties if p.country.lower() == self.b.subject_id]
        return [p for p in a.parties if p.party_id == self.b.subject_id or p.via]

    def via_sentence(self, a: BriefingAgreement) -> str:
        """e.g. 'Ministry of Economy took part itself and via …', or "" when only directly."""
        own = self.own_part(a)
        if self.b.scope == "country":
            names = list(dict.fromkeys(p.name for p in own))
            return f"From {self.b.subject}: {', '.join(names)}." if names else ""
        via = list(dict.fromkeys(p.via for p in own if p.via))
        if not via:
            return ""
        itself = "itself and " if any(p.party_id == self.b.subject_id for p in own) else ""
        joined = ", ".join(via[:-1]) + " and " + via[-1] if len(via) > 1 else via[0]
        return f"{self.b.subject} took part {itself}via {joined}."

    def column_widths(self, agreements: Sequence[BriefingAgreement]) -> list[float]:
        """Kind, date and status as wide as their longest word (capped); the rest shared out."""
        pad = 8.5

        def fit(texts: Iterable[str], head: str, cap: float) -> float:
            words = {w for t in texts for w in t.split()}
            widest = max((stringWidth(w, FONT, CELL) for w in words), default=0.0)
            return min(max(widest, stringWidth(head, FONT_BOLD, CELL)) + pad, WIDTH * cap)

        kind = fit((_cap(_words(a.kind)) for a in agreements), "Kind", 0.15)
        date = fit((a.signed_on for a in agreements), "Date", 0.12)
        status = fit((_cap(_words(a.status)) for a in agreements), "Status", 0.13)
        rest = WIDTH - kind - date - status
        return [rest * 0.38, kind, date, rest * 0.37, rest * 0.25, status]

    def names_cell(self, a: BriefingAgreement, width: float) -> list[tuple[float, str]]:
        """The partners on at most two lines, ending "+ N more" with N exactly the partners
        not shown. In a party's briefing its own part (via a party below it, inferred) comes
        first and is never counted among its partners."""
        # a country's own parties are in the card: the cell is for its partners
        own = self.own_part(a) if self.b.scope != "country" else []
        notes = [f"via {v}" for v in dict.fromkeys(p.via for p in own if p.via)]
        notes += [("its part inferred" if p.party_id == self.b.subject_id
                   else f"inferred: {p.name}") for p in own if p.certainty == "inferred"]
        names = [p.name + (" (inferred)" if p.certainty == "inferred" else "")
                 for p in self.partners_of(a)]
        if not names and not notes:
            return [(0.0, "–")]
        lead = "; ".join(notes) + ("; " if notes and names else "")

        def lines_with(shown: int) -> list[str]:
            rest = f" + {len(names) - shown} more" if shown < len(names) else ""
            return _split(lead + ", ".join(names[:shown]) + rest, FONT, CELL, width)

        lines = lines_with(len(names))
        if len(lines) > CELL_LINES and names:
            low, high = 1, len(names) - 1  # the most names that fit, by bisection
            while low < high:
                middle = (low + high + 1) // 2
                if len(lines_with(middle)) <= CELL_LINES:
                    low = middle
                else:
                    high = middle - 1
            lines = lines_with(low)
            if len(lines) > CELL_LINES:  # even one name is too long: cut it, keep the count
                rest = f" + {len(names) - low} more" if low < len(names) else ""
                room = width - stringWidth(rest, FONT, CELL)  # the count fits after it
                body = _clip(_split(lead + ", ".join(names[:low]), FONT, CELL, width),
                             CELL_LINES, FONT, CELL, room)
                lines = [*body[:-1], _fit(body[-1], room, CELL) + rest]
        return [(0.0, line) for line in _clip(lines, CELL_LINES, FONT, CELL, width)]

    def table(self) -> None:
        pen, canv = self.pen, self.pen.canv
        listed = self.listed()
        widths = self.column_widths(listed)
        inner = [w - 8 for w in widths]
        head = ["Title", "Kind", "Date", "Partners" if self.party_scope else "Parties",
                "Themes", "Status"]
        pad_top, pad_bottom = 3.0, 4.0
        header_h = CELL_LEADING + pad_top + pad_bottom

        def plain(text: str, col: int, most: int) -> list[tuple[float, str]]:
            lines = _clip(_split(text, FONT, CELL, inner[col]), most, FONT, CELL, inner[col])
            return [(0.0, line) for line in lines]

        def header() -> None:
            top = pen.y
            pen.fill(TABLE_HEADER_BG)
            canv.rect(MARGIN_X, top - header_h, WIDTH, header_h, stroke=0, fill=1)
            pen.fill(INK)
            x = MARGIN_X
            for text, w in zip(head, widths, strict=True):
                _show(canv, x + 4, top - pad_top - CELL_LEADING * 0.78, text, FONT_BOLD, CELL)
                x += w
            canv.setStrokeColor(RULE)
            canv.setLineWidth(0.6)
            canv.line(MARGIN_X, top - header_h, MARGIN_X + WIDTH, top - header_h)
            pen.y = top - header_h

        def row_cells(a: BriefingAgreement) -> list[list[tuple[float, str]]]:
            return [
                plain(a.title, 0, CELL_LINES),
                plain(_cap(_words(a.kind)), 1, CELL_LINES),
                plain(a.signed_on or "–", 2, 1),
                self.names_cell(a, inner[3]),
                plain(", ".join(a.themes) or "–", 4, CELL_LINES),
                plain(_cap(_words(a.status)) or "–", 5, CELL_LINES),
            ]

        rows = [row_cells(a) for a in listed]
        seen = Counter(repr(cells) for cells in rows)
        for i, a in enumerate(listed):
            if seen[repr(rows[i])] > 1:  # rows that read the same: the id tells them apart
                rows[i][0] = plain(a.title, 0, CELL_LINES - 1) + plain(
                    f"id {a.agreement_id}", 0, 1)
        pen.need(header_h + 3 * CELL_LEADING)
        header()
        heights = [max(len(c) for c in cells) * CELL_LEADING + pad_top + pad_bottom
                   for cells in rows]
        for n, cells in enumerate(rows):
            row_h = heights[n]
            # never the last row alone on a new page: the two last ones go together
            last_two = n == len(rows) - 2 and n > 0 and row_h + heights[-1] > pen.room()
            if row_h > pen.room() or last_two:
                canv.setStrokeColor(RULE)
                canv.line(MARGIN_X, pen.y, MARGIN_X + WIDTH, pen.y)
                pen.new_page()
                header()
            top = pen.y
            if n % 2:
                pen.fill(ZEBRA)
                canv.rect(MARGIN_X, top - row_h, WIDTH, row_h, stroke=0, fill=1)
            pen.fill(INK)
            x = MARGIN_X
            for cell, w in zip(cells, widths, strict=True):
                baseline = top - pad_top - CELL_LEADING * 0.78
                for indent, line in cell:
                    _show(canv, x + 4 + indent, baseline, line, FONT, CELL)
                    baseline -= CELL_LEADING
                x += w
            pen.y = top - row_h
        canv.setStrokeColor(RULE)
        canv.setLineWidth(0.6)
        canv.line(MARGIN_X, pen.y, MARGIN_X + WIDTH, pen.y)
        if self.b.total > len(listed):
            rest = self.b.total - len(listed)
            pen.y -= 6
            pen.lines(_paragraph(
                f"… and {rest:,} more, earlier or undated, listed in the workbook "
                "(agreements.xlsx): filter its Participation or AgreementThemes table by "
                "this briefing's id.", BODY))
        pen.y -= 14

    def cards(self, agreements: Sequence[BriefingAgreement]) -> None:
        """Each card kept on one page, unless that would leave much of this page empty:
        then it flows on to the next."""
        pen = self.pen
        for a in agreements:
            lines = self.card(a, self.card_count)
            height = sum(line.height for line in lines)
            flows = height > pen.room() and pen.room() > FULL_PAGE * 0.35
            pen.lines(lines, keep=not flows)
            self.card_count += 1

    def card(self, a: BriefingAgreement, n: int) -> list[_Line]:
        meta = [_cap(_words(a.kind)), a.signed_on or "undated", _words(a.status),
                ", ".join(x for x in (a.event, a.location) if x)]
        out = [_Line([], 0.0, 0.5, before=6, after=8, rule=True)]
        out += _paragraph(a.title, H2, bookmark=(f"agreement-{n}", a.title, 1))
        out += _paragraph(" · ".join(m for m in meta if m), META)
        via = self.via_sentence(a)
        if via:
            out += _paragraph(via, META)
        if a.summary:
            out += _paragraph(a.summary, BODY)
        if len(a.parties) > CARD_PARTIES_MAX:
            out += self.many_parties(a)
        elif a.parties:
            out += _paragraph([_Run("Parties", FONT_BOLD)], BODY)
            for p in a.parties:
                out += _paragraph(self.party_line(p), BULLET, bullet="•")
        if a.themes:
            label = "Theme: " if len(a.themes) == 1 else "Themes: "
            out += _paragraph([_Run(label, FONT_BOLD), _Run(", ".join(a.themes))], BODY)
        if a.targets:
            out += _paragraph([_Run("Target" if len(a.targets) == 1 else "Targets",
                                    FONT_BOLD)], BODY)
            for t in a.targets:
                out += _paragraph(t.text, BULLET, bullet="•")
        for source in a.sources:
            out += _paragraph(self.source_line(source.publisher, source.title, source.url,
                                               source.published_on), META)
        return out

    def many_parties(self, a: BriefingAgreement) -> list[_Line]:
        """A treaty's parties by role, with a count per role and the first few names of
        each: a card of 190 parties stays within a page."""
        roles: dict[str, list[BriefingParty]] = {}
        for p in a.parties:
            roles.setdefault(p.role, []).append(p)
        out = _paragraph([_Run(f"Parties ({len(a.parties):,}), by role", FONT_BOLD)], BODY)
        for role, parties in roles.items():
            shown = parties[:NAMES_PER_ROLE]
            text = ", ".join(p.name + (" (inferred)" if p.certainty == "inferred" else "")
                             for p in shown)
            runs = [_Run(f"{_cap(_words(role))} ({len(parties):,}): ", FONT_BOLD), _Run(text)]
            if len(parties) > len(shown):
                runs.append(_Run(f" + {len(parties) - len(shown):,} more", color=MUTED))
            out += _paragraph(runs, BULLET, bullet="•")
        out += _paragraph(f"Every party and its role: the workbook's Participation table, "
                          f"agreement_id {a.agreement_id}.", META)
        return out

    def party_line(self, p: BriefingParty) -> list[_Run]:
        runs = [_Run(p.name, FONT_BOLD), _Run(f" — {_words(p.role)}")]
        if p.certainty == "inferred":
            runs.append(_Run(" (inferred)", color=MUTED))
        if p.via and self.b.subject:
            # p.via names the member itself; say where it sits instead of repeating it
            runs.append(_Run(f" · below {self.b.subject}"))
        if p.note:
            runs.append(_Run(f": {p.note}", color=MUTED))
        return runs

    @staticmethod
    def source_line(publisher: str, title: str, url: str, published_on: str) -> list[_Run]:
        link = url if _is_web_url(url) else ""
        runs = [_Run("Source: ", color=MUTED)]
        parts: list[_Run] = []
        if publisher:
            parts.append(_Run(publisher, color=MUTED))
        if title:
            parts.append(_Run(f"“{title}”", color=LINK if link else MUTED, url=link))
        if published_on:
            parts.append(_Run(published_on, color=MUTED))
        for i, part in enumerate(parts):
            if i:
                runs.append(_Run(", ", color=MUTED))
            runs.append(part)
        if link:
            runs += [_Run(" · ", color=MUTED), _Run(url, color=LINK, url=link)]
        return runs


# ----------------------------------------------------------------- entry points
class Rendered(NamedTuple):
    """What rendering one briefing made: the file's pages, size and SHA-256, and the
    briefing's data version (computed for the footer, so nobody computes it again)."""

    pages: int
    version: str
    bytes: int
    sha256: str


def render_briefing(briefing: Briefing, path: Path) -> int:
    """Write one briefing as a PDF at `path`; returns its number of pages.

    The file is written in one go once the PDF is complete, so a failed render leaves
    no half-written file. Identical briefings give identical bytes.
    """
    return _render(briefing, path).pages


def _render(briefing: Briefing, path: Path) -> Rendered:
    register_fonts()
    rl_config.invariant = 1  # no time stamps nor random file ids in the PDF
    buffer = io.BytesIO()
    version = briefing.version
    canv = _BriefingCanvas(buffer, briefing, version)
    _Briefing(briefing, version, canv).draw()
    canv.showPage()
    canv.save()
    data = buffer.getvalue()
    Path(path).write_bytes(data)
    return Rendered(canv.page_count, version, len(data), hashlib.sha256(data).hexdigest())


def _init_worker(parent: int) -> None:
    processes.die_with_parent(parent)
    processes.lower_priority(processes.RENDER_NICENESS)
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


def _render_forked(index: int, path: Path) -> Rendered:
    return _render_job(_FORKED[index], path)


def _render_job(briefing: Briefing, path: Path) -> Rendered:
    try:
        return _render(briefing, path)
    except Exception as exc:
        exc.add_note(f"while rendering the briefing '{briefing.name}'")
        raise


def render_briefings(briefings: list[Briefing], folder: Path, *, workers: int | None = None,
                     progress: bool = False) -> dict[str, Rendered]:
    """Render each briefing to `folder/<name>.pdf`; returns name -> Rendered, in input order.

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
    done: dict[str, Rendered] = {}
    if count <= 1 or len(briefings) < PARALLEL_FROM:
        with tqdm(total=len(briefings), unit="briefing", desc="briefings",
                  disable=not progress) as bar:
            for b in briefings:
                done[b.name] = _render_job(b, folder / f"{b.name}.pdf")
                bar.update()
        return done
    # fork shares the already-parsed fonts and modules; spawn re-imports everything and
    # is given each briefing pickled
    forked = processes.fork_available()
    context = multiprocessing.get_context("fork" if forked else "spawn")
    # the largest first, so that no worker is left with a long one at the end
    order = sorted(range(len(briefings)), key=lambda i: -briefings[i].total)
    _FORKED[:] = briefings if forked else []
    others = set(multiprocessing.active_children())  # e.g. the workbook writer: not ours
    pool = ProcessPoolExecutor(max_workers=count, mp_context=context,
                               initializer=_init_worker, initargs=(os.getpid(),))
    try:
        futures: dict[Future[Rendered], str] = {}
        # the workers are forked at the first submit: frozen objects are left alone by
        # the cyclic GC, so their pages stay shared with this process (see gc.freeze)
        gc.freeze()
        try:
            with processes.signals_held():  # a Ctrl-C during the forks waits for their end
                for i in order:
                    b, path = briefings[i], folder / f"{briefings[i].name}.pdf"
                    future = (pool.submit(_render_forked, i, path) if forked
                              else pool.submit(_render_job, b, path))
                    futures[future] = b.name
        finally:
            gc.unfreeze()
        # the bar's monitor thread starts only after the workers were forked
        with tqdm(total=len(briefings), unit="briefing", desc="briefings",
                  disable=not progress) as bar:
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                bar.update()
    except BaseException:
        # a failed briefing, Ctrl-C or SIGTERM: stop the workers now rather than wait for
        # every queued briefing (which shutdown(wait=True) would do)
        pool.shutdown(wait=False, cancel_futures=True)
        processes.stop_children(keep=others)
        raise
    finally:
        _FORKED.clear()
    pool.shutdown()
    log.debug("rendered %d briefings with %d workers", len(briefings), count)
    return {name: done[name] for name in names}


"""Small vector bar charts for the briefings, drawn straight on a reportlab canvas.

    chart = bar_chart([("Green economy", 5), ("SMEs", 2)], width=230)
    if chart is not None:
        chart.draw(canvas, x, top)      # chart.height points below `top`

Bars are drawn from canvas primitives rather than reportlab.graphics: the labels here
are long names (wrapped on two lines, right-aligned to the axis), the row height
follows the label, and thousands of briefings each carry four charts, so the shape
objects of reportlab.graphics (about 1 ms a chart) were a cost worth removing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from .fonts import FONT, register_fonts, show_text

BAR = colors.HexColor("#3d6e9e")
AXIS = colors.HexColor("#b8c2cc")
LABEL = colors.HexColor("#2b2f33")
MUTED = colors.HexColor("#6b7580")

MAX_BARS = 10


def _wrap(text: str, width: float, size: float, lines: int = 2) -> list[str]:
    """`text` on at most `lines` lines of `width` points, shortened with … if need be.

    A trailing short name in brackets is kept when the name is cut: "Small and Medium
    Business… (KOBİA)" says more than "Small and Medium Business Development A…".
    """
    parts = simpleSplit(text, FONT, size, width) or [""]
    if len(parts) <= lines:
        return parts
    head, bracket, short = text.rpartition(" (")
    if bracket and short.endswith(")"):
        words = head.split()
        for keep in range(len(words) - 1, 0, -1):
            candidate = simpleSplit(f"{' '.join(words[:keep])}… ({short}", FONT, size, width)
            if len(candidate) <= lines:
                return candidate
    # never mid-word: whole words dropped from the end of the last line
    words = " ".join(parts[lines - 1:]).split()
    while len(words) > 1 and stringWidth(" ".join(words) + "…", FONT, size) > width:
        words.pop()
    last = " ".join(words)
    while last and stringWidth(last + "…", FONT, size) > width:  # one word wider than all
        last = last[:-1]
    return [*parts[:lines - 1], last.rstrip() + "…"]


def _range(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,} each" if low == high else f"{low:,} to {high:,} each"


@dataclass(frozen=True)
class BarChart:
    """A laid-out horizontal bar chart: `width` x `height` points, drawn by `draw`."""

    width: float
    height: float
    rows: tuple[tuple[tuple[str, ...], int, float], ...]  # label lines, value, row height
    top_value: int
    label_room: float
    axis_x: float
    bar_room: float
    bar_h: float
    font_size: float
    leading: float
    others: str  # "+ 20 others (1 each)" or ""

    def draw(self, canv: Canvas, x: float, top: float) -> None:
        """Draw with the chart's top-left corner at (x, top)."""
        size, leading = self.font_size, self.leading
        y = top - 1
        for lines, value, row_h in self.rows:
            middle = y - row_h / 2
            # the label block is centred on the bar, its lines top to bottom
            first = middle + (len(lines) - 1) * leading / 2 - size * 0.35
            canv.setFillColor(LABEL)
            for i, line in enumerate(lines):
                right = x + self.label_room - stringWidth(line, FONT, size)
                show_text(canv, right, first - i * leading, line, FONT, size)
            length = self.bar_room * value / self.top_value if self.top_value else 0
            show_text(canv, x + self.axis_x + length + 3, middle - size * 0.35, f"{value:,}", FONT,
                      size)
            if length:
                canv.setFillColor(BAR)
                canv.rect(x + self.axis_x, middle - self.bar_h / 2, length, self.bar_h,
                          stroke=0, fill=1)
            y -= row_h
        canv.setStrokeColor(AXIS)
        canv.setLineWidth(0.6)
        canv.line(x + self.axis_x, y, x + self.axis_x, top - 1)
        if self.others:
            canv.setFillColor(MUTED)
            show_text(canv, x + self.axis_x, y - leading + 1, self.others, FONT, size)


def bar_chart(pairs: Sequence[tuple[str, int]], width: float, *, max_bars: int = MAX_BARS,
              font_size: float = 7.5) -> BarChart | None:
    """A horizontal bar chart of (label, value) pairs, `width` points wide, in the given order.

    Each bar carries its value; labels wrap on two lines. Beyond `max_bars` rows the
    rest is one line "+ N others (1 to 2 each)" rather than a bar, because summing the
    others' counts would count an agreement once per party. Returns None when there
    is nothing to draw (no pairs, or every value zero): the caller leaves the chart out.
    """
    if not pairs or not any(value for _, value in pairs):
        return None
    register_fonts()
    shown = list(pairs)
    hidden: list[tuple[str, int]] = []
    if len(shown) > max_bars + 1:  # hiding a single row would save nothing
        shown, hidden = shown[:max_bars], shown[max_bars:]
    top = max(value for _, value in shown)
    leading = font_size * 1.2
    value_room = stringWidth(f"{top:,}", FONT, font_size) + 6
    widest = max(stringWidth(label, FONT, font_size) for label, _ in shown)
    label_room = min(widest, width * 0.45)
    axis_x = label_room + 6.0
    bar_room = max(width - axis_x - value_room, 10.0)
    bar_h = min(10.0, font_size + 2.5)
    rows = []
    for label, value in shown:
        lines = tuple(_wrap(label, label_room, font_size, 3))
        rows.append((lines, value, max(bar_h + 5, len(lines) * leading + 4)))
    others = f"+ {len(hidden):,} others ({_range([v for _, v in hidden])})" if hidden else ""
    height = sum(h for _, _, h in rows) + (leading + 4 if hidden else 0.0) + 2
    return BarChart(width=width, height=height, rows=tuple(rows), top_value=top,
                    label_room=label_room, axis_x=axis_x, bar_room=bar_room, bar_h=bar_h,
                    font_size=font_size, leading=leading, others=others)

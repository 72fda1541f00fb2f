"""Small vector charts for the briefings, drawn with reportlab.graphics in the embedded font.

    drawing = bar_chart([("Green economy", 5), ("SMEs", 2)], width=230)
    if drawing is not None:
        story.append(drawing)          # a Drawing is a platypus Flowable

Bars are drawn from shapes rather than reportlab's HorizontalBarChart because the
labels here are long names (wrapped on two lines, right-aligned to the axis) and the
row height follows the label, which the stock chart does not do.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth

from .fonts import FONT, FONT_ITALIC, register_fonts

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
    last = " ".join(parts[lines - 1:])
    while last and stringWidth(last + "…", FONT, size) > width:
        last = last[:-1]
    return [*parts[:lines - 1], last.rstrip() + "…"]


def _range(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low} each" if low == high else f"{low} to {high} each"


def bar_chart(pairs: Sequence[tuple[str, int]], width: float, *, max_bars: int = MAX_BARS,
              font_size: float = 7.5) -> Drawing | None:
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
    value_room = stringWidth(str(top), FONT, font_size) + 6
    widest = max(stringWidth(label, FONT, font_size) for label, _ in shown)
    label_room = min(widest, width * 0.45)
    gap = 6.0
    axis_x = label_room + gap
    bar_room = max(width - axis_x - value_room, 10.0)
    bar_h = min(10.0, font_size + 2.5)

    rows = [(_wrap(label, label_room, font_size), value) for label, value in shown]
    heights = [max(bar_h + 5, len(lines) * leading + 4) for lines, _ in rows]
    footer = leading + 4 if hidden else 0.0
    height = sum(heights) + footer + 2
    # the drawing's default state would otherwise select (and so list) Helvetica
    drawing = Drawing(width, height, initialFontName=FONT, initialFontSize=font_size)

    y = height - 1
    for (lines, value), row_h in zip(rows, heights, strict=True):
        middle = y - row_h / 2
        # the label block is centred on the bar, its lines top to bottom
        first = middle + (len(lines) - 1) * leading / 2 - font_size * 0.35
        for i, line in enumerate(lines):
            drawing.add(String(label_room, first - i * leading, line, fontName=FONT,
                               fontSize=font_size, fillColor=LABEL, textAnchor="end"))
        length = bar_room * value / top if top else 0
        if length:
            drawing.add(Rect(axis_x, middle - bar_h / 2, length, bar_h, fillColor=BAR,
                             strokeColor=None, strokeWidth=0))
        drawing.add(String(axis_x + length + 3, middle - font_size * 0.35, str(value),
                           fontName=FONT, fontSize=font_size, fillColor=LABEL))
        y -= row_h
    drawing.add(Line(axis_x, y, axis_x, height - 1, strokeColor=AXIS, strokeWidth=0.6))
    if hidden:
        text = f"+ {len(hidden)} others ({_range([v for _, v in hidden])})"
        drawing.add(String(axis_x, y - leading + 1, text, fontName=FONT_ITALIC,
                           fontSize=font_size, fillColor=MUTED))
    return drawing

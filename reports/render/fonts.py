"""The briefings' one Unicode font family, DejaVu Sans, embedded from matplotlib's package data.

matplotlib's wheel ships DejaVu Sans in four styles (under its own free licence), so
every machine with the project installed has the same font; no path on one machine.
matplotlib itself is never imported (that costs a second): only its data folder is used.

    register_fonts()            # once per process; cheap when repeated
    style.fontName = FONT       # regular; <b>/<i> in Paragraph markup pick the others
    missing_glyphs("中")        # "'中' (U+4E2D)": what would print as an empty box
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FAMILY = "DejaVuSans"
FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
FONT_ITALIC = "DejaVuSans-Oblique"
FONT_BOLD_ITALIC = "DejaVuSans-BoldOblique"

# reportlab font name -> file in matplotlib's mpl-data/fonts/ttf
_FILES = {
    FONT: "DejaVuSans.ttf",
    FONT_BOLD: "DejaVuSans-Bold.ttf",
    FONT_ITALIC: "DejaVuSans-Oblique.ttf",
    FONT_BOLD_ITALIC: "DejaVuSans-BoldOblique.ttf",
}


class FontNotFound(RuntimeError):
    """matplotlib (which carries the DejaVu Sans files) is not installed or lacks them."""


def font_folder() -> Path:
    """The folder holding DejaVuSans*.ttf inside the installed matplotlib package."""
    spec = importlib.util.find_spec("matplotlib")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "mpl-data" / "fonts" / "ttf"
        if all((folder / name).is_file() for name in _FILES.values()):
            return folder
    raise FontNotFound(
        "DejaVu Sans not found: the briefings embed it from matplotlib's package data; "
        "install the project's dependencies (pip install matplotlib)")


@cache
def register_fonts() -> None:
    """Register DejaVu Sans regular/bold/oblique/bold-oblique with reportlab, once.

    Raises FontNotFound when matplotlib's font files are missing. Repeated calls
    return at once (the result is cached per process, and a forked worker inherits it).
    """
    folder = font_folder()
    for name, file in _FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    # so that <b> and <i> in Paragraph markup switch to the matching face
    pdfmetrics.registerFontFamily(FAMILY, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC,
                                  boldItalic=FONT_BOLD_ITALIC)


@cache
def _covered() -> frozenset[int]:
    """Code points the regular face has a glyph for (bold and oblique cover no fewer here)."""
    register_fonts()
    font = pdfmetrics.getFont(FONT)
    assert isinstance(font, TTFont)
    return frozenset(code for code, glyph in font.face.charToGlyph.items() if glyph)


def missing_glyphs(text: str) -> str:
    """The distinct characters of `text` the briefings' font cannot print, or "".

    Whitespace is ignored. Each character is named with its code point, in order of
    first appearance, e.g. "'中' (U+4E2D), '😀' (U+1F600)". Used by validation as its
    `can_print` hook, so it is fast: ASCII is skipped and the covered set is cached.
    """
    if text.isascii():
        return ""
    covered = _covered()
    missing = dict.fromkeys(
        ch for ch in text if ord(ch) > 127 and not ch.isspace() and ord(ch) not in covered)
    return ", ".join(f"'{ch}' (U+{ord(ch):04X})" for ch in missing)

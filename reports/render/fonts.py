"""The briefings' one Unicode font, DejaVu Sans, shipped with the project.

The regular and bold faces of DejaVu Sans (version 2.35) lie beside this module in fonts/,
with their licence (which allows redistribution): every install has the same font,
and nothing is looked up on the machine or downloaded.

    register_fonts()            # once per process; cheap when repeated
    missing_glyphs("中")        # "'中' (U+4E2D)": what would print as an empty box
    prepare_document(doc)       # before drawing: fixed codes for COMMON_CHARACTERS
    show_text(canvas, x, y, "Şəki", FONT, 9)   # drawString, faster
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfdoc, pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"

# reportlab font name -> file in the fonts/ folder beside this module
_FILES = {
    FONT: "DejaVuSans.ttf",
    FONT_BOLD: "DejaVuSans-Bold.ttf",
}
FONT_FOLDER = Path(__file__).resolve().parent / "fonts"


class FontNotFound(RuntimeError):
    """The project's font files are missing (an incomplete install)."""


def font_folder() -> Path:
    """The folder holding the project's DejaVuSans*.ttf."""
    if all((FONT_FOLDER / name).is_file() for name in _FILES.values()):
        return FONT_FOLDER
    raise FontNotFound(f"DejaVu Sans not found in {FONT_FOLDER}: the install is incomplete; "
                       "install the project again")


@cache
def register_fonts() -> None:
    """Register DejaVu Sans regular and bold with reportlab, once.

    Raises FontNotFound when the project's font files are missing. Repeated calls
    return at once (the result is cached per process, and a forked worker inherits it).
    """
    folder = font_folder()
    for name, file in _FILES.items():
        pdfmetrics.registerFont(_CachedTTFont(name, str(folder / file)))


@cache
def _covered() -> frozenset[int]:
    """Code points the regular face has a glyph for (bold covers no fewer here)."""
    register_fonts()
    font = pdfmetrics.getFont(FONT)
    assert isinstance(font, TTFont)
    return frozenset(code for code, glyph in font.face.charToGlyph.items() if glyph)


@cache
def _printable_characters() -> frozenset[str]:
    """ASCII and the characters the regular face has a glyph for: what missing_glyphs
    never names."""
    return frozenset(map(chr, range(128))) | frozenset(map(chr, _covered()))


# Characters given codes in every document before anything is drawn, in this order, so
# that the first 256-glyph subset of a font is the same in nearly every briefing and its
# subset font program is built and compressed once per process, not once per PDF
# (about 2 ms a briefing: thousands of briefings at 100,000 agreements). Punctuation
# the briefings print themselves, then the letters of the names most often curated;
# all in the first subset (161 free codes), with room left for a few others.
COMMON_CHARACTERS = (
    "·•–—…“”‘’«»→€£°±×"
    + "".join(chr(c) for c in range(0xC0, 0x100) if c not in (0xD7, 0xF7))
    + "ĞğİıŞşƏəĀāĂăĄąĆćČčĎďĐđĒēĖėĘęĚěĪīĽľŁłŃńŇňŌōŐőŒœŘřŚśŠšŤťŪūŮůŰűŸŹźŻżŽž"
)


SUBSETS_CACHED = 256  # distinct subsets whose font objects are kept, per face


def prepare_document(doc: pdfdoc.PDFDocument) -> None:
    """Give COMMON_CHARACTERS their codes in `doc` for every face (see there).

    A face the document never draws in is still not embedded: codes alone embed nothing.
    """
    register_fonts()
    for name in _FILES:
        font = pdfmetrics.getFont(name)
        assert isinstance(font, TTFont)
        if doc in font.state and font.state[doc].nextCode > 1:
            return  # something was drawn already: the codes are not the fixed ones
        font.splitString(COMMON_CHARACTERS, doc)
    doc._common_prepared = True  # show_text may use the fixed codes


class _Preformatted(pdfdoc.PDFObject):
    """A PDF value formatted once and reused in every document (it holds no references)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: pdfdoc.PDFDocument) -> bytes:
        return self.data


@dataclass(frozen=True)
class _Subset:
    """What the PDF objects of one font subset need, built once: the Widths array
    (formatted), the ToUnicode map and the subset font program (both deflated)."""

    widths: bytes
    to_unicode: bytes
    program_length: int
    program: bytes


class _CachedTTFont(TTFont):
    """TTFont whose per-subset PDF objects are built once per process.

    The same objects as reportlab's TTFont.addObjects and TTFontFace.addSubsetObjects
    (a font dictionary, its ToUnicode map, a font descriptor and the font program),
    except that the parts that depend only on the subset come from a cache: with
    COMMON_CHARACTERS preloaded nearly every briefing has the same first subset, and
    building, formatting and compressing them was about 2 ms of every briefing. A
    stream whose dictionary names its Filter is written as it is.
    """

    def __init__(self, name: str, filename: str) -> None:
        super().__init__(name, filename)
        self._subsets: dict[tuple[int, tuple[int, ...]], _Subset] = {}

    def _subset(self, n: int, subset: list[int], base_font: str,
                doc: pdfdoc.PDFDocument) -> _Subset:
        key = (n, tuple(subset))
        if key not in self._subsets:
            if len(self._subsets) >= SUBSETS_CACHED:  # bounded: rare characters vary
                self._subsets.clear()
            program = self.face.makeSubset(subset)
            widths = pdfdoc.PDFArray(list(map(self.face.getCharWidth, subset)))
            self._subsets[key] = _Subset(
                widths.format(doc), zlib.compress(_to_unicode_cmap(base_font, subset).encode()),
                len(program), zlib.compress(program))
        return self._subsets[key]

    def addObjects(self, doc: pdfdoc.PDFDocument) -> None:  # noqa: N802 - reportlab's name
        try:
            state = self.state[doc]
        except KeyError:
            state = self.state[doc] = TTFont.State(self._asciiReadable)
        state.frozen = 1
        face = self.face
        for n, subset in enumerate(state.subsets):
            internal = self.getSubsetInternalName(n, doc)[1:]
            base_font = b"".join((ttfonts.SUBSETN(n), b"+", face.name,
                                  face.subfontNameX)).decode("pdfdoc")
            cached = self._subset(n, subset, base_font, doc)
            font = pdfdoc.PDFTrueTypeFont()
            font.Name = internal
            font.BaseFont = base_font
            font.FirstChar = 0
            font.LastChar = len(subset) - 1
            font.Widths = _Preformatted(cached.widths)
            font.ToUnicode = doc.Reference(_deflated(cached.to_unicode),
                                           "toUnicodeCMap:" + base_font)
            program = _deflated(cached.program)
            program.dictionary["Length1"] = cached.program_length
            descriptor = pdfdoc.PDFDictionary({
                "Type": "/FontDescriptor",
                "Ascent": face.ascent,
                "CapHeight": face.capHeight,
                "Descent": face.descent,
                "Flags": (face.flags & ~ttfonts.FF_NONSYMBOLIC) | ttfonts.FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(face.bbox),
                "FontName": pdfdoc.PDFName(base_font),
                "ItalicAngle": face.italicAngle,
                "StemV": face.stemV,
                "FontFile2": doc.Reference(program, f"fontFile:{face.filename}({base_font})"),
                "MissingWidth": face.defaultWidth,
            })
            font.FontDescriptor = doc.Reference(descriptor, "fontDescriptor:" + base_font)
            doc.Reference(font, internal)
            doc.idToObject["BasicFonts"].dict[internal] = font
        del self.state[doc]


def _deflated(data: bytes) -> pdfdoc.PDFStream:
    """A stream of already deflated bytes (reportlab writes it as it is)."""
    stream = pdfdoc.PDFStream(content=data)
    stream.dictionary["Filter"] = pdfdoc.PDFName("FlateDecode")
    return stream


def _to_unicode_cmap(font_name: str, subset: list[int]) -> str:
    """reportlab's makeToUnicodeCMap, with characters beyond U+FFFF written as UTF-16
    surrogate pairs: reportlab writes them as five hex digits, which readers take for
    another character (😀 U+1F600 came out of pdftotext as ὠ U+1F60)."""
    lines = [
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo", f"<< /Registry ({font_name})", f"/Ordering ({font_name})",
        "/Supplement 0", ">> def", f"/CMapName /{font_name} def", "/CMapType 2 def",
        "1 begincodespacerange", f"<00> <{len(subset) - 1:02X}>", "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *(f"<{i:02X}> <{chr(code).encode('utf-16-be').hex().upper()}>"
          for i, code in enumerate(subset)),
        "endbfchar", "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end",
    ]
    return "\n".join(lines)


def missing_glyphs(text: str) -> str:
    """The distinct characters of `text` the briefings' font cannot print, or "".

    Whitespace is ignored. Each character is named with its code point, in order of
    first appearance, e.g. "'中' (U+4E2D), '😀' (U+1F600)". Used by validation as its
    `can_print` hook, so it is fast: ASCII is skipped, and text the font covers
    is found at C speed against a cached set of characters.
    """
    if text.isascii():
        return ""
    printable = _printable_characters()
    if printable.issuperset(text):  # the common case, at C speed
        return ""
    missing = [ch for ch in dict.fromkeys(text) if ch not in printable and not ch.isspace()]
    return ", ".join(f"'{ch}' (U+{ord(ch):04X})" for ch in missing)


def show_text(canv: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    """Draw `text` with its baseline starting at (x, y), in the current fill colour.

    What Canvas.drawString does for an embedded TrueType font, without building a
    text object per string: the briefings draw millions of strings at 100,000
    agreements and drawString's own overhead was a third of the rendering time. It
    uses the same font calls (subset assignment, internal names, PDF escaping), so
    the output is what drawString would write. Text made only of ASCII and
    COMMON_CHARACTERS, whose codes prepare_document fixed, is encoded with one
    str.translate instead of reportlab's loop over the characters.
    """
    face = pdfmetrics.getFont(font)
    if not isinstance(face, TTFont):  # not our embedded font: the general path
        canv.setFont(font, size)
        canv.drawString(x, y, text)
        return
    doc = canv._doc
    codes, known = _fixed_codes(font)
    if known.issuperset(text) and getattr(doc, "_common_prepared", False):
        data = text.translate(codes).encode("latin-1")
        canv._code.append(f"BT 1 0 0 1 {fp_str(x)} {fp_str(y)} Tm "
                          f"{face.getSubsetInternalName(0, doc)} {fp_str(size)} Tf "
                          f"({canv._escape(data)}) Tj ET")
        return
    ops = [f"BT 1 0 0 1 {fp_str(x)} {fp_str(y)} Tm"]
    current = None
    for subset, chunk in face.splitString(text, doc):
        if subset != current:
            ops.append(f"{face.getSubsetInternalName(subset, doc)} {fp_str(size)} Tf")
            current = subset
        ops.append(f"({canv._escape(chunk)}) Tj")
    ops.append("ET")
    canv._code.append(" ".join(ops))


@cache
def _fixed_codes(name: str) -> tuple[dict[int, int], frozenset[str]]:
    """The codes (in the first subset) every prepared document gives ASCII and
    COMMON_CHARACTERS, as a str.translate table, and the characters they cover.

    Read from reportlab itself: a fresh document, prepared, then asked for each code.
    """
    register_fonts()
    font = pdfmetrics.getFont(name)
    assert isinstance(font, TTFont)
    doc = pdfdoc.PDFDocument()
    prepare_document(doc)
    known = "".join(chr(c) for c in range(32, 127)) + "\u00a0" + COMMON_CHARACTERS
    codes: dict[int, int] = {}
    covered = []
    for ch in known:
        [(subset, data)] = font.splitString(ch, doc)
        if subset == 0 and len(data) == 1 and (data[0] or ch == "\0"):
            covered.append(ch)  # a character the face lacks (code 0) takes the slow path
            if data[0] != ord(ch):
                codes[ord(ch)] = data[0]
    for other in _FILES:
        pdfmetrics.getFont(other).state.pop(doc, None)
    return codes, frozenset(covered)

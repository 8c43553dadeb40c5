"""What every printed notice (电费通知单, 窃电/违约用电通知书) shares: the embedded Chinese
font, the paragraph styles, table cells in the right font and an A4 page.

reportlab with the WenQuanYi Micro Hei font (Debian ``fonts-wqy-microhei``, installed by
``scripts/system-packages.sh``; ``GRIDCARE_PDF_FONT`` points elsewhere). Chinese text is set
in that font; numbers, amounts, dates and codes in Helvetica, as printed bills do.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridcare.core.errors import GridCareError

DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_NAME = "WQYMicroHei"
LATIN_FONT = "Helvetica"
NUMBER = re.compile(r"-?[\d,]+(\.\d+)?")


class NoticeFontMissing(GridCareError):
    """The Chinese font for PDF notices is not installed on this server."""

    code = "font_missing"
    status = 503
    default_message = gettext_lazy(
        "The Chinese font for PDF bills is missing: install the Debian package fonts-wqy-microhei "
        "(scripts/system-packages.sh)."
    )


def font_path() -> Path:
    return Path(getattr(settings, "GRIDCARE_PDF_FONT", DEFAULT_FONT_PATH))


def register_font() -> str:
    """Register the Chinese font with reportlab once; NoticeFontMissing when it is absent."""
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    path = font_path()
    if not path.is_file():
        raise NoticeFontMissing(
            _(
                "The Chinese font for PDF bills is missing (%(path)s): install the Debian package "
                "fonts-wqy-microhei (scripts/system-packages.sh)."
            )
            % {"path": path}
        )
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
    return FONT_NAME


def escape(text: str) -> str:
    """Text for a reportlab Paragraph (its mark-up is XML-like)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class NoticeStyles:
    """The paragraph styles of a notice: Chinese body, title, small print, Latin text and
    right-aligned numbers."""

    normal: Any
    title: Any
    small: Any
    latin: Any
    number: Any

    def cell(self, value: Any, *, right: bool = False, style: Any = None) -> Any:
        """A table cell: ASCII (numbers, dates, codes) in the Latin font, right-aligned when
        ``right``; anything else in the Chinese font (``style`` instead of the body style)."""
        from reportlab.platypus import Paragraph  # type: ignore[import-untyped]

        text = escape("" if value is None else str(value))
        if text.isascii():
            return Paragraph(text, self.number if right else self.latin)
        return Paragraph(text, style or self.normal)

    def para(self, text: str, style: Any = None) -> Any:
        """A paragraph of body text (escaped)."""
        from reportlab.platypus import Paragraph

        return Paragraph(escape(text), style or self.normal)


def notice_styles(*, size: float = 9, leading: float = 12) -> NoticeStyles:
    """Register the font and build the styles (body ``size`` / ``leading`` in points)."""
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]

    cjk = register_font()
    normal = ParagraphStyle("n", fontName=cjk, fontSize=size, leading=leading)
    latin = ParagraphStyle("l", parent=normal, fontName=LATIN_FONT)
    return NoticeStyles(
        normal=normal,
        title=ParagraphStyle("t", fontName=cjk, fontSize=16, leading=22, alignment=1),
        small=ParagraphStyle("s", fontName=cjk, fontSize=8, leading=11, textColor=colors.grey),
        latin=latin,
        number=ParagraphStyle("r", parent=latin, alignment=2),
    )


def a4_pdf(story: list[Any], *, title: str, subject: str, author: str) -> bytes:
    """Lay ``story`` out on A4 pages with 15 mm margins and return the PDF bytes."""
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import SimpleDocTemplate

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        subject=subject,
        author=author,
    )
    doc.build(story)
    return buffer.getvalue()

"""Printed notices: what a clerk typed into a name or address is printed as typed, even
when it contains reportlab's mark-up characters."""

from __future__ import annotations

import pytest

from gridcare.core.pdf import a4_pdf, escape, notice_styles
from gridcare.core.tests.pdf_helpers import pdf_text


def test_escape_covers_the_markup_characters() -> None:
    assert escape("A&B <Co> 5>3") == "A&amp;B &lt;Co&gt; 5&gt;3"


@pytest.mark.parametrize("value", ["A&B <Co.> Ltd", "Room 3<4>", "R&D 东区 <1号>"])
def test_cells_and_paragraphs_print_markup_characters_as_text(value: str) -> None:
    styles = notice_styles()
    story = [styles.cell(value), styles.cell(value, right=True), styles.para(value)]
    content = a4_pdf(story, title="t", subject="s", author="a")
    assert content.startswith(b"%PDF-")
    if value.isascii():  # Latin text is set in Helvetica, so the page text holds it literally
        # (in pieces: each entity is its own text fragment)
        assert pdf_text(content).replace("\n", "").count(value) == 3

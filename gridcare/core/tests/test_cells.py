"""Spreadsheet-safe text cells (core.engine.cells, no database)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.core.engine.cells import text_cell, text_cell_expr


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("3100000001,total", "3100000001,total"),
        ("", ""),
        (None, None),
        (12, 12),
        (dt.date(2026, 1, 5), dt.date(2026, 1, 5)),
    ],
)
def test_text_that_excel_would_run_gets_an_apostrophe(value, cell):
    assert text_cell(value) == cell


@given(st.lists(st.text(max_size=8), max_size=20))
def test_the_column_form_agrees_with_the_cell_form(values):
    frame = pl.DataFrame({"raw": values}, schema={"raw": pl.String})
    assert frame.select(text_cell_expr(pl.col("raw")))["raw"].to_list() == [text_cell(v) for v in values]

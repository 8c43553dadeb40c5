"""Text cells of files people open in a spreadsheet (CSV downloads): a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, so text from
outside (an imported file's row, a name typed by someone) gets a leading apostrophe and is
shown as the text it is (CSV injection). Pure: no Django."""

from __future__ import annotations

import polars as pl

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: object) -> object:
    """``value`` as a safe spreadsheet cell: text that Excel would run gets a leading ``'``;
    anything else (numbers, dates, None) unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def text_cell_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`text_cell` for a text column of a frame."""
    return expr.str.replace(r"^([=+\-@\t\r])", "'$1")

"""The name an upload is stored under: a long Chinese name fits a file name (255 bytes on
Linux), cut on a character boundary with its extension kept."""

from __future__ import annotations

import datetime as dt

import pytest

from gridcare.core.uploads import STORED_NAME_BYTES, stored_file_name

AT = dt.datetime(2026, 11, 2, 1, 2, 3, tzinfo=dt.UTC)
LONG = ("关于城东台区用户反映电压偏低问题的现场核查情况说明及整改措施" * 3)[:90]


def test_a_short_name_is_kept_whole_behind_the_timestamp():
    assert stored_file_name("现场.jpg", AT) == "20261102010203-现场.jpg"


@pytest.mark.parametrize("tail", [".pdf", ".jpeg", ""])
def test_a_long_chinese_name_is_cut_to_whole_characters_keeping_the_extension(tail):
    stored = stored_file_name(LONG + tail, AT)
    kept = stored.removeprefix("20261102010203-")
    assert len(kept.encode()) <= STORED_NAME_BYTES
    assert len(stored.encode()) < 200  # room for storage's uniqueness suffix under 255
    assert kept.endswith(tail)
    assert LONG.startswith(kept.removesuffix(tail) if tail else kept)
    assert len(kept.removesuffix(tail) if tail else kept) == (STORED_NAME_BYTES - len(tail)) // 3


def test_a_name_of_only_an_extension_or_nothing_left_is_still_a_name():
    assert stored_file_name(".pdf", AT) == "20261102010203-.pdf"
    assert stored_file_name("a" * 400 + ".txt", AT).endswith("a.txt")

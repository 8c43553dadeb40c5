"""Checksums of Chinese identity numbers. Pure functions, no Django import.

- 居民身份证号码 (GB 11643-1999): 17 digits + ISO 7064 MOD 11-2 check character (0-9 or X),
  with a valid birth date in positions 7-14.
- 统一社会信用代码 (GB 32100-2015): 18 characters from a 31-character alphabet (no I, O, Z,
  S, V), the last one a MOD 31 check character.
- 手机号码: 11 digits starting with 1 and a second digit 3-9.
"""

from __future__ import annotations

import datetime as dt
import re

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# [0-9], not \d: \d also matches full-width and other Unicode digits, which int() accepts.
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
_ID_RE = re.compile(r"^[0-9]{17}[0-9X]$")


def id_check_char(first17: str) -> str:
    """The check character of an 18-digit 身份证 number from its first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def id_number_problem(value: str, *, today: dt.date | None = None) -> str | None:
    """Return why ``value`` is not a valid 身份证 number, or None when it is valid."""
    value = value.strip().upper()
    if not _ID_RE.match(value):
        return "format"
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "birth_date"
    if born.year < 1900 or (today is not None and born > today):
        return "birth_date"
    if id_check_char(value[:17]) != value[17]:
        return "checksum"
    return None


def is_valid_id_number(value: str) -> bool:
    """True when ``value`` is a valid 18-digit 身份证 number."""
    return id_number_problem(value) is None


def uscc_check_char(first17: str) -> str:
    """The check character of a 统一社会信用代码 from its first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(value: str) -> str | None:
    """Return why ``value`` is not a valid 统一社会信用代码, or None when it is valid."""
    value = value.strip().upper()
    if not _USCC_RE.match(value):
        return "format"
    if uscc_check_char(value[:17]) != value[17]:
        return "checksum"
    return None


def is_valid_uscc(value: str) -> bool:
    """True when ``value`` is a valid 统一社会信用代码."""
    return uscc_problem(value) is None


def is_valid_mobile(value: str) -> bool:
    """True when ``value`` is an 11-digit mainland mobile number."""
    return bool(_MOBILE_RE.match(value.strip()))


def mask_id_number(value: str) -> str:
    """Mask a 身份证 number for display: first 3 and last 4 characters shown."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_mobile(value: str) -> str:
    """Mask a mobile number for display: ``138****5678``."""
    if len(value) != 11:
        return value
    return value[:3] + "****" + value[-4:]

"""Reading the text back out of the PDFs GridCare prints (tests only)."""

from __future__ import annotations

import base64
import io
import re
import zlib


def pdf_streams(content: bytes) -> list[bytes]:
    """Every stream of the PDF, inflated when it is Flate-compressed."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", content, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):  # reportlab's default: ASCII85 over Flate
            raw = base64.a85decode(raw[:-2], adobe=False)
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def pdf_text(content: bytes) -> str:
    """The page text: pypdf when installed; else the literal strings of the content streams
    (ASCII values are set in Helvetica, so they appear as ``(…) Tj``)."""
    try:
        from pypdf import PdfReader
    except ImportError:
        strings = []
        for stream in pdf_streams(content):
            strings += [m.decode("latin-1") for m in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", stream)]
        return "\n".join(strings)
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)

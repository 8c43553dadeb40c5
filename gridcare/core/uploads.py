"""Checking an uploaded attachment (work-order attachments, inspection photos): one rule for
what may be attached and how big, the file name kept, and the name it is stored under."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from gridcare.core.errors import ValidationFailed

#: Other names browsers give the same types.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
}

#: The types that may be attached — photos, PDFs, recordings and plain text; nothing a
#: browser would run — with the file-name extensions each may carry (a name without one is
#: judged by content).
_EXTENSIONS = {
    "image/jpeg": {"jpg", "jpeg"},
    "image/png": {"png"},
    "image/webp": {"webp"},
    "application/pdf": {"pdf"},
    "audio/mpeg": {"mp3"},
    "audio/wav": {"wav"},
    "text/plain": {"txt", "text", "log", "csv"},
}
ALLOWED_ATTACHMENT_TYPES = tuple(_EXTENSIONS)

#: The most UTF-8 bytes of the uploaded name kept in the stored file's name. A file name may
#: have 255 bytes on Linux and a Chinese character takes 3: with the timestamp in front and
#: the few characters storage adds to keep a name unique, this stays well under it.
STORED_NAME_BYTES = 150


def _looks_like(content_type: str, head: bytes) -> bool:
    """Whether the first bytes of a file are those of ``content_type`` (its magic number;
    text: no NUL byte and valid UTF-8 or GB18030)."""
    if content_type == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if content_type == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if content_type == "application/pdf":
        return head.startswith(b"%PDF-")
    if content_type == "audio/mpeg":
        return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    if content_type == "audio/wav":
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            head.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3:  # a character cut by the 8 KB window
                return True
            continue
        return True
    return False


def upload_checked(upload: UploadedFile) -> tuple[str, str, int]:
    """(file name without any path, content type, size in bytes) of an acceptable upload; ValidationFailed
    on ``file`` when it is empty, larger than ``GRIDCARE_ATTACHMENT_MAX_BYTES``, of a type
    not in :data:`ALLOWED_ATTACHMENT_TYPES`, or when its name's extension or its first bytes
    are not those of the type the browser declared (a program sent as "image/png")."""
    if upload.size is None or upload.size <= 0:
        raise ValidationFailed(_("The file is empty."), field="file")
    if upload.size > settings.GRIDCARE_ATTACHMENT_MAX_BYTES:
        raise ValidationFailed(_("The file is too large."), field="file")
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    content_type = _ALIASES.get(content_type, content_type)
    if content_type not in ALLOWED_ATTACHMENT_TYPES:
        raise ValidationFailed(
            _("Attach a photo (JPEG, PNG, WebP), a PDF, a recording or a text file."), field="file"
        )
    name = (upload.name or "file").replace("\\", "/").rsplit("/", 1)[-1][:200] or "file"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    if (extension and extension not in _EXTENSIONS[content_type]) or not _looks_like(content_type, head):
        raise ValidationFailed(_("The file's name or contents do not match its type."), field="file")
    return name, content_type, upload.size


def stored_file_name(name: str, at: dt.datetime) -> str:
    """The name an upload is stored under: ``<YYYYmmddHHMMSS>-<name>``, the name cut to
    :data:`STORED_NAME_BYTES` UTF-8 bytes, never inside a character, its extension kept.
    The full name (as :func:`upload_checked` gives it) stays on the record, for display."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    tail = f".{extension}" if extension else ""
    room = STORED_NAME_BYTES - len(tail.encode())
    cut = stem.encode()[: max(room, 0)].decode("utf-8", "ignore") or "file"
    return f"{at:%Y%m%d%H%M%S}-{cut}{tail}"

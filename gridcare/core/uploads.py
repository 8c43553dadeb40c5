"""Checking an uploaded attachment (work-order attachments, inspection photos): one rule for
what may be attached and how big, and the file name kept."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from gridcare.core.errors import ValidationFailed

#: Photos, PDFs, recordings and plain text; nothing a browser would run.
ALLOWED_ATTACHMENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/pdf",
    "audio/mpeg",
    "audio/wav",
    "text/plain",
)


def upload_checked(upload: UploadedFile) -> tuple[str, str, int]:
    """(file name without any path, content type, size in bytes) of an acceptable upload; ValidationFailed
    on ``file`` when it is empty, larger than ``GRIDCARE_ATTACHMENT_MAX_BYTES`` or of a type
    not in :data:`ALLOWED_ATTACHMENT_TYPES`."""
    if upload.size is None or upload.size <= 0:
        raise ValidationFailed(_("The file is empty."), field="file")
    if upload.size > settings.GRIDCARE_ATTACHMENT_MAX_BYTES:
        raise ValidationFailed(_("The file is too large."), field="file")
    content_type = (upload.content_type or "").split(";")[0].strip()
    if content_type not in ALLOWED_ATTACHMENT_TYPES:
        raise ValidationFailed(
            _("Attach a photo (JPEG, PNG, WebP), a PDF, a recording or a text file."), field="file"
        )
    name = (upload.name or "file").replace("\\", "/").rsplit("/", 1)[-1][:200] or "file"
    return name, content_type, upload.size

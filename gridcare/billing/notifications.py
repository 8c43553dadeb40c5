"""Customer reminders by SMS (短信): a small backend chosen by ``settings.GRIDCARE_SMS_BACKEND``.

- ``file`` (default): every message is appended as one JSON line to
  ``DATA_DIR/sms/outbox.log`` — what a gateway adapter (or an operator) picks up;
- ``console``: the message is written to the ``gridcare.sms`` log.

There is no SMS gateway in this project; a real one plugs in here as another backend.
The portal shows the same notices (``PrepaidNotice`` rows), so nothing depends on the SMS
actually arriving.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
from pathlib import Path

from django.conf import settings

from gridcare.core.errors import ValidationFailed

logger = logging.getLogger("gridcare.sms")

BACKENDS = ("file", "console")


def sms_outbox_path() -> Path:
    """Where the ``file`` backend appends messages."""
    return Path(settings.DATA_DIR) / "sms" / "outbox.log"


def sms_send(*, mobile: str, text: str, at: dt.datetime, ref: str = "") -> str:
    """Send one SMS through the configured backend; returns the backend's name.

    ``mobile`` may be empty (no number on file): the message is still recorded, marked
    ``no_number``, so the operator sees who could not be reached."""
    backend = getattr(settings, "GRIDCARE_SMS_BACKEND", "file")
    record: dict[str, object] = {"at": at.isoformat(), "mobile": mobile, "text": text, "ref": ref}
    if not mobile:
        record["no_number"] = True
    if backend == "file":
        path = sms_outbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # two workers never interleave lines
            handle.write(line)
        return "file"
    if backend == "console":
        logger.info("SMS to %s: %s (%s)", mobile or "-", text, ref)
        return "console"
    raise ValidationFailed(
        f"GRIDCARE_SMS_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}",
        field="GRIDCARE_SMS_BACKEND",
    )

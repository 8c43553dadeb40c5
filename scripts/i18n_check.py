#!/usr/bin/env python
"""Refresh the Simplified Chinese catalogue and list what still needs a translator.

    .venv/bin/python scripts/i18n_check.py          # makemessages, then list untranslated/fuzzy
    .venv/bin/python scripts/i18n_check.py --no-update   # only list, leave django.po alone

After translating (remove "#, fuzzy" once reviewed), compile and commit both files:

    cd gridcare && ../.venv/bin/python ../manage.py compilemessages -l zh_Hans

Exit status 1 when anything is untranslated or fuzzy. Needs GNU gettext (apt-get install gettext).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gridcare"
PO = PACKAGE / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def main() -> int:
    if "--no-update" not in sys.argv[1:]:
        subprocess.run(  # noqa: S603 - fixed argument list
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "makemessages",
                "-l",
                "zh_Hans",
                "--no-obsolete",
                "--ignore",
                "tests/*",
                "-v",
                "0",
            ],
            cwd=PACKAGE,
            check=True,
        )
    po = polib.pofile(str(PO))
    todo = [("untranslated", e) for e in po.untranslated_entries()] + [
        ("fuzzy", e) for e in po.fuzzy_entries()
    ]
    for kind, entry in todo:
        where = ", ".join(f"{path}:{line}" for path, line in entry.occurrences[:3])
        print(f"{kind:12} {entry.msgid!r}  ({where})")  # noqa: T201
    print(f"{len(po.translated_entries())} translated, {len(todo)} to do")  # noqa: T201
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main())

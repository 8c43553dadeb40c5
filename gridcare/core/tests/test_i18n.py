"""The Simplified Chinese catalogue (gridcare/locale/zh_Hans): complete, compiled, and used.

- every entry is translated and none is fuzzy; placeholders survive translation;
- the committed ``django.mo`` is the compilation of the committed ``django.po``;
- every msgid marked in the templates and Python sources is in the catalogue
  (``makemessages`` is run on a temporary copy of the package; it needs GNU gettext);
- pages speak Chinese by default and English on request.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # the gridcare package
LC_MESSAGES = PACKAGE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = LC_MESSAGES / "django.po"
MO_PATH = LC_MESSAGES / "django.mo"

# %(name)s, %s, %d, %% and {0} / {name} placeholders.
PLACEHOLDER = re.compile(r"%\([^)]+\)[sdif]|%[sdif%]|\{[^{}]*\}")


def _pofile() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def _translations(catalogue: Any) -> dict[tuple[str, str, str], Any]:
    """(msgctxt, msgid, msgid_plural) → msgstr (or the sorted plural msgstrs), header excluded."""
    table: dict[tuple[str, str, str], Any] = {}
    for entry in catalogue:
        if entry.obsolete or not entry.msgid:
            continue
        key = (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")
        if entry.msgid_plural:
            table[key] = tuple(sorted((int(k), v) for k, v in entry.msgstr_plural.items()))
        else:
            table[key] = entry.msgstr
    return table


def test_catalogue_is_complete_and_reviewed() -> None:
    po = _pofile()
    assert po.metadata.get("Language") == "zh_Hans"
    assert po.metadata.get("Plural-Forms") == "nplurals=1; plural=0;"
    assert not po.metadata_is_fuzzy, "the header is still marked fuzzy"
    assert len(po.translated_entries()) > 300
    untranslated = [entry.msgid for entry in po.untranslated_entries()]
    assert not untranslated, f"untranslated msgids: {untranslated}"
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    assert not fuzzy, f"fuzzy entries (review them, then remove the flag): {fuzzy}"
    assert not po.obsolete_entries(), "obsolete entries: run makemessages with --no-obsolete"
    for entry in po:
        if entry.msgid_plural:
            assert set(entry.msgstr_plural) == {0}, f"{entry.msgid!r}: zh has exactly one plural form"


def test_translations_keep_the_placeholders() -> None:
    for entry in _pofile():
        if entry.obsolete:
            continue
        wanted = sorted(PLACEHOLDER.findall(entry.msgid))
        if entry.msgid_plural:
            wanted_plural = sorted(PLACEHOLDER.findall(entry.msgid_plural))
            # zh's one form follows the plural msgid (it shows the count, like "%(counter)s records").
            for text in entry.msgstr_plural.values():
                assert sorted(PLACEHOLDER.findall(text)) in (wanted, wanted_plural), entry.msgid
        else:
            assert sorted(PLACEHOLDER.findall(entry.msgstr)) == wanted, entry.msgid


def test_committed_mo_matches_the_po(tmp_path: Path) -> None:
    assert MO_PATH.exists(), "django.mo missing: run `manage.py compilemessages -l zh_Hans` in gridcare/"
    fresh = tmp_path / "django.mo"
    _pofile().save_as_mofile(str(fresh))
    committed = polib.mofile(str(MO_PATH))
    compiled = polib.mofile(str(fresh))
    assert _translations(committed) == _translations(compiled), (
        "django.mo is stale: run `../manage.py compilemessages -l zh_Hans` in gridcare/ and commit it"
    )
    assert committed.metadata.get("Plural-Forms") == compiled.metadata.get("Plural-Forms")


def test_every_marked_string_is_translated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """makemessages on a copy of the package: each msgid it finds has a translation."""
    missing_tools = [tool for tool in ("xgettext", "msguniq", "msgmerge") if shutil.which(tool) is None]
    if missing_tools:
        pytest.fail(
            f"GNU gettext is not installed ({', '.join(missing_tools)} not on PATH); this test "
            "extracts the marked strings with it. Install it: apt-get install gettext"
        )
    copy = tmp_path / "gridcare"
    shutil.copytree(
        PACKAGE_DIR,
        copy,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "migrations", "static", "locale"),
    )
    (copy / "locale").mkdir()
    monkeypatch.chdir(copy)
    with override_settings(LOCALE_PATHS=[copy / "locale"]):
        call_command("makemessages", locale=["zh_Hans"], no_obsolete=True, verbosity=0)
    extracted = polib.pofile(str(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    found = set(_translations(extracted))
    assert len(found) > 300, "makemessages found suspiciously few strings"

    committed = _translations(_pofile())
    missing = sorted(key[1] for key in found if key not in committed)
    assert not missing, (
        "msgids marked in the sources but not in the catalogue; run `../manage.py makemessages "
        f"-l zh_Hans --no-obsolete --ignore 'tests/*'` in gridcare/ and translate them: {missing}"
    )
    empty = sorted(
        key[1]
        for key in found
        if not (committed[key] if not key[2] else all(text for _, text in committed[key]))
    )
    assert not empty, f"msgids without a translation: {empty}"


@pytest.mark.django_db
def test_login_page_speaks_chinese_by_default() -> None:
    assert settings.LANGUAGE_CODE == "zh-hans"
    response = Client().get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "登录" in html
    assert "Log in" not in html
    assert 'lang="zh-hans"' in html


@pytest.mark.django_db
def test_login_page_speaks_english_on_request() -> None:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Log in" in html
    assert "员工登录" not in html

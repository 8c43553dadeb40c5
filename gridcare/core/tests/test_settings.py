"""The settings module (gridcare.settings) read from the environment.

Each case imports the real settings module in a fresh interpreter with a controlled
environment: the test process itself runs on gridcare.settings_test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[3]

DUMP = """
import json
import gridcare.settings as s
print(json.dumps({
    "PASSWORD_HASHERS": s.PASSWORD_HASHERS,
    "MIDDLEWARE": s.MIDDLEWARE,
    "TIME_ZONE": s.TIME_ZONE,
    "USE_TZ": s.USE_TZ,
    "LANGUAGE_CODE": s.LANGUAGE_CODE,
    "SESSION_COOKIE_HTTPONLY": s.SESSION_COOKIE_HTTPONLY,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": getattr(s, "SECURE_HSTS_SECONDS", 0),
    "X_FRAME_OPTIONS": s.X_FRAME_OPTIONS,
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "DATABASE": {k: s.DATABASES["default"].get(k) for k in ("ENGINE", "NAME", "HOST", "PORT", "USER")},
}))
"""


def _run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DATABASE_URL", "GRIDCARE_ENV", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    clean.update({"GRIDCARE_VAR_DIR": str(tmp_path / "var"), **env})
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _settings(tmp_path: Path, **env: str) -> dict[str, Any]:
    result = _run(DUMP, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    result = _run("import gridcare.settings", tmp_path, GRIDCARE_ENV="production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_with_secret_key_turns_on_secure_cookies(tmp_path: Path) -> None:
    s = _settings(tmp_path, GRIDCARE_ENV="production", SECRET_KEY="k" * 50)
    assert s["SECRET_KEY"] == "k" * 50
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["DEBUG"] is False


def test_demo_generates_a_secret_key_once_into_var(tmp_path: Path) -> None:
    first = _settings(tmp_path)
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text().strip() == first["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 50
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the owner only
    assert _settings(tmp_path)["SECRET_KEY"] == first["SECRET_KEY"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _settings(tmp_path_factory.mktemp("demo"))


def test_passwords_are_hashed_with_argon2(demo: dict[str, Any]) -> None:
    assert demo["PASSWORD_HASHERS"][0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert not any("MD5" in h or "SHA1" in h for h in demo["PASSWORD_HASHERS"])


def test_csrf_and_clickjacking_protection_are_on(demo: dict[str, Any]) -> None:
    assert "django.middleware.csrf.CsrfViewMiddleware" in demo["MIDDLEWARE"]
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in demo["MIDDLEWARE"]
    assert demo["X_FRAME_OPTIONS"] == "DENY"


def test_beijing_time_and_simplified_chinese(demo: dict[str, Any]) -> None:
    assert demo["TIME_ZONE"] == "Asia/Shanghai"
    assert demo["USE_TZ"] is True
    assert demo["LANGUAGE_CODE"] == "zh-hans"


def test_session_cookie_is_http_only_and_not_secure_in_demo(demo: dict[str, Any]) -> None:
    assert demo["SESSION_COOKIE_HTTPONLY"] is True
    assert demo["SESSION_COOKIE_SECURE"] is False  # the demo serves plain http on 127.0.0.1
    assert demo["DEBUG"] is False


def test_default_database_is_the_embedded_sqlite_file(tmp_path: Path) -> None:
    db = _settings(tmp_path)["DATABASE"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "var" / "gridcare.sqlite3")


def test_database_url_selects_postgresql(tmp_path: Path) -> None:
    db = _settings(tmp_path, DATABASE_URL="postgres://gc:pw@db.internal:6543/gridcare")["DATABASE"]
    assert db == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "gridcare",
        "HOST": "db.internal",
        "PORT": 6543,
        "USER": "gc",
    }


def test_postgresql_driver_is_psycopg_3() -> None:
    import psycopg

    assert int(psycopg.__version__.split(".")[0]) == 3

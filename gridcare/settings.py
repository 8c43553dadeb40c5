"""GridCare settings: one module, every knob from an environment variable.

Environment variables
---------------------
``GRIDCARE_ENV``        ``demo`` (default) or ``production``. Production refuses to start
                        without ``SECRET_KEY`` and turns on secure cookies and HSTS.
``DATABASE_URL``        e.g. ``postgres://user:pass@host:5432/gridcare``. Default: the SQLite
                        file ``var/gridcare.sqlite3`` (the embedded default).
``SECRET_KEY``          required in production; in demo mode generated once into ``var/``.
``GRIDCARE_DATA_DIR``   interval data, import files, exports (default ``var/data``).
``GRIDCARE_VAR_DIR``    where the demo keeps its database, key and data (default ``./var``).
``DEBUG``               ``1`` to enable Django's debug pages (never in production).
``ALLOWED_HOSTS``       comma-separated (default ``127.0.0.1,localhost``).
``CSRF_TRUSTED_ORIGINS`` comma-separated origins when served behind a proxy.
``GRIDCARE_LOGIN_MAX_FAILURES`` / ``GRIDCARE_LOGIN_LOCK_MINUTES``  login throttling.
``GRIDCARE_PAYMENT_SECRETS``  online-payment callback secrets, ``channel=secret`` pairs
                        separated by commas (wechat, alipay, wsgw); required in production.
``GRIDCARE_SMS_BACKEND`` ``file`` (default: messages appended to ``DATA_DIR/sms/outbox.log``)
                        or ``console``; a gateway adapter plugs in here.
``GRIDCARE_HEADEND_ADAPTER`` dotted path of the AMI head-end adapter that sends remote
                        disconnect/reconnect commands; empty (default) writes them to the file
                        outbox ``DATA_DIR/headend/outbox.jsonl``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent
VAR_DIR = Path(os.environ.get("GRIDCARE_VAR_DIR", PROJECT_DIR / "var")).resolve()
DATA_DIR = Path(os.environ.get("GRIDCARE_DATA_DIR", VAR_DIR / "data")).resolve()

GRIDCARE_ENV = os.environ.get("GRIDCARE_ENV", "demo")
PRODUCTION = GRIDCARE_ENV == "production"
DEBUG = env_bool("DEBUG", default=False)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise RuntimeError("SECRET_KEY must be set when GRIDCARE_ENV=production")
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.admin",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "gridcare.core",
    "gridcare.customers",
    "gridcare.metering",
    "gridcare.billing",
    "gridcare.workorders",
    "gridcare.quality",
    "gridcare.inspection",
    "gridcare.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gridcare.urls"
WSGI_APPLICATION = "gridcare.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gridcare.core.context_processors.navigation",
                "gridcare.workorders.context_processors.alerts",
            ],
        },
    },
]

DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'gridcare.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_SQLITE), conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the console read while a seed or import writes; wait instead of failing on locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ModelBackend with the role groups' permissions kept per process (core/auth.py).
AUTHENTICATION_BACKENDS = ["gridcare.core.auth.RoleBackend"]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:login"

GRIDCARE_LOGIN_MAX_FAILURES = int(os.environ.get("GRIDCARE_LOGIN_MAX_FAILURES", "5"))
GRIDCARE_LOGIN_LOCK_MINUTES = int(os.environ.get("GRIDCARE_LOGIN_LOCK_MINUTES", "15"))


def _secrets(raw: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {channel.strip(): secret.strip() for channel, secret in pairs if secret.strip()}


# Online-payment callbacks are signed with HMAC-SHA256 by channel; demo secrets outside production.
GRIDCARE_PAYMENT_SECRETS = _secrets(os.environ.get("GRIDCARE_PAYMENT_SECRETS", ""))
if not GRIDCARE_PAYMENT_SECRETS and not PRODUCTION:
    GRIDCARE_PAYMENT_SECRETS = {c: f"demo-{c}-secret" for c in ("wechat", "alipay", "wsgw")}
GRIDCARE_SMS_BACKEND = os.environ.get("GRIDCARE_SMS_BACKEND", "file")
GRIDCARE_HEADEND_ADAPTER = os.environ.get("GRIDCARE_HEADEND_ADAPTER", "")

# Sessions and cookies
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 60 * 60  # one working shift
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
if PRODUCTION:
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Internationalisation: Simplified Chinese by default, English on request.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# Uploaded files (work-order attachments). Never served as static files: a view checks the
# caller may see the order before it streams one.
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
GRIDCARE_ATTACHMENT_MAX_BYTES = int(os.environ.get("GRIDCARE_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
# A complaint from the same customer (or phone) in the same category within this many days
# is linked to the earlier one as a repeat (重复投诉).
# Small reference tables (calendar overrides, service standards, work-order categories) are
# kept in each process for this many seconds (core/refcache.py); 0 reads them every time.
GRIDCARE_REFERENCE_CACHE_SECONDS = float(os.environ.get("GRIDCARE_REFERENCE_CACHE_SECONDS", 30))
GRIDCARE_REPEAT_COMPLAINT_DAYS = int(os.environ.get("GRIDCARE_REPEAT_COMPLAINT_DAYS", 30))
# The fast intake path of the channel API's create and step calls (workorders/fastpath.py,
# PostgreSQL only): on unless GRIDCARE_FAST_INTAKE=0.
GRIDCARE_FAST_INTAKE = env_bool("GRIDCARE_FAST_INTAKE", default=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = DATA_DIR / "media"

NINJA_PAGINATION_PER_PAGE = 50

# Background jobs (reading imports, later notifications and SLA escalation): Django tasks
# (the django-tasks backport) stored in the database; `gridcare worker` runs them.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

"""Test overrides: a fast hasher for fixtures and a throwaway var directory (one per
pytest-xdist worker)."""

import os
import tempfile

os.environ.setdefault("GRIDCARE_VAR_DIR", tempfile.mkdtemp(prefix="gridcare-test-"))
# Under pytest-xdist every worker gets its own var directory (data files, imports, PDFs are
# named by database ids, and each worker has its own test database, so ids repeat).
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["GRIDCARE_VAR_DIR"] = os.path.join(os.environ["GRIDCARE_VAR_DIR"], worker)
    os.environ.pop("GRIDCARE_DATA_DIR", None)

from gridcare.settings import *  # noqa: E402,F403

# Argon2 is the production hasher (and still verifies); tests create many users, so the
# first hasher (used for new passwords) is the fast MD5 one.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

# Tests change calendar overrides, standards and categories directly: read them every time.
GRIDCARE_REFERENCE_CACHE_SECONDS = 0

"""Test overrides: a fast hasher for fixtures and a throwaway var directory."""

import os
import tempfile

os.environ.setdefault("GRIDCARE_VAR_DIR", tempfile.mkdtemp(prefix="gridcare-test-"))

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

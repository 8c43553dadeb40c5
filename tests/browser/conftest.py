"""Browser tests: Playwright driving Debian's chromium against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread, so Django's async-safety
check is relaxed for these tests only (the ORM calls are still made from this one thread).
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("GRIDCARE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the session. Missing chromium is an error, never a skip."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) per test, in Simplified Chinese like a clerk's PC."""
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


@pytest.fixture
def roles(transactional_db: None) -> None:
    """Live-server tests flush the database between tests, which drops the role groups the
    data migrations made; put them back from those migrations' role tables (the shell's
    roles and the metering permissions)."""
    from django.contrib.auth.models import Group, Permission

    for module in (
        "gridcare.core.migrations.0002_roles_and_audit_guard",
        "gridcare.metering.migrations.0003_roles",
        "gridcare.billing.migrations.0003_roles",
        "gridcare.workorders.migrations.0003_roles",
        "gridcare.inspection.migrations.0003_roles",
    ):
        migration = importlib.import_module(module)
        for role, perms in migration.ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=role)
            for perm in perms:
                app_label, codename = perm.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )


@pytest.fixture
def workorder_reference(transactional_db: None) -> None:
    """The work-order categories, root causes and service standards the data migrations load
    (dropped by the live-server flush like the role groups)."""
    from django.apps import apps

    from gridcare.quality import seed_data
    from gridcare.workorders import reference_data

    reference_data.load(apps)
    seed_data.load(apps)


@pytest.fixture
def inspection_reference(transactional_db: None) -> None:
    """The penalty rules and inspection cycles data migration 0002 loads (dropped by the
    live-server flush like the role groups)."""
    from django.apps import apps

    migration = importlib.import_module("gridcare.inspection.migrations.0002_reference_data")
    migration.seed(apps, None)

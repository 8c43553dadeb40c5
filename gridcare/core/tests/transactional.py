"""Helpers of transactional tests: putting back the role grants a flush removed, and racing
calls on their own threads and connections (the PostgreSQL concurrency tests)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import connections


def grant_roles(*modules: str) -> None:
    """Put back the role groups and grants of these migrations (``ROLE_PERMISSIONS``): a
    transactional test's flush removes what the data migrations made."""
    for module in modules:
        for role, perms in importlib.import_module(module).ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=role)
            for perm in perms:
                app_label, codename = perm.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together, each on its own connection; each result
    or the exception raised (a thread still running after 60 s leaves None)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results

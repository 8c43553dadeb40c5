"""The authentication backend: Django's ``ModelBackend`` with the role groups' permissions
kept per process.

Every console request checks permissions; ``ModelBackend`` reads the user's own permissions
and their groups' permissions from the database on every request (two queries joining three
tables each). Here the permissions of a *set of role groups* are kept for
``GRIDCARE_REFERENCE_CACHE_SECONDS`` (the role grants change with a release or an admin's
edit, not per request) and a user's own direct permissions likewise per user. A change made
in the admin reaches every process within that time; 0 (the test settings) reads them every
time, as Django does.

The signed-in user of a request is read together with the names of their role groups (one
statement instead of two; ``core.roles.user_roles`` then needs no query of its own).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Aggregate, CharField

from gridcare.core.roles import user_roles

_lock = threading.Lock()
_group_perms: dict[frozenset[str], tuple[float, set[str]]] = {}
_user_perms: dict[int, tuple[float, set[str]]] = {}


def _ttl() -> float:
    return float(getattr(settings, "GRIDCARE_REFERENCE_CACHE_SECONDS", 30))


def _cached(store: dict[Any, tuple[float, set[str]]], key: Any, load: Any) -> set[str]:
    ttl = _ttl()
    if ttl <= 0:
        return load()
    now = time.monotonic()
    with _lock:
        hit = store.get(key)
        if hit is not None and now - hit[0] <= ttl:
            return hit[1]
    value = load()
    with _lock:
        store[key] = (now, value)
    return value


def _names(qs: Any) -> set[str]:
    return {f"{app}.{codename}" for app, codename in qs.values_list("content_type__app_label", "codename")}


def clear_permission_cache() -> None:
    """Forget every cached permission set (after changing grants in this process)."""
    with _lock:
        _group_perms.clear()
        _user_perms.clear()


class _GroupNames(Aggregate):
    """A user's group names, comma-separated (role names are identifiers without commas):
    ``STRING_AGG`` on PostgreSQL, ``GROUP_CONCAT`` on SQLite; NULL without groups."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function="GROUP_CONCAT", **extra)


def role_names(joined: str | None) -> set[str]:
    """The role names a statement aggregated comma-separated (``_GroupNames``; None: none)."""
    return set(joined.split(",")) if joined else set()


class RoleBackend(ModelBackend):
    """``ModelBackend`` whose group and user permissions come from the per-process cache."""

    def get_user(self, user_id: Any) -> Any:
        """The session's user with their role names (what ``core.roles.user_roles`` caches
        on the user) in the same statement; None when there is none or they may not sign in."""
        user = (
            get_user_model()
            ._default_manager.filter(pk=user_id)
            .annotate(gridcare_group_names=_GroupNames("groups__name"))
            .first()
        )
        if user is None or not self.user_can_authenticate(user):
            return None
        user._gridcare_roles = role_names(user.gridcare_group_names)  # type: ignore[attr-defined]
        return user

    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_user_perm_cache"):
            user_obj._user_perm_cache = _cached(
                _user_perms,
                user_obj.pk,
                lambda: set() if user_obj.is_superuser else _names(Permission.objects.filter(user=user_obj)),
            )
        return user_obj._user_perm_cache

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_group_perm_cache"):
            groups = frozenset(user_roles(user_obj))
            user_obj._group_perm_cache = (
                _cached(
                    _group_perms, groups, lambda: _names(Permission.objects.filter(group__name__in=groups))
                )
                if groups
                else set()
            )
        return user_obj._group_perm_cache

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                user_obj._perm_cache = _cached(
                    _group_perms, frozenset({"*superuser*"}), lambda: _names(Permission.objects.all())
                )
            else:
                user_obj._perm_cache = {
                    *self.get_user_permissions(user_obj),
                    *self.get_group_permissions(user_obj),
                }
        return user_obj._perm_cache

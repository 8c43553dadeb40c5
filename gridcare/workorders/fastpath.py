"""快速受理通道: the channel API's two busiest calls without Django's request cycle.

A 95598 call centre files and steps orders all day through two calls, ``POST
/api/workorders/orders`` (受理) and ``POST /api/workorders/orders/<number>/transitions``. On two
cores the full Django path (middleware, django-ninja, the ORM compiling every statement) costs
about 12 ms of CPU a request, three times what 200 intakes a second allow
(docs/workorders-bench.md). :class:`FastIntake` wraps the WSGI application and answers the
usual cases of those two calls itself, on PostgreSQL:

- the same checks, from the same functions: Django's session and user
  (``django.contrib.auth.get_user``), Django's CSRF check (``CsrfViewMiddleware``), the API's
  permission check (``require_staff_perm``), the API's input schemas, the service's rules
  (``check_intake``, ``repeat_query``, ``new_order``, ``created_events``, ``clocks_plan``,
  ``step_plan``, ``step_event``, ``step_finish``, ``audit_row``) and the API's answer
  (``order_detail_out`` rendered by the API object);
- the writes of a call in **one** statement (the order, its timeline rows, its clocks and its
  audit row in one ``WITH … INSERT/UPDATE``), prepared once per connection. A step's update
  carries the optimistic lock (``WHERE version = …``): when another agent acted first the
  statement writes nothing.

Everything else is handed to Django unchanged, *before anything is written*: other paths,
any error (bad input, no session, a refused permission or CSRF token, a stale version, an
unknown account …: Django answers it with the usual 4xx), and the rarer cases whose extra
rows the fast path does not write (reports and their reporter identity, major orders and
their alerts, knowledge links, first-contact answers, idempotency keys, a customer id;
steps that pause, resume, reopen, record a follow-up visit or an improvement, name an
assignee, need the improvement check, or act on a paused order). A request is therefore
either answered here exactly as Django would answer it (tests compare both paths' answers
and rows), or answered by Django.

Off on SQLite (its single writer gains nothing) and with ``GRIDCARE_FAST_INTAKE=0``.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import logging
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from importlib import import_module
from typing import Any

import psycopg
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.exceptions import DisallowedHost, ValidationError
from django.core.handlers.wsgi import WSGIRequest
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.crypto import constant_time_compare

from gridcare.core.audit import actor_label, audit_row, snapshot
from gridcare.core.auth import role_names
from gridcare.core.models import AuditEvent
from gridcare.core.roles import require_staff_perm
from gridcare.customers.models import Account, Customer
from gridcare.workorders.choices import Grade, WorkOrderKind
from gridcare.workorders.models import SlaClock, Team, WorkOrder, WorkOrderEvent
from gridcare.workorders.registry import workflow_for

log = logging.getLogger(__name__)

CREATE_PATH = "/api/workorders/orders"
STEP_PATH = re.compile(r"/api/workorders/orders/([A-Za-z0-9]{1,40})/transitions")  # whole path: fullmatch
MAX_BODY = 64 * 1024
ADD = "workorders.add_workorder"
CHANGE = "workorders.change_workorder"
#: Steps whose extra rows or reads the fast path leaves to Django (see the module text).
STEP_EXTRAS = ("satisfaction", "root_cause", "improvement_recorded", "assignee")


class Delegate(Exception):  # noqa: N818 - a signal, not an error
    """Hand the request to Django unchanged (raised only before anything is written)."""


class _NothingWritten(Delegate):
    """The call's one statement was refused as a whole: hand the request to Django."""


def enabled() -> bool:
    """On PostgreSQL unless switched off (``GRIDCARE_FAST_INTAKE``), and never when the
    connection runs each request in a transaction (``ATOMIC_REQUESTS``): the path commits
    its one statement itself, so Django's wrapping would not apply to it."""
    return (
        bool(getattr(settings, "GRIDCARE_FAST_INTAKE", True))
        and connection.vendor == "postgresql"
        and not connection.settings_dict.get("ATOMIC_REQUESTS")
    )


# ---- SQL of a model's rows -------------------------------------------------------------------


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _db() -> Any:
    """Django's default connection (the wrapper itself: ``connection`` is a proxy that looks
    it up on every attribute)."""
    return connections[DEFAULT_DB_ALIAS]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class _Rows:
    """How one model's rows are written and read in raw SQL. A row is written as one JSON
    record (``jsonb_populate_record`` gives each column its type), so that a call's statement
    stays short with few parameters (psycopg then keeps its parsed form) and PostgreSQL binds
    one value per row; rows are read into instances as the ORM would build them."""

    def __init__(self, model: type[models.Model], *, skip: Sequence[str] = ("id",)) -> None:
        self.model = model
        self.table = _qn(model._meta.db_table)
        self.all_fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.all_fields]
        self.fields = [f for f in self.all_fields if f.attname not in skip]
        self._casts: dict[str, str] = {}
        self._selects: dict[str, str] = {}
        self._inserts: dict[Any, str] = {}
        # Where the ORM would convert a value read (JSON fields), and each field's type for
        # the rows read as JSON arrays: worked out once, not on every row.
        self._converted = [(i, f) for i, f in enumerate(self.all_fields) if hasattr(f, "from_db_value")]
        self._kinds = [f.get_internal_type() for f in self.all_fields]

    def cast(self, field: models.Field[Any, Any]) -> str:
        cast = self._casts.get(field.attname)
        if cast is None:
            cast = self._casts[field.attname] = f"%s::{field.db_type(_db())}"
        return cast

    def values(self, obj: models.Model, fields: Iterable[models.Field[Any, Any]]) -> list[Any]:
        db = _db()
        return [f.get_db_prep_save(getattr(obj, f.attname), db) for f in fields]

    def record(self, obj: models.Model, skip: Iterable[str] = ()) -> str:
        """The row of ``obj`` as a JSON record of its columns (the values the ORM would
        prepare; times and decimals as text; a JSON field's value as JSON)."""
        left = set(skip)
        return json.dumps(
            {
                f.column: f.get_prep_value(getattr(obj, f.attname))
                for f in self.fields
                if f.attname not in left
            },
            default=_json_default,
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def insert(
        self,
        name: str,
        *,
        fk: str | None = None,
        overrides: dict[str, str] | None = None,
        after: str | None = None,
    ) -> str:
        """A CTE ``name AS (INSERT … RETURNING id)`` of one row given as a JSON record
        parameter; ``fk`` (when given) is the order ``o`` just written, ``overrides``
        columns are SQL expressions, and ``after`` names the CTE that must have written its
        row first: this one reads it, so PostgreSQL runs that insert (and draws its id)
        before this one — the order of data-modifying CTEs is otherwise not defined."""
        key = (name, fk, tuple(sorted((overrides or {}).items())), after)
        found = self._inserts.get(key)
        if found is not None:
            return found
        overrides = dict(overrides or {})
        if fk:
            overrides[fk] = "o.id"
        cols = [_qn(f.column) for f in self.fields]
        exprs = [overrides.get(f.attname, f"r.{_qn(f.column)}") for f in self.fields]
        source = f"jsonb_populate_record(NULL::{self.table}, %s::jsonb) r"
        first = ("o, " if "o." in " ".join(exprs) else "") + (f"{after}, " if after else "")
        found = self._inserts[key] = (
            f"{name} AS (INSERT INTO {self.table} ({', '.join(cols)}) "  # noqa: S608 - model metadata
            f"SELECT {', '.join(exprs)} FROM {first}{source} RETURNING id)"
        )
        return found

    def select(self, alias: str) -> str:
        found = self._selects.get(alias)
        if found is None:
            found = self._selects[alias] = ", ".join(f"{alias}.{_qn(f.column)}" for f in self.all_fields)
        return found

    def build(self, values: Sequence[Any]) -> Any:
        db = _db()
        converted = list(values)
        for i, f in self._converted:
            converted[i] = f.from_db_value(converted[i], None, db)
        return self.model.from_db(db.alias, self.attnames, converted)

    def build_json(self, values: Sequence[Any]) -> Any:
        """An instance from a row given as a JSON array (``json_build_array`` of every column:
        times as ISO text, numbers with ``Decimal`` for their fractions, JSON as data)."""
        converted = []
        for kind, v in zip(self._kinds, values, strict=True):
            if v is None or kind == "JSONField":
                pass
            elif kind == "DateTimeField":
                v = dt.datetime.fromisoformat(v)
            elif kind == "DateField":
                v = dt.date.fromisoformat(v)
            elif kind == "DecimalField":
                v = Decimal(v) if not isinstance(v, Decimal) else v
            converted.append(v)
        return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, converted)


_orders = _Rows(WorkOrder)
_events = _Rows(WorkOrderEvent)
_clocks = _Rows(SlaClock)
_audit = _Rows(AuditEvent)
_customers = _Rows(Customer)
_accounts = _Rows(Account)
_teams = _Rows(Team)
_users = _Rows(get_user_model())


def _cursor() -> Any:
    """A server-side-binding cursor on Django's own connection (the connection and its
    transaction state stay Django's). Django connects with psycopg's prepared statements off
    (so that poolers work); this path's few statements are prepared explicitly
    (``prepare=True``): without it PostgreSQL plans every one of them again, which measured
    3–6× its CPU for each statement. A threshold this high never prepares anything else
    (and Django's own client-side cursors never prepare)."""
    connection.ensure_connection()
    conn = connection.connection
    if conn.prepare_threshold is None:
        conn.prepare_threshold = EXPLICIT_ONLY
    return psycopg.Cursor(conn)


EXPLICIT_ONLY = 2**31 - 1


def _noop(request: Any) -> HttpResponse:
    return HttpResponse()


class FastIntake:
    """The WSGI application, with the fast intake path in front (see the module text)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._security = SecurityMiddleware(_noop)
        self._xframe = XFrameOptionsMiddleware(_noop)

    def report(self) -> None:
        """One line on stderr of what this process's fast path did (when it did anything):
        registered to run when the server's process stops (``gridcare/wsgi.py``), read by
        ``gridcare bench workorders``."""
        if self.counts:
            print(  # noqa: T201 - the worker's stderr is the server's log
                f"fast intake (pid {os.getpid()}): {self.counts['fast']} answered here, "
                f"{self.counts['delegated']} handed to Django",
                file=sys.stderr,
                flush=True,
            )

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        step = STEP_PATH.fullmatch(path)  # not match + "$": that would take a path ending in "\n"
        if path != CREATE_PATH and step is None:
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY or not enabled():
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        response = self._answer(environ, body, step.group(1) if step else None)
        if response is None:
            self._count("delegated")
            environ["wsgi.input"] = io.BytesIO(body)
            return self.app(environ, start_response)
        self._count("fast")
        status = f"{response.status_code} {response.reason_phrase}"
        headers = [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]
        start_response(status, headers)
        return [response.content]

    def _answer(self, environ: dict[str, Any], body: bytes, number: str | None) -> HttpResponse | None:
        signals.request_started.send(sender=self.__class__, environ=environ)
        written = [False]
        try:
            request = WSGIRequest({**environ, "wsgi.input": io.BytesIO(body)})
            _common_checks(request)
            if self._security.process_request(request) is not None:
                raise Delegate  # SECURE_SSL_REDIRECT over plain HTTP: Django redirects
            language = translation.get_language_from_request(request)
            with translation.override(language):
                cursor = _cursor()
                user = self._user(request, cursor)
                if number is None:
                    response = _create(request, cursor, user, body, written)
                else:
                    response = _step(request, cursor, user, body, number, written)
                # The headers the console's middleware adds to an API answer (locale,
                # session, length, security); the same set and values, not the same order.
                patch_vary_headers(response, ("Accept-Language",))
                response.headers.setdefault("Content-Language", language)
                patch_vary_headers(response, ("Cookie",))
                response.headers["Content-Length"] = str(len(response.content))
                return self._xframe.process_response(
                    request, self._security.process_response(request, response)
                )
        except Delegate:
            return None
        except Exception:
            if written[0]:
                raise
            log.exception("fast intake: handed to Django after an unexpected error (nothing written)")
            return None
        finally:
            signals.request_finished.send(sender=self.__class__)

    def _user(self, request: WSGIRequest, cursor: Any) -> Any:
        """The signed-in user as Django's ``auth.get_user`` finds them (the session row, the
        user with their role names as ``RoleBackend.get_user`` reads them, the session hash),
        and the CSRF check the API makes of a session login. Anything else — no or an expired
        session, another backend, a hash that only a fallback secret verifies (Django then
        rotates the session) — is Django's to answer."""
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if (
            not key
            or settings.SESSION_ENGINE != DB_SESSIONS
            or settings.SESSION_SAVE_EVERY_REQUEST
            or settings.AUTHENTICATION_BACKENDS != [BACKEND]
        ):
            raise Delegate
        store = import_module(settings.SESSION_ENGINE).SessionStore
        now = timezone.now()
        # A session key's user never changes (a login into another account gets a new key):
        # once known, the session row and the user are read in one statement. The session's
        # own user id is still checked below, on every request; its data is decoded again
        # whenever the row's text differs from the text decoded last time.
        seen = _sessions.get(key)
        known = seen[2] if seen is not None else None
        row = None
        if known is not None:
            cursor.execute(_user_sql(with_session=True), [key, now, known], prepare=True)
            row = cursor.fetchone()
        if row is None:
            cursor.execute(_SESSION_SQL, [key, now], prepare=True)
            row = cursor.fetchone()
            if row is None:
                raise Delegate
            known = None
        text = row[0]
        data = dict(seen[1]) if seen is not None and seen[0] == text else store().decode(text)
        if data.get(auth.BACKEND_SESSION_KEY) != BACKEND or not data.get(auth.HASH_SESSION_KEY):
            raise Delegate
        try:
            user_id = _users.model._meta.pk.to_python(data[auth.SESSION_KEY])
        except (KeyError, ValidationError):
            raise Delegate from None
        if known is None or user_id != known:
            cursor.execute(_user_sql(with_session=False), [user_id], prepare=True)
            row = cursor.fetchone()
            if row is None:
                raise Delegate
            row = (None, *row)
        user = _users.build(row[1:-1])
        if not user.is_active or not constant_time_compare(
            data[auth.HASH_SESSION_KEY], user.get_session_auth_hash()
        ):
            raise Delegate
        user._gridcare_roles = role_names(row[-1])
        if seen is None or seen[0] != text or known is None:
            if len(_sessions) >= SESSIONS_KEPT:
                _sessions.clear()
            _sessions[key] = (text, dict(data), user_id)
        session = store(key)
        session._session_cache = data
        request.session = session
        request.user = user
        csrf = CsrfViewMiddleware(_noop)
        csrf.process_request(request)
        if csrf.process_view(request, _noop, (), {}) is not None:
            raise Delegate
        return user


DB_SESSIONS = "django.contrib.sessions.backends.db"
BACKEND = "gridcare.core.auth.RoleBackend"
_SESSION_SQL = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"


#: Session keys seen by this process: the session row's text last read, its decoded data and
#: the user's id (see ``FastIntake._user``).
_sessions: dict[str, tuple[str, dict[str, Any], Any]] = {}
SESSIONS_KEPT = 20_000


@functools.cache
def _user_sql(*, with_session: bool) -> str:
    """The user and their role names (what ``RoleBackend.get_user`` reads) in one statement;
    ``with_session``: with the (known) session row's data first."""
    user_groups = _users.model.groups.through._meta.db_table  # type: ignore[attr-defined]
    session = "s.session_data, " if with_session else ""
    join = "FROM django_session s CROSS JOIN " if with_session else "FROM "
    where = "s.session_key = %s AND s.expire_date > %s AND " if with_session else ""
    return (
        f"SELECT {session}{_users.select('u')}, STRING_AGG(g.name, ',') {join}{_users.table} u "  # noqa: S608
        f"LEFT JOIN {_qn(user_groups)} ug ON ug.user_id = u.id "
        f"LEFT JOIN auth_group g ON g.id = ug.group_id WHERE {where}u.id = %s "
        f"GROUP BY {session}u.id"
    )


def _common_checks(request: WSGIRequest) -> None:
    """What ``CommonMiddleware`` checks of a request: the host (``ALLOWED_HOSTS``; Django
    answers a bad one) and the refused user agents. Its redirects never apply to
    these two paths (they resolve as they are, without ``www.`` they are Django's)."""
    agent = request.META.get("HTTP_USER_AGENT")
    if agent is not None and any(pattern.search(agent) for pattern in settings.DISALLOWED_USER_AGENTS):
        raise Delegate
    try:
        host = request.get_host()
    except DisallowedHost:
        raise Delegate from None
    if settings.PREPEND_WWW and host and not host.startswith("www."):
        raise Delegate


def _render(request: WSGIRequest, data: dict[str, Any], status: int) -> HttpResponse:
    """The answer as the API renders it (its JSON renderer). ``order_detail_out`` gives the
    fields in the response schema's order and types; the Django path checks them against
    ``OrderDetailOut`` and a test compares both paths' answers byte for byte, so the fast path
    does not check them a second time."""
    from gridcare.api import api

    response: HttpResponse = api.create_response(request, data, status=status)
    return response


def _payload(schema: Any, body: bytes) -> Any:
    try:
        return schema.model_validate(json.loads(body))
    except Exception:  # noqa: BLE001 - Django answers bad input with its 422
        raise Delegate from None


# ---- 受理 -----------------------------------------------------------------------------------------


def _create(request: WSGIRequest, cursor: Any, user: Any, body: bytes, written: list[bool]) -> HttpResponse:
    from gridcare.core.errors import GridCareError
    from gridcare.workorders.api.orders import order_detail_out
    from gridcare.workorders.api.schemas import OrderCreateIn
    from gridcare.workorders.services import orders as svc
    from gridcare.workorders.services.clocks import clocks_plan

    try:
        require_staff_perm(user, ADD)
    except GridCareError:
        raise Delegate from None
    data = _payload(OrderCreateIn, body).dict()
    if (
        request.headers.get("Idempotency-Key")
        or data.get("reporter")
        or data.get("kb_article")
        or data.get("answer")
        or data.get("customer_id") is not None
        or data.get("kind") == WorkOrderKind.REPORT
    ):
        raise Delegate
    at = timezone.now()
    try:
        intake = svc.check_intake(
            kind=data["kind"],
            channel=data["channel"],
            category=data["category"],
            subject=data["subject"],
            description=data.get("description", ""),
            grade=data.get("grade", Grade.NORMAL),
            contact_name=data.get("contact_name", ""),
            contact_phone=data.get("contact_phone", ""),
            address=data.get("address", ""),
            reporter=None,
            personal_injury=bool(data.get("personal_injury")),
            media_attention=bool(data.get("media_attention")),
            team=data.get("team", ""),
            external_ref=data.get("external_ref", ""),
        )
    except GridCareError:
        raise Delegate from None
    if intake.grade == Grade.MAJOR:
        raise Delegate  # the service managers' alerts are the service's to write
    customer = account = None
    if data.get("account_number"):
        account, customer = _account(cursor, data["account_number"].strip())
    repeat = None
    query = svc.repeat_query(
        kind=intake.kind,
        category_id=intake.category.pk,
        customer_id=customer.pk if customer is not None else None,
        contact_phone=intake.contact_phone,
        at=at,
    )
    if query is not None:
        cursor.execute(*query, prepare=True)
        repeat = svc.repeat_order(cursor.fetchone())
    order = svc.new_order(
        intake,
        serial=svc.reserve_serial(),
        at=at,
        customer=customer,
        account=account,
        article=None,
        repeat=repeat,
        user=user,
    )
    label = actor_label(user)[:150]
    events = svc.created_events(order, at=at, user=user, label=label, repeat=repeat)
    clocks = clocks_plan(
        order=order,
        stages=workflow_for(intake.kind).stages_at_acceptance(intake.codes),
        at=at,
        category_codes=intake.codes,
        running=set(),
    )
    audit = audit_row(actor=user, obj=order, action="workorder.create", after=snapshot(order, svc.AUDITED))
    written[0] = True
    ids = _write(cursor, (_orders.insert("o"), [_orders.record(order)]), [*events, *clocks], audit)
    if ids is None:  # an insert always writes its row
        raise RuntimeError("the intake statement wrote no order")
    order.pk = ids[0]
    order._state.adding, order._state.db = False, connection.alias
    for obj, pk in zip([*events, *clocks], ids[1:], strict=True):
        obj.pk = pk
        obj.order_id = order.pk  # type: ignore[attr-defined]
        obj._state.adding, obj._state.db = False, connection.alias
    order._prefetched_objects_cache = {"events": events, "clocks": clocks}  # type: ignore[attr-defined]
    return _render(request, order_detail_out(order, user), 201)


def _write(
    cursor: Any, head: tuple[str, list[Any]], children: list[models.Model], audit: AuditEvent
) -> tuple[Any, ...] | None:
    """Run the call's one statement: ``head`` (the CTE ``o`` that writes the order, and its
    parameters), then one insert per timeline row or clock of the order and the audit row,
    each hanging on ``o``. The ids written (the order's, then the children's in order), or
    None when ``o`` wrote nothing (and so nothing was written)."""
    sql, params = head
    kinds = tuple(_events if isinstance(obj, WorkOrderEvent) else _clocks for obj in children)
    statement = _statement(sql, kinds)
    params = [*params, *(rows.record(obj, ("order_id",)) for rows, obj in zip(kinds, children, strict=True))]
    params.append(_audit.record(audit, ("object_id",)))
    try:
        cursor.execute(statement, params, prepare=True)
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError):
        # The statement is atomic: a refused row (a constraint met by a concurrent write, a
        # value the database refuses such as a NUL character) wrote nothing, so Django may
        # still take the call and answer it its way — unless a caller's transaction is open
        # (tests): the failed statement has aborted it. A lost connection is not among
        # these: whether the statement committed is then unknown, and nothing is retried.
        if connection.in_atomic_block:
            raise
        raise _NothingWritten from None
    row = cursor.fetchone()
    return tuple(row) if row is not None else None


@functools.lru_cache(maxsize=256)
def _statement(head: str, kinds: tuple[_Rows, ...]) -> str:
    """The statement of :func:`_write` for one shape of call (built once)."""
    ctes = [head]
    names = []
    for i, rows in enumerate(kinds):
        # Each row after the one before it: their ids follow the order of the call's rows
        # (the timeline lists a call's events by time, then id).
        ctes.append(rows.insert(f"r{i}", fk="order_id", after=f"r{i - 1}" if i else None))
        names.append(f"r{i}")
    ctes.append(_audit.insert("a", overrides={"object_id": "o.id::text"}))
    return (
        f"WITH {', '.join(ctes)} SELECT o.id{''.join(f', {n}.id' for n in names)} "  # noqa: S608 - metadata
        f"FROM o{''.join(f', {n}' for n in names)}"
    )


def _account(cursor: Any, number: str) -> tuple[Account, Customer]:
    """The account of ``number`` and its customer (one statement); unknown: Django's 422."""
    cursor.execute(
        f"SELECT {_accounts.select('a')}, {_customers.select('c')} "  # noqa: S608 - model metadata
        f"FROM {_accounts.table} a JOIN {_customers.table} c ON c.id = a.customer_id WHERE a.number = %s",
        [number],
        prepare=True,
    )
    row = cursor.fetchone()
    if row is None:
        raise Delegate
    n = len(_accounts.all_fields)
    account, customer = _accounts.build(row[:n]), _customers.build(row[n:])
    account.customer = customer
    return account, customer


# ---- a step ---------------------------------------------------------------------------------------


def _step(
    request: WSGIRequest, cursor: Any, user: Any, body: bytes, number: str, written: list[bool]
) -> HttpResponse:
    from gridcare.core.errors import GridCareError
    from gridcare.workorders.api.orders import order_detail_out
    from gridcare.workorders.api.schemas import TransitionIn
    from gridcare.workorders.services import orders as svc
    from gridcare.workorders.services.clocks import clocks_plan

    try:
        require_staff_perm(user, CHANGE)
    except GridCareError:
        raise Delegate from None
    payload = _payload(TransitionIn, body)
    fields = dict(payload.fields)
    if any(fields.get(name) not in (None, "") for name in STEP_EXTRAS):
        raise Delegate
    order, events, clocks = _read(cursor, number)
    if order.version != payload.version or order.paused_since is not None:
        raise Delegate  # Django answers the conflict (409) or handles the paused order
    workflow = workflow_for(order.kind)
    declared = workflow.transitions.get(payload.transition)
    if declared is None or "improvement_recorded" in declared.require:
        raise Delegate
    try:
        plan, clean = svc.step_plan(actor=user, order=order, transition=payload.transition, fields=fields)
    except GridCareError:
        raise Delegate from None
    if plan.pause or plan.resume or plan.reopen or payload.transition == "follow_up":
        raise Delegate
    if svc.plan_fields(workflow, payload.transition) & {"satisfaction", "root_cause"}:
        raise Delegate
    at = timezone.now()
    before = snapshot(order, svc.AUDITED)
    original = {f.attname: getattr(order, f.attname) for f in _orders.fields}
    if plan.assign:
        order.team = _team(cursor, str(clean.get("team", "")))
        order.assignee = None
    running = [c for c in clocks if c.stopped_at is None]
    stopping = running if plan.closes else [c for c in running if plan.stops and c.stage in plan.stops]
    if any(c.paused_since is not None for c in stopping):
        raise Delegate
    starts: list[SlaClock] = []
    if plan.starts and not plan.closes:
        known = svc.categories_cache.get().get(order.category.code)
        if known is None:
            raise Delegate
        starts = clocks_plan(
            order=order,
            stages=plan.starts,
            at=at,
            category_codes=known[1],
            running={c.stage for c in running if c not in stopping},
        )
    svc.step_finish(order, plan, at)
    label = actor_label(user)[:150]
    event = svc.step_event(order, plan, clean, user=user, label=label, at=at)
    audit = audit_row(
        actor=user,
        obj=order,
        action=f"workorder.{payload.transition}",
        before=before,
        after=snapshot(order, svc.AUDITED),
        reason=str(clean.get("note", ""))[:500],
    )
    changed = [f for f in _orders.fields if getattr(order, f.attname) != original[f.attname]]
    params = [*_orders.values(order, changed), order.pk, payload.version]
    if stopping:
        params += [at, [c.pk for c in stopping]]
    written[0] = True
    ids = _write(
        cursor,
        (_update_sql(tuple(f.attname for f in changed), bool(stopping)), params),
        [event, *starts],
        audit,
    )
    if ids is None:
        # Another agent acted between the read and the write: nothing was written (every
        # row of the statement hangs on the versioned update). Django answers the 409.
        raise Delegate
    for clock in stopping:
        clock.stopped_at = at
    for obj, pk in zip([event, *starts], ids[1:], strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias
    order._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "events": [*events, event],
        "clocks": [*clocks, *starts],
    }
    return _render(request, order_detail_out(order, user), 200)


@functools.lru_cache(maxsize=256)
def _update_sql(changed: tuple[str, ...], stopping: bool) -> str:
    """The CTEs of a step's versioned update of the order (``o``) and, when ``stopping``, of
    the clocks it stops (``s``, by id, only if ``o`` wrote)."""
    sets = ", ".join(f"{_qn(f.column)} = {_orders.cast(f)}" for f in _orders.fields if f.attname in changed)
    sql = f"o AS (UPDATE {_orders.table} SET {sets} WHERE id = %s AND version = %s RETURNING id)"  # noqa: S608
    if stopping:
        sql += (
            f", s AS (UPDATE {_clocks.table} SET stopped_at = %s::timestamptz "  # noqa: S608
            "WHERE order_id IN (SELECT id FROM o) AND stopped_at IS NULL AND id = ANY(%s::bigint[]))"
        )
    return sql


def _read(cursor: Any, number: str) -> tuple[WorkOrder, list[WorkOrderEvent], list[SlaClock]]:
    """The order with what the step and its answer read (customer, account, the order it
    repeats), its timeline and its clocks, in one prepared statement (the timeline and the
    clocks as JSON arrays); no lock: the write's ``WHERE version = …`` is the lock."""
    from gridcare.workorders.services.orders import categories_cache

    cursor.execute(_read_sql(), [number], prepare=True)
    row = cursor.fetchone()
    if row is None:
        raise Delegate
    n_o, n_c = len(_orders.all_fields), len(_customers.all_fields)
    order = _orders.build(row[:n_o])
    if order.customer_id is not None:
        order.customer = _customers.build(row[n_o : n_o + n_c])
    if order.account_id is not None:
        order.account = _accounts.build(row[n_o + n_c : -3])
    if order.duplicate_of_id is not None:
        order.duplicate_of = WorkOrder.from_db(None, ["id", "number"], [order.duplicate_of_id, row[-3]])
    category = next((c for c, _codes in categories_cache.get().values() if c.pk == order.category_id), None)
    if category is None:
        raise Delegate
    order.category = category
    if order.team_id is not None:
        team = next((t for t in _active_teams() if t.pk == order.team_id), None)
        if team is not None:
            order.team = team
    events = [_events.build_json(r) for r in json.loads(row[-2] or "[]", parse_float=Decimal)]
    clocks = [_clocks.build_json(r) for r in json.loads(row[-1] or "[]", parse_float=Decimal)]
    return order, events, clocks


@functools.cache
def _read_sql() -> str:
    """The statement of :func:`_read`."""
    events = ", ".join(f"e.{_qn(f.column)}" for f in _events.all_fields)
    clocks = ", ".join(f"k.{_qn(f.column)}" for f in _clocks.all_fields)
    return (
        f"SELECT {_orders.select('o')}, {_customers.select('c')}, {_accounts.select('a')}, d.number, "  # noqa: S608
        f"(SELECT json_agg(json_build_array({events}))::text FROM {_events.table} e "
        "WHERE e.order_id = o.id), "
        f"(SELECT json_agg(json_build_array({clocks}))::text FROM {_clocks.table} k "
        "WHERE k.order_id = o.id) "
        f"FROM {_orders.table} o LEFT JOIN {_customers.table} c ON c.id = o.customer_id "
        f"LEFT JOIN {_accounts.table} a ON a.id = o.account_id "
        f"LEFT JOIN {_orders.table} d ON d.id = o.duplicate_of_id WHERE o.number = %s"
    )


def _active_teams() -> list[Team]:
    from gridcare.workorders.services.orders import teams_cache

    return teams_cache.get()


def _team(cursor: Any, code: str) -> Team:
    """The active team of ``code``, read now (as the service does); none: Django's 422."""
    cursor.execute(
        f"SELECT {_teams.select('t')} FROM {_teams.table} t WHERE t.code = %s AND t.is_active",  # noqa: S608
        [code],
        prepare=True,
    )
    row = cursor.fetchone()
    if row is None:
        raise Delegate
    team: Team = _teams.build(row)
    return team

"""Work orders (工单): accept (受理), transition, comment, attach. Every kind goes through these
functions; what a kind allows is its workflow data, checked by ``engine/workflow.py``.

Acceptance also links a complaint to an earlier one of the same customer and category within
``GRIDCARE_REPEAT_COMPLAINT_DAYS`` (重复投诉) and alerts the service managers at once about a
major one (人身伤害, media attention: domain-rules §2). A transition checks the optimistic
lock (``expected_version``): of two agents acting on one order, one wins and the other gets a
``Conflict`` naming who changed it; nothing of the loser is written.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import actor_label, audit_record, snapshot
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.refcache import RefCache
from gridcare.core.roles import is_customer_user, is_staff_user, require_actor_perm, user_roles
from gridcare.core.uploads import stored_file_name, upload_checked
from gridcare.customers.models import Account, Customer
from gridcare.workorders.choices import (
    AlertKind,
    Channel,
    ContactMethod,
    EventType,
    Grade,
    Satisfaction,
    WorkOrderKind,
)
from gridcare.workorders.engine.workflow import Plan, WorkflowError, plan_transition
from gridcare.workorders.models import (
    Article,
    Attachment,
    Category,
    FollowUpVisit,
    ImprovementAction,
    IntakeKey,
    ReporterIdentity,
    RootCause,
    SlaClock,
    StaffAlert,
    Team,
    WorkOrder,
    WorkOrderEvent,
)
from gridcare.workorders.registry import workflow_for
from gridcare.workorders.selectors.confidentiality import masked_reporter
from gridcare.workorders.services.clocks import (
    active_supervisor,
    category_chain,
    clocks_pause,
    clocks_resume,
    clocks_start,
    clocks_stop,
    service_managers,
)

Actor = AbstractBaseUser | AnonymousUser | str | None

#: The system actor of reports customers file on the portal (a report never names its reporter).
PORTAL_ACTOR = "网上国网 portal"
#: Kinds a customer files on the portal (网上国网).
CUSTOMER_KINDS = (
    WorkOrderKind.COMPLAINT,
    WorkOrderKind.REPORT,
    WorkOrderKind.OPINION,
    WorkOrderKind.SUGGESTION,
    WorkOrderKind.INQUIRY,
    WorkOrderKind.SERVICE_REQUEST,
)
NUMBER_SEQUENCE = "work_order"
NUMBER_PREFIX = "GD"
NUMBER_BLOCK = 50
INTAKE_KEY_HOURS = 24
#: Salt of the keys stored under no user (:func:`_stored_key`); changing it forgets the live ones.
INTAKE_KEY_SALT = "gridcare.workorders.intake_key"
TEXT_MAX = 4000
# The step texts kept whole on the timeline and the improvement action (refused when longer).
TEXT_TOO_LONG = {
    "note": _("The note is longer than 4000 characters."),
    "action": _("The improvement action is longer than 4000 characters."),
}
PHONE_RE = re.compile(r"^\+?[0-9][0-9-]{5,19}$")
AUDITED = (
    "state",
    "is_open",
    "version",
    "grade",
    "category_id",
    "team_id",
    "assignee_id",
    "satisfaction",
    "closed_at",
)
# Fields a transition may carry onto the timeline (anything else given is ignored).
EVENT_FIELDS = (
    "note",
    "team",
    "assignee",
    "method",
    "outcome",
    "satisfaction",
    "root_cause",
    "action",
    "due_date",
)


class _NumberBlocks:
    """Work-order numbers reserved ``NUMBER_BLOCK`` at a time per process, in their own short
    transaction, so concurrent intake never waits on the sequence row (numbers stay unique;
    a process that stops leaves a gap, as a database sequence would)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0

    def take(self) -> int:
        with self._lock:
            if self._next >= self._end:
                if transaction.get_connection().in_atomic_block:
                    # Inside a caller's transaction (tests, nested services): one number at a time.
                    return next_number(NUMBER_SEQUENCE)
                first = next_number(NUMBER_SEQUENCE, count=NUMBER_BLOCK)
                self._next, self._end = first, first + NUMBER_BLOCK
            value = self._next
            self._next += 1
            return value


_numbers = _NumberBlocks()


def reserve_serial() -> int:
    """The serial of the next work-order number (from this process's reserved block)."""
    return _numbers.take()


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return timezone.now()
    if at.tzinfo is None:
        raise ValidationFailed(_("Times must carry a time zone."), field="at")
    return at


def _user_or_none(actor: Actor) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _clean_phone(value: str, field: str) -> str:
    value = (value or "").strip().replace(" ", "")
    if value and not PHONE_RE.match(value):
        raise ValidationFailed(_("Enter a phone number of digits (6 to 20)."), field=field)
    return value


def _load_categories() -> dict[str, tuple[Category, list[str]]]:
    """Active categories by code, each with its chain of codes (most specific first)."""
    cats = {c.pk: c for c in Category.objects.filter(is_active=True)}
    by_code: dict[str, tuple[Category, list[str]]] = {}
    for cat in cats.values():
        chain: list[str] = []
        seen: set[int] = set()
        node: Category | None = cat
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            chain.append(node.code)
            node = cats.get(node.parent_id) if node.parent_id else None
        by_code[cat.code] = (cat, chain)
    return by_code


def _load_teams() -> list[Team]:
    return list(Team.objects.filter(is_active=True).order_by("code"))


categories_cache: RefCache[dict[str, tuple[Category, list[str]]]] = RefCache("categories", _load_categories)
teams_cache: RefCache[list[Team]] = RefCache("teams", _load_teams)


def _default_team(kind: str) -> Team | None:
    for team in teams_cache.get():
        if kind in (team.kinds or []):
            return team
    return None


def _alert(*, recipients: Any, order: WorkOrder, kind: str, message: str, at: dt.datetime) -> int:
    alerts = [
        StaffAlert(recipient=user, order=order, kind=kind, message=message[:300], created_at=at)
        for user in recipients
        if user is not None
    ]
    StaffAlert.objects.bulk_create(alerts)
    return len(alerts)


def _order_label(order: WorkOrder) -> str:
    return f"{order.number} {order.get_kind_display()}: {order.subject[:80]}"


def repeat_query(
    *, kind: str, category_id: int, customer_id: int | None, contact_phone: str, at: dt.datetime
) -> tuple[str, list[Any]] | None:
    """The statement that finds the complaint a new one repeats (重复投诉): the earliest complaint
    of the same customer (or, without one, the same phone) in the same category within the
    repeat window, following its link to the first of the chain. One row ``(id, number)`` or
    none; None when nothing can repeat. Shared by :func:`_repeat_of` and the fast intake path
    (``workorders/fastpath.py``), so the rule is written once."""
    if kind != WorkOrderKind.COMPLAINT:
        return None
    window = at - dt.timedelta(days=settings.GRIDCARE_REPEAT_COMPLAINT_DAYS)
    table = WorkOrder._meta.db_table
    value: Any
    if customer_id:
        who, value = "w.customer_id = %s", customer_id
    elif contact_phone:
        who, value = "w.customer_id IS NULL AND w.contact_phone = %s", contact_phone
    else:
        return None
    sql = (
        f"SELECT COALESCE(d.id, w.id), COALESCE(d.number, w.number) FROM {table} w "  # noqa: S608 - literals
        f"LEFT JOIN {table} d ON d.id = w.duplicate_of_id "
        f"WHERE w.kind = %s AND w.category_id = %s AND w.created_at >= %s AND {who} "
        "ORDER BY w.created_at, w.id LIMIT 1"
    )
    return sql, [WorkOrderKind.COMPLAINT, category_id, window, value]


def repeat_order(row: Sequence[Any] | None) -> WorkOrder | None:
    """The repeated order of a :func:`repeat_query` row: its id and number loaded, the rest
    read when used."""
    return WorkOrder.from_db(None, ["id", "number"], [row[0], row[1]]) if row else None


def _repeat_of(
    *, kind: str, category_id: int, customer_id: int | None, contact_phone: str, at: dt.datetime
) -> WorkOrder | None:
    """The order a new complaint repeats (:func:`repeat_query`), decided before it is written."""
    query = repeat_query(
        kind=kind, category_id=category_id, customer_id=customer_id, contact_phone=contact_phone, at=at
    )
    if query is None:
        return None
    sql, params = query
    params[2] = connection.ops.adapt_datetimefield_value(params[2])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return repeat_order(cursor.fetchone())


def work_order_create(
    *,
    actor: Actor,
    kind: str,
    channel: str,
    category: str,
    subject: str,
    description: str = "",
    grade: str = Grade.NORMAL,
    customer_id: int | None = None,
    account_number: str = "",
    contact_name: str = "",
    contact_phone: str = "",
    address: str = "",
    reporter: Mapping[str, Any] | None = None,
    personal_injury: bool = False,
    media_attention: bool = False,
    team: str = "",
    external_ref: str = "",
    kb_article: str = "",
    answer: str = "",
    at: dt.datetime | None = None,
    idempotency_key: str = "",
    key_owner: Any = None,
) -> WorkOrder:
    """受理: accept a work order of any kind and start its clocks.

    ``category`` is a category code of the kind. For a report the contact given (or
    ``reporter``) is stored apart as the reporter (为举报人保密); ``customer_id`` /
    ``account_number`` then name the reported party, if known. ``answer`` answers an inquiry
    at first contact (the inquiry is accepted and answered in one go); ``kb_article`` links
    the knowledge article used.

    The number is reserved before the transaction opens (from a per-process block), so
    concurrent intake never queues on the number sequence; a refused order leaves a gap.

    ``idempotency_key`` (a channel's ``Idempotency-Key``): the same key from the same user
    within ``INTAKE_KEY_HOURS`` returns the order the first call filed, without a second (the
    console forms send a one-time intake key, so a double click or a resend files one order).
    The key belongs to the signed-in actor, or to ``key_owner`` when a system actor files for
    a signed-in user (the portal's customer filing a report): such a key is stored under no
    user, as an HMAC of the owner and the key, so that nothing but the reporter identity links
    the owner to the order (为举报人保密).

    Customers file through :func:`work_order_file_by_customer`, not here.
    """
    require_actor_perm(actor, "workorders.add_workorder")
    return _accept(
        actor=actor,
        idempotency_key=idempotency_key,
        key_owner=key_owner,
        fields={
            "kind": kind,
            "channel": channel,
            "category": category,
            "subject": subject,
            "description": description,
            "grade": grade,
            "customer_id": customer_id,
            "account_number": account_number,
            "contact_name": contact_name,
            "contact_phone": contact_phone,
            "address": address,
            "reporter": reporter,
            "personal_injury": personal_injury,
            "media_attention": media_attention,
            "team": team,
            "external_ref": external_ref,
            "kb_article": kb_article,
            "answer": answer,
            "at": at,
        },
    )


def work_order_file_by_customer(
    *,
    user: Any,
    kind: str,
    category: str,
    subject: str,
    description: str = "",
    account_number: str = "",
    address: str = "",
    contact_phone: str = "",
    wants_reply: bool = True,
    idempotency_key: str = "",
) -> WorkOrder:
    """网上国网: a signed-in customer files an order for themselves, on channel ``web``.

    The one thing a customer may do with work orders besides following their own: ``user``
    must be a portal customer (``customer`` role) with a customer record, and holds no staff
    permission for it. Only the portal kinds, no grade, team, answer or other intake field
    a clerk sets; the contact is the customer (their mobile when ``contact_phone`` is empty).

    * A complaint, opinion, suggestion, inquiry or service request is about one of the
      customer's own accounts (``account_number``). The customer's user is the actor: the
      order's ``created_by``, its first timeline row and its audit row name them.
    * A report is filed without an account (the customer is the reporter, not the reported
      party): the customer is stored as its confidential reporter, and the order is accepted
      under the system actor ``PORTAL_ACTOR``, because a report's timeline and audit trail
      never name its reporter (为举报人保密).

    ``idempotency_key`` is the customer's: the form sent twice files one order. A report's key
    is stored without the customer's user (see :func:`work_order_create`'s ``key_owner``).
    """
    customer = Customer.objects.filter(user=user).first() if is_customer_user(user) else None
    if customer is None or is_staff_user(user):
        raise PermissionDenied()
    if kind not in CUSTOMER_KINDS:
        raise ValidationFailed(_("Unknown work order kind."), field="kind")
    number = (account_number or "").strip()
    phone = (contact_phone or "").strip() or customer.mobile
    # Everything a clerk sets at intake keeps its default: a customer cannot set it.
    fields: dict[str, Any] = {
        "kind": kind,
        "channel": Channel.WEB,
        "category": category,
        "subject": subject,
        "description": description,
        "grade": Grade.NORMAL,
        "customer_id": None,
        "account_number": "",
        "contact_name": "",
        "contact_phone": "",
        "address": address,
        "reporter": None,
        "personal_injury": False,
        "media_attention": False,
        "team": "",
        "external_ref": "",
        "kb_article": "",
        "answer": "",
        "at": None,
    }
    if kind == WorkOrderKind.REPORT:
        if number:
            raise ValidationFailed(
                _("A report is not filed on your own account; leave it empty."), field="account_number"
            )
        reporter = {
            "name": customer.name,
            "phone": phone,
            "customer_id": customer.pk,
            "wants_reply": wants_reply,
        }
        return _accept(
            actor=PORTAL_ACTOR,
            idempotency_key=idempotency_key,
            key_owner=user,
            fields={**fields, "reporter": reporter},
        )
    if not number:
        raise ValidationFailed(_("Choose the account it concerns."), field="account_number")
    if not Account.objects.filter(customer=customer, number=number).exists():
        raise ValidationFailed(_("Choose one of your accounts."), field="account_number")
    return _accept(
        actor=user,
        idempotency_key=idempotency_key,
        key_owner=None,
        fields={
            **fields,
            "customer_id": customer.pk,
            "account_number": number,
            "contact_name": customer.name,
            "contact_phone": phone,
        },
    )


def _accept(*, actor: Actor, idempotency_key: str, key_owner: Any, fields: dict[str, Any]) -> WorkOrder:
    """Acceptance once the caller is authorised: the idempotency key, then :func:`_create`."""
    key = (idempotency_key or "").strip()
    user = _user_or_none(key_owner if key_owner is not None else actor)
    if key:
        if user is None:
            raise ValidationFailed(_("An idempotency key needs a signed-in user."), field="idempotency_key")
        if len(key) > 100:
            raise ValidationFailed(
                _("The idempotency key is longer than 100 characters."), field="idempotency_key"
            )
        user, key = _stored_key(user=user, key=key, unowned=key_owner is not None)
        earlier = _order_for_key(user, key)
        if earlier is not None:
            return earlier
    serial = reserve_serial()
    try:
        with transaction.atomic():
            order = _create(actor=actor, serial=serial, **fields)
            if key:
                # An expired key is reused; a live one stays: if another call filed under it
                # since our check, the insert below fails and that call's order is returned.
                IntakeKey.objects.filter(user=user, key=key, created_at__lt=_key_since()).delete()
                IntakeKey.objects.create(user=user, key=key, order=order, created_at=timezone.now())
            return order
    except IntegrityError:
        # Two calls with one key at the same moment: the other one filed the order.
        earlier = _order_for_key(user, key) if key else None
        if earlier is None:
            raise
        return earlier


def _stored_key(*, user: Any, key: str, unowned: bool) -> tuple[Any, str]:
    """The user and the key an ``IntakeKey`` row stores. A key of the user a system actor files
    for (``unowned``: the portal's customer filing a report under ``PORTAL_ACTOR``) is stored
    under no user, as an HMAC of the user and the key: the row never names the reporter, and
    only their own resend of the same key finds it again."""
    if not unowned:
        return user, key
    return None, salted_hmac(INTAKE_KEY_SALT, f"{user.pk}:{key}", algorithm="sha256").hexdigest()


def _key_since() -> dt.datetime:
    """Keys created before this moment have expired."""
    return timezone.now() - dt.timedelta(hours=INTAKE_KEY_HOURS)


def _order_for_key(user: Any, key: str) -> WorkOrder | None:
    found = (
        IntakeKey.objects.filter(user=user, key=key, created_at__gte=_key_since())
        .select_related("order")
        .first()
    )
    return found.order if found is not None else None


@dataclass(frozen=True)
class Intake:
    """The checked fields of a new order (what :func:`check_intake` returns): everything of
    acceptance that needs no database read beyond the per-process reference data."""

    kind: str
    channel: str
    grade: str
    category: Category
    codes: list[str]
    subject: str
    description: str
    contact_name: str
    contact_phone: str
    address: str
    external_ref: str
    personal_injury: bool
    media_attention: bool
    team: Team | None
    reporter: dict[str, Any] | None


def check_intake(
    *,
    kind: str,
    channel: str,
    category: str,
    subject: str,
    description: str,
    grade: str,
    contact_name: str,
    contact_phone: str,
    address: str,
    reporter: Mapping[str, Any] | None,
    personal_injury: bool,
    media_attention: bool,
    team: str,
    external_ref: str,
) -> Intake:
    """Check and normalise a new order's fields (``ValidationFailed`` names the field at fault).
    One rule for :func:`_create` and the fast intake path."""
    if kind not in WorkOrderKind.values:
        raise ValidationFailed(_("Unknown work order kind."), field="kind")
    if channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    if grade not in Grade.values:
        raise ValidationFailed(_("Unknown grade."), field="grade")
    workflow_for(kind)
    found_category = categories_cache.get().get(category)
    if found_category is None:  # perhaps added since the cache was filled: read again once
        categories_cache.clear()
        found_category = categories_cache.get().get(category)
    cat, codes = found_category if found_category is not None else (None, [])
    if cat is None or cat.kind != kind:
        raise ValidationFailed(_("Choose a category of this kind."), field="category")
    subject = (subject or "").strip()
    if not subject:
        raise ValidationFailed(_("Give a subject."), field="subject")
    if len(subject) > 200:
        raise ValidationFailed(_("The subject is longer than 200 characters."), field="subject")
    contact_phone = _clean_phone(contact_phone, "contact_phone")
    contact_name = (contact_name or "").strip()[:50]
    if personal_injury or media_attention:
        grade = Grade.MAJOR
    assigned_team = None
    if team:
        assigned_team = next((t for t in teams_cache.get() if t.code == team), None)
        if assigned_team is None:  # perhaps added since the cache was filled: read again once
            teams_cache.clear()
            assigned_team = next((t for t in teams_cache.get() if t.code == team), None)
        if assigned_team is None:
            raise ValidationFailed(_("No active team has this code."), field="team")
    else:
        assigned_team = _default_team(kind)
    reporter_data: dict[str, Any] | None = None
    if kind == WorkOrderKind.REPORT:
        given = dict(reporter or {})
        reporter_data = {
            "name": str(given.get("name") or contact_name).strip()[:50],
            "phone": _clean_phone(str(given.get("phone") or contact_phone), "reporter.phone"),
            "id_number": str(given.get("id_number") or "").strip()[:18],
            "address": str(given.get("address") or "").strip()[:200],
            "customer_id": given.get("customer_id"),
            "wants_reply": bool(given.get("wants_reply", True)),
        }
        contact_name, contact_phone = "", ""
    elif reporter:
        raise ValidationFailed(_("Only a report has a reporter."), field="reporter")
    return Intake(
        kind=kind,
        channel=channel,
        grade=grade,
        category=cat,
        codes=codes,
        subject=subject,
        description=(description or "").strip(),
        contact_name=contact_name,
        contact_phone=contact_phone,
        address=(address or "").strip()[:200],
        external_ref=(external_ref or "").strip()[:40],
        personal_injury=personal_injury,
        media_attention=media_attention,
        team=assigned_team,
        reporter=reporter_data,
    )


def new_order(
    intake: Intake,
    *,
    serial: int,
    at: dt.datetime,
    customer: Customer | None,
    account: Account | None,
    article: Article | None,
    repeat: WorkOrder | None,
    user: Any,
) -> WorkOrder:
    """The new order as :func:`_create` writes it (not yet saved)."""
    return WorkOrder(
        number=f"{NUMBER_PREFIX}{timezone.localtime(at):%Y%m%d}{serial:07d}",
        kind=intake.kind,
        channel=intake.channel,
        category=intake.category,
        grade=intake.grade,
        state=workflow_for(intake.kind).initial,
        subject=intake.subject,
        description=intake.description,
        customer=customer,
        account=account,
        contact_name=intake.contact_name,
        contact_phone=intake.contact_phone,
        address=intake.address,
        external_ref=intake.external_ref,
        personal_injury=intake.personal_injury,
        media_attention=intake.media_attention,
        team=intake.team,
        kb_article=article,
        duplicate_of=repeat,
        created_by=user,
        created_at=at,
        updated_at=at,
    )


def created_events(
    order: WorkOrder, *, at: dt.datetime, user: Any, label: str, repeat: WorkOrder | None
) -> list[WorkOrderEvent]:
    """The timeline rows of an acceptance: 受理, and 重复工单 when it repeats an earlier one."""
    events = [
        WorkOrderEvent(
            order=order,
            at=at,
            actor=user,
            actor_label=label,
            event_type=EventType.CREATED,
            to_state=order.state,
            data={
                "kind": order.kind,
                "channel": order.channel,
                "category": order.category.code,
                "grade": order.grade,
            },
        )
    ]
    if repeat is not None:
        events.append(
            WorkOrderEvent(
                order=order,
                at=at,
                actor_label=label,
                event_type=EventType.DUPLICATE,
                data={"repeat_of": repeat.number},
            )
        )
    return events


def _create(
    *,
    actor: Actor,
    serial: int,
    kind: str,
    channel: str,
    category: str,
    subject: str,
    description: str,
    grade: str,
    customer_id: int | None,
    account_number: str,
    contact_name: str,
    contact_phone: str,
    address: str,
    reporter: Mapping[str, Any] | None,
    personal_injury: bool,
    media_attention: bool,
    team: str,
    external_ref: str,
    kb_article: str,
    answer: str,
    at: dt.datetime | None,
) -> WorkOrder:
    at = _now(at)
    intake = check_intake(
        kind=kind,
        channel=channel,
        category=category,
        subject=subject,
        description=description,
        grade=grade,
        contact_name=contact_name,
        contact_phone=contact_phone,
        address=address,
        reporter=reporter,
        personal_injury=personal_injury,
        media_attention=media_attention,
        team=team,
        external_ref=external_ref,
    )
    workflow = workflow_for(kind)
    cat, codes = intake.category, intake.codes
    customer = None
    account = None
    if account_number:
        account = Account.objects.select_related("customer").filter(number=account_number.strip()).first()
        if account is None:
            raise ValidationFailed(_("No account has this number."), field="account_number")
        customer = account.customer
    if customer_id is not None:
        found = Customer.objects.filter(pk=customer_id).first()
        if found is None:
            raise ValidationFailed(_("No such customer."), field="customer_id")
        if customer is not None and customer.pk != found.pk:
            raise ValidationFailed(_("The account does not belong to this customer."), field="account_number")
        customer = found
    article = None
    if kb_article:
        article = Article.objects.filter(code=kb_article, is_published=True).first()
        if article is None:
            raise ValidationFailed(_("No published knowledge article has this code."), field="kb_article")

    user = _user_or_none(actor)
    repeat = _repeat_of(
        kind=kind,
        category_id=cat.pk,
        customer_id=customer.pk if customer is not None else None,
        contact_phone=intake.contact_phone,
        at=at,
    )
    order = new_order(
        intake,
        serial=serial,
        at=at,
        customer=customer,
        account=account,
        article=article,
        repeat=repeat,
        user=user,
    )
    order.save(force_insert=True)
    assigned_team, grade = intake.team, intake.grade
    label = actor_label(actor)[:150]
    events = created_events(order, at=at, user=user, label=label, repeat=repeat)
    if intake.reporter is not None:
        identity = ReporterIdentity.objects.create(order=order, **intake.reporter)
        audit_record(
            actor=actor, obj=identity, action="workorder.reporter_record", after=masked_reporter(identity)
        )
    clocks = clocks_start(
        order=order, stages=workflow.stages_at_acceptance(codes), at=at, category_codes=codes, running=set()
    )
    if article is not None:
        Article.objects.filter(pk=article.pk).update(use_count=F("use_count") + 1)
        events.append(
            WorkOrderEvent(
                order=order,
                at=at,
                actor=user,
                actor_label=label,
                event_type=EventType.KB_LINK,
                data={"article": article.code},
            )
        )
    if grade == Grade.MAJOR:
        recipients = list(service_managers())
        supervisor = active_supervisor(assigned_team)
        if supervisor is not None:
            recipients.append(supervisor)
        recipients = list({u.pk: u for u in recipients}.values())
        sent = _alert(
            recipients=recipients,
            order=order,
            kind=AlertKind.MAJOR,
            message=str(
                _("Major work order accepted, report at once: %(order)s") % {"order": _order_label(order)}
            ),
            at=at,
        )
        events.append(
            WorkOrderEvent(
                order=order,
                at=at,
                actor_label=label,
                event_type=EventType.ALERT,
                data={"alerted": sent, "why": "major"},
            )
        )
    WorkOrderEvent.objects.bulk_create(events)
    audit_record(actor=actor, obj=order, action="workorder.create", after=snapshot(order, AUDITED))
    if answer:
        order = _transition(actor=actor, order=order, transition="answer", fields={"note": answer}, at=at)
        WorkOrder.objects.filter(pk=order.pk).update(answered_first_contact=True)
        order.answered_first_contact = True
    else:
        # The new order's whole timeline and all its clocks are the rows just written: kept
        # on it (as a prefetch would), so that ``order.events.all()`` / ``order.clocks.all()``
        # answer without reading them back.
        order._prefetched_objects_cache = {"events": events, "clocks": list(clocks)}  # type: ignore[attr-defined]
    return order


def _lock(number: str) -> WorkOrder:
    """The order, locked for the transaction (``get`` by its unique number, no ORDER BY).

    Joined: the category (every step needs it) and the customer, account and repeat-of order
    the answer names (one statement instead of three after it). The team and assignee are
    read when a step or the answer needs them: with them the join took PostgreSQL 2 ms to
    plan, against 0.6 ms for these four tables."""
    try:
        return (
            WorkOrder.objects.select_for_update(of=("self",))
            .select_related("category", "customer", "account", "duplicate_of")
            .get(number=number)
        )
    except WorkOrder.DoesNotExist:
        raise NotFound() from None


#: The timeline rows of the changes that raise an order's version (a step, a contact, a
#: knowledge-article link): notes, attachments and the SLA clock's warnings, breaches and
#: escalations leave the version alone.
VERSION_EVENTS = (EventType.TRANSITION, EventType.CONTACT, EventType.KB_LINK)


def _last_changed_by(order: WorkOrder) -> str:
    """Who made the order's latest versioned change: the colleague a ``Conflict`` names."""
    last = order.events.filter(event_type__in=VERSION_EVENTS).order_by("-at", "-id").first()
    return last.actor_label if last else ""


def _map_workflow_error(exc: WorkflowError) -> Exception:
    if exc.code == "role_not_allowed":
        return PermissionDenied(_("Your role may not take this step."))
    if exc.code == "not_allowed_in_state":
        return Conflict(
            _("This step is not possible in the order's current state."),
            field="transition",
            code="invalid_state",
        )
    if exc.code == "unknown_transition":
        return ValidationFailed(_("Unknown step for this kind of order."), field="transition")
    if exc.code == "invalid_choice":
        return ValidationFailed(_("Choose one of the allowed values."), field=exc.field)
    return ValidationFailed(_("This field is required for this step."), field=exc.field)


def _clean_fields(order: WorkOrder, fields: Mapping[str, Any], required: Iterable[str]) -> dict[str, Any]:
    """The transition's inputs, stripped, plus the facts the workflow data may require
    (read only when the step requires them)."""
    clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items() if v is not None}
    if "improvement_recorded" in required:
        clean["improvement_recorded"] = order.improvements.exists()
    return clean


@transaction.atomic
def work_order_transition(
    *,
    actor: Actor,
    number: str,
    transition: str,
    expected_version: int,
    fields: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> WorkOrder:
    """Take one step of an order's workflow (assign, contact, reply, follow-up visit, close …).

    ``expected_version`` is the version the caller saw; if the order changed since, nothing is
    written and ``Conflict`` says who changed it.
    """
    require_actor_perm(actor, "workorders.change_workorder")
    order = _lock(number)
    if order.version != expected_version:
        raise Conflict(
            _(
                "%(who)s changed this order first (now version %(version)s, state %(state)s); "
                "reload and try again."
            )
            % {"who": _last_changed_by(order) or _("Someone"), "version": order.version, "state": order.state}
        )
    return _transition(actor=actor, order=order, transition=transition, fields=fields or {}, at=_now(at))


def step_plan(
    *, actor: Actor, order: WorkOrder, transition: str, fields: Mapping[str, Any]
) -> tuple[Plan, dict[str, Any]]:
    """Check a step against the order's workflow data, the actor's roles and the texts' and
    contact method's limits: its plan and its cleaned inputs. One rule for :func:`_transition`
    and the fast intake path."""
    workflow = workflow_for(order.kind)
    declared = workflow.transitions.get(transition)
    clean = _clean_fields(order, fields, declared.require if declared is not None else ())
    roles = user_roles(actor) if not isinstance(actor, str) else set()
    try:
        plan = plan_transition(
            workflow,
            state=order.state,
            transition=transition,
            roles=roles,
            fields=clean,
            superuser=isinstance(actor, str) or bool(getattr(actor, "is_superuser", False)),
        )
    except WorkflowError as exc:
        raise _map_workflow_error(exc) from None
    for name, too_long in TEXT_TOO_LONG.items():  # kept whole: a longer text is refused, never cut
        if name in clean and len(str(clean[name])) > TEXT_MAX:
            raise ValidationFailed(too_long, field=name)
    if "method" in clean and clean["method"] and clean["method"] not in ContactMethod.values:
        raise ValidationFailed(_("Choose one of the allowed values."), field="method")
    return plan, clean


def step_event(
    order: WorkOrder, plan: Plan, clean: Mapping[str, Any], *, user: Any, label: str, at: dt.datetime
) -> WorkOrderEvent:
    """The timeline row of a step (联系客户 is a contact, every other step a transition)."""
    return WorkOrderEvent(
        order=order,
        at=at,
        actor=user,
        actor_label=label,
        event_type=EventType.CONTACT if plan.transition == "contact" else EventType.TRANSITION,
        transition=plan.transition,
        from_state=plan.from_state,
        to_state=plan.to_state,
        note=str(clean.get("note", "")),
        data={k: str(clean[k]) for k in EVENT_FIELDS if k in clean and k != "note" and clean[k] != ""},
    )


def step_finish(order: WorkOrder, plan: Plan, at: dt.datetime) -> None:
    """What every step does to the order itself: the reply time, the new state, closing, the
    version and the change time (after the step's own changes)."""
    if plan.reopen:
        order.replied_at = None  # reopened: the reply to come is the one that counts
    elif plan.transition == "reply" or (plan.stops and "reply" in plan.stops and order.replied_at is None):
        order.replied_at = at
    order.state = plan.to_state
    if plan.closes:
        order.is_open = False
        order.closed_at = at
        order.paused_since = None
    order.version += 1
    order.updated_at = at


def _transition(
    *, actor: Actor, order: WorkOrder, transition: str, fields: Mapping[str, Any], at: dt.datetime
) -> WorkOrder:
    workflow = workflow_for(order.kind)
    plan, clean = step_plan(actor=actor, order=order, transition=transition, fields=fields)
    before = snapshot(order, AUDITED)
    user = _user_or_none(actor)
    label = actor_label(actor)[:150]
    notify: list[tuple[Any, str, str]] = []

    if plan.assign:
        team = (
            Team.objects.select_related("supervisor").filter(code=clean.get("team"), is_active=True).first()
        )
        if team is None:
            raise ValidationFailed(_("No active team has this code."), field="team")
        assignee = None
        if clean.get("assignee"):
            assignee = get_user_model().objects.filter(username=clean["assignee"], is_active=True).first()
            if assignee is None or not is_staff_user(assignee):
                raise ValidationFailed(_("No active staff user has this user name."), field="assignee")
            if not team.members.filter(pk=assignee.pk).exists():
                raise ValidationFailed(_("The assignee is not a member of the team."), field="assignee")
        order.team, order.assignee = team, assignee
        if assignee is not None:
            notify.append(
                (assignee, AlertKind.ASSIGNED, str(_("Assigned to you: %(o)s") % {"o": _order_label(order)}))
            )
    if transition == "follow_up" or "satisfaction" in plan_fields(workflow, transition):
        satisfaction = clean.get("satisfaction", "")
        if satisfaction not in Satisfaction.values:
            raise ValidationFailed(_("Choose one of the allowed values."), field="satisfaction")
        FollowUpVisit.objects.create(
            order=order,
            at=at,
            method=clean.get("method") or ContactMethod.PHONE,
            satisfaction=satisfaction,
            note=clean.get("note", ""),
            actor=user,
        )
        order.satisfaction = satisfaction
    if "root_cause" in plan_fields(workflow, transition):
        cause = RootCause.objects.filter(code=clean.get("root_cause")).first()
        if cause is None:
            raise ValidationFailed(_("Choose a root cause."), field="root_cause")
        due = _due_date(clean.get("due_date"))
        ImprovementAction.objects.create(
            order=order,
            root_cause=cause,
            action=str(clean.get("action", "")),
            owner_team=order.team,
            due_date=due,
            created_by=user,
            created_at=at,
        )
    if plan.pause:
        clocks_pause(order=order, at=at)
        order.paused_since = at
    if plan.resume:
        clocks_resume(order=order, at=at)
        order.paused_since = None
    if plan.closes:
        clocks_stop(order=order, stages=None, at=at)
    elif plan.stops:
        clocks_stop(order=order, stages=plan.stops, at=at)
        # A step that stops the paused clocks (a reply while waiting for the customer)
        # ends the pause: the order is paused only while one of its running clocks is.
        if (
            order.paused_since is not None
            and not SlaClock.objects.filter(
                order=order, stopped_at__isnull=True, paused_since__isnull=False
            ).exists()
        ):
            order.paused_since = None
    if plan.starts and not plan.closes:
        known = categories_cache.get().get(order.category.code)
        codes = known[1] if known is not None else category_chain(order.category)
        clocks_start(order=order, stages=plan.starts, at=at, category_codes=codes)
    if plan.reopen:
        order.reopen_count += 1
        order.replied_at = None
        people = [order.assignee, active_supervisor(order.team)]
        for person in {p.pk: p for p in people if p is not None and p.is_active}.values():
            notify.append(
                (
                    person,
                    AlertKind.REOPENED,
                    str(_("Reopened after an unsatisfied follow-up: %(o)s") % {"o": _order_label(order)}),
                )
            )
    step_finish(order, plan, at)
    order.save()
    step_event(order, plan, clean, user=user, label=label, at=at).save(force_insert=True)
    for person, kind, message in notify:
        _alert(recipients=[person], order=order, kind=kind, message=message, at=at)
    audit_record(
        actor=actor,
        obj=order,
        action=f"workorder.{transition}",
        before=before,
        after=snapshot(order, AUDITED),
        reason=str(clean.get("note", ""))[:500],
    )
    return order


def _due_date(value: Any) -> dt.date | None:
    """An improvement action's due date: a date, or its ISO text (YYYY-MM-DD); blank is none."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationFailed(_("Enter a date as YYYY-MM-DD."), field="due_date")


def plan_fields(workflow: Any, transition: str) -> set[str]:
    """The fields a transition names in its data (required or with choices)."""
    t = workflow.transitions[transition]
    return set(t.require) | set(t.choices)


@transaction.atomic
def work_order_comment(
    *, actor: Actor, number: str, note: str, at: dt.datetime | None = None
) -> WorkOrderEvent:
    """备注: add a note to the timeline. Notes do not change the order or its version, so a
    note never conflicts with a colleague's transition."""
    require_actor_perm(actor, "workorders.change_workorder")
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Write a note."), field="note")
    if len(note) > TEXT_MAX:
        raise ValidationFailed(TEXT_TOO_LONG["note"], field="note")
    order = WorkOrder.objects.filter(number=number).first()
    if order is None:
        raise NotFound()
    at = _now(at)
    event = WorkOrderEvent.objects.create(
        order=order,
        at=at,
        actor=_user_or_none(actor),
        actor_label=actor_label(actor)[:150],
        event_type=EventType.NOTE,
        note=note,
    )
    audit_record(actor=actor, obj=order, action="workorder.note", after={"note": note[:200]})
    return event


@transaction.atomic
def work_order_attach(
    *, actor: Actor, number: str, upload: UploadedFile, at: dt.datetime | None = None
) -> Attachment:
    """附件: store a photo or document on the order (size and type checked)."""
    require_actor_perm(actor, "workorders.add_attachment")
    order = WorkOrder.objects.filter(number=number).first()
    if order is None:
        raise NotFound()
    name, content_type, size = upload_checked(upload)
    at = _now(at)
    attachment = Attachment(
        order=order,
        name=name,
        content_type=content_type,
        size=size,
        uploaded_by=_user_or_none(actor),
        uploaded_at=at,
    )
    attachment.file.save(stored_file_name(name, at), upload, save=False)
    attachment.save()
    WorkOrderEvent.objects.create(
        order=order,
        at=at,
        actor=_user_or_none(actor),
        actor_label=actor_label(actor)[:150],
        event_type=EventType.ATTACHMENT,
        data={"attachment": attachment.pk, "name": name},
    )
    audit_record(actor=actor, obj=order, action="workorder.attach", after={"attachment": name})
    return attachment


@transaction.atomic
def staff_alert_read(*, user: Any, alert_ids: list[int] | None = None) -> int:
    """Mark the user's alerts read (all unread when ``alert_ids`` is None); one audit row
    names the alerts (an escalation read is part of the record of who knew when)."""
    with transaction.atomic():
        qs = StaffAlert.objects.select_for_update().filter(recipient=user, read_at__isnull=True)
        if alert_ids is not None:
            qs = qs.filter(pk__in=alert_ids)
        ids = sorted(qs.values_list("pk", flat=True))
        if not ids:
            return 0
        now = timezone.now()
        changed = StaffAlert.objects.filter(pk__in=ids).update(read_at=now)
        audit_record(
            actor=user,
            obj=user,
            action="workorder.alerts_read",
            after={"alerts": ids, "read_at": now.isoformat()},
        )
    return changed

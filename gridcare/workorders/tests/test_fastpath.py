"""快速受理通道 (``workorders/fastpath.py``) against Django itself, through the WSGI callables.

- The same calls through plain Django and through :class:`FastIntake` give the same status
  line, headers and body, byte for byte, and write the same rows (the order, its timeline, its
  clocks, its audit rows); the fast path's counter shows it really answered them.
- Every case the fast path leaves to Django reaches Django unchanged and gets Django's answer
  (and Django's rows): the counter shows it was handed over.
- A step whose order changed between the fast path's read and its write writes nothing, and
  Django answers the 409.
- Off on SQLite and with ``GRIDCARE_FAST_INTAKE`` false; other methods and paths pass through.

How the two paths are compared: Django's run comes first, inside a savepoint rolled back
once its answers and rows are taken, under a frozen clock (``timezone.now``) that the fast run
replays. The fast run therefore starts from the same database at the same times: only ids may
differ (the numbers of the orders a run files are masked all the same, in case one path
reserves them differently).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Model
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client, RequestFactory
from django.utils import timezone

from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from gridcare.quality.models import ServiceStandard
from gridcare.workorders import fastpath
from gridcare.workorders.fastpath import FastIntake
from gridcare.workorders.models import (
    FollowUpVisit,
    ReporterIdentity,
    SlaClock,
    StaffAlert,
    WorkOrder,
    WorkOrderEvent,
)
from gridcare.workorders.services.orders import work_order_transition
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept

pytestmark = pytest.mark.django_db

CREATE = "/api/workorders/orders"
#: The frozen clock starts here (a Monday morning) and moves on by TICK before every call.
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING).astimezone(dt.UTC)
TICK = dt.timedelta(minutes=7, seconds=3, microseconds=1001)
EN: dict[str, str | None] = {"HTTP_ACCEPT_LANGUAGE": "en"}
COMPLAINT = {
    "kind": "complaint",
    "channel": "hotline",
    "category": "cmp_business_tariff",
    "subject": "  电费比上月高出很多 ",
    "description": '客户反映本月电费异常偏高,"要求"核查。\n第二行 ⚡',
    "contact_name": "王女士",
    "contact_phone": "139 0000 1111",
    "address": "东城区和平里 1 号",
    "external_ref": "12345-0001",
}
RF = RequestFactory(HTTP_HOST="127.0.0.1")
EXPIRES = re.compile(r"expires=[^;]*")
ID = re.compile(r'"id": \d+')
FORM_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*')


# ---- the harness ------------------------------------------------------------------------------


class Clock:
    """``timezone.now`` for the test: the same instant for every read within a call."""

    def __init__(self) -> None:
        self.at = START

    def now(self) -> dt.datetime:
        return self.at


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(timezone, "now", frozen.now)
    return frozen


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    """A WSGI handler (and the fast path) closes "old" connections when a request starts and
    ends; inside the test's transaction that would close it. The test client disconnects the
    same receiver while it calls the handler."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@dataclass(frozen=True)
class Login:
    session: str | None  # the session cookie; None: not signed in
    token: str  # the CSRF cookie (and, unless a call says otherwise, its header)


def login(user: Any) -> Login:
    client = Client()
    client.force_login(user)
    return Login(client.cookies[settings.SESSION_COOKIE_NAME].value, _get_new_csrf_string())


def anonymous() -> Login:
    return Login(None, _get_new_csrf_string())


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]  # sorted, names in lower case
    content: bytes

    @property
    def code(self) -> int:
        return int(self.status.split()[0])

    def json(self) -> Any:
        return json.loads(self.content)

    def comparable(self) -> tuple[str, list[tuple[str, str]], str]:
        """Status, headers and body, with only what is random or read from the wall clock
        masked: a cookie's expiry (``time.time()``, not the frozen clock) and the masked CSRF
        token an HTML page renders (a new mask every time)."""
        headers = [(n, EXPIRES.sub("expires=…", v) if n == "set-cookie" else v) for n, v in self.headers]
        return self.status, headers, FORM_TOKEN.sub(r"\1…", self.content.decode())


def call(
    app: Callable[..., Any],
    who: Login,
    path: str,
    payload: Any = None,
    *,
    method: str = "POST",
    body: bytes | None = None,
    meta: Mapping[str, str | None] | None = None,
) -> Answer:
    """One request through a WSGI callable, as a server would make it (``meta`` adds or, with
    None, removes environ keys)."""
    data = body if body is not None else b"" if payload is None else json.dumps(payload).encode()
    cookies = f"{settings.CSRF_COOKIE_NAME}={who.token}"
    if who.session is not None:
        cookies = f"{settings.SESSION_COOKIE_NAME}={who.session}; {cookies}"
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_COOKIE": cookies,
        "HTTP_X_CSRFTOKEN": who.token,
    }
    environ.update(meta or {})
    environ = RF._base_environ(  # type: ignore[attr-defined]
        **{k: v for k, v in environ.items() if v is not None}, **{"wsgi.input": io.BytesIO(data)}
    )
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.append((status, headers))

    result = app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    assert len(started) == 1
    status, headers = started[0]
    return Answer(status, sorted((name.lower(), value) for name, value in headers), content)


# A call of a run: the order it steps (None: a create; an int: the n-th order this run filed;
# a str: that order number), its body, and extra environ keys (headers).
Call = tuple[int | str | None, Any, dict[str, str | None]]


def create(payload: Any, **meta: str | None) -> Call:
    return (None, payload, meta)


def step(
    order: int | str, transition: str, version: int, meta: dict[str, str | None] | None = None, **fields: Any
) -> Call:
    return (order, {"transition": transition, "version": version, "fields": fields}, meta or {})


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)  # the orders the run filed, in order
    rows: str = ""

    def mask(self, text: str) -> str:
        for i, number in enumerate(self.numbers):
            text = text.replace(number, f"<order {i}>")
        return text


def _values(obj: Model, skip: set[str]) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in skip}


def rows_of(numbers: list[str]) -> str:
    """Every row written about these orders (ids and the links by id left out), as JSON."""
    rows = []
    for number in numbers:
        order = WorkOrder.objects.get(number=number)
        rows.append(
            {
                "order": _values(order, {"id", "duplicate_of_id"}),
                "duplicate_of": order.duplicate_of.number if order.duplicate_of else None,
                "events": [_values(e, {"id", "order_id"}) for e in order.events.order_by("at", "id")],
                "clocks": [_values(c, {"id", "order_id"}) for c in order.clocks.order_by("stage", "id")],
                "audit": [
                    _values(a, {"id", "object_id"})
                    for a in AuditEvent.objects.filter(
                        object_type="workorders.workorder", object_id=str(order.pk)
                    ).order_by("at", "id")
                ],
                "reporter": [
                    _values(r, {"id", "order_id"}) for r in ReporterIdentity.objects.filter(order=order)
                ],
                "alerts": [
                    _values(a, {"id", "order_id"})
                    for a in StaffAlert.objects.filter(order=order).order_by("recipient_id", "id")
                ],
                "visits": [_values(v, {"id", "order_id"}) for v in FollowUpVisit.objects.filter(order=order)],
            }
        )
    return json.dumps(rows, default=str, ensure_ascii=False, indent=1)


def run(app: Callable[..., Any], who: Login, calls: list[Call], clock: Clock) -> Run:
    """The calls one after another on the frozen clock, then each order they filed or stepped
    read back through the app (``GET``, Django's answer on both paths)."""
    clock.at = START
    result = Run()
    touched: list[str] = []
    for target, payload, meta in calls:
        clock.at += TICK
        if target is None:
            path = CREATE
        else:
            number = result.numbers[target] if isinstance(target, int) else target
            path = f"{CREATE}/{number}/transitions"
            touched.append(number)
        body = payload if isinstance(payload, bytes) else None
        answer = call(app, who, path, None if body is not None else payload, body=body, meta=meta)
        result.answers.append(answer)
        if target is None and answer.code == 201:
            number = answer.json()["number"]
            if number not in result.numbers:
                result.numbers.append(number)
    orders = [*result.numbers, *(n for n in dict.fromkeys(touched) if n not in result.numbers)]
    for number in orders:
        clock.at += TICK
        result.answers.append(call(app, who, f"{CREATE}/{number}", method="GET"))
    result.rows = rows_of([n for n in orders if WorkOrder.objects.filter(number=n).exists()])
    return result


def compare(fast: FastIntake, who: Login, calls: list[Call], clock: Clock) -> Run:
    """Django's run (rolled back), then the same run through ``fast``: the same answers, byte
    for byte, and the same rows."""
    django_app = get_wsgi_application()
    with transaction.atomic():
        django = run(django_app, who, calls, clock)
        transaction.set_rollback(True)
    ours = run(fast, who, calls, clock)
    assert len(ours.answers) == len(django.answers)
    for i, (mine, theirs) in enumerate(zip(ours.answers, django.answers, strict=True)):
        status, headers, content = mine.comparable()
        assert status == theirs.status, (i, mine.content, theirs.content)
        assert headers == theirs.comparable()[1], i
        assert ours.mask(content) == django.mask(theirs.comparable()[2]), i
        # The same JSON (key order included), and the same text of it.
        parsed = json.dumps(json.loads(ours.mask(content)), ensure_ascii=False)
        assert parsed == json.dumps(json.loads(django.mask(theirs.content.decode())), ensure_ascii=False), i
    assert ours.mask(ours.rows) == django.mask(django.rows)
    return ours


# ---- data -------------------------------------------------------------------------------------


@pytest.fixture
def agent(make_user: Any) -> Any:
    return make_user(roles=["hotline_agent"], first_name="芳", last_name="刘")


@pytest.fixture
def team(agent: Any) -> Any:
    return TeamFactory(code="KF01", members=[agent])


@pytest.fixture
def account() -> Any:
    return AccountFactory()


@pytest.fixture
def follow_up_standard() -> ServiceStandard:
    """A complaint's follow-up visit within 48 hours (no seeded standard covers the stage, so
    without it a reply would start no clock)."""
    return ServiceStandard.objects.create(
        code="TEST-CMP-FOLLOW-UP",
        name="投诉回访 48 小时",
        kind="complaint",
        stage="follow_up",
        basis="hours",
        amount=Decimal(48),
        effective_from=dt.date(2021, 1, 1),
        source_status="local",
    )


def sequences(account: str, team: str) -> dict[str, list[Call]]:
    return {
        # 受理 with a 户号 → 联系客户 (no answer, then reached: the contact clock stops) → 派单 →
        # 答复 (stops reply, contact and review; starts the follow-up clock).
        "complaint": [
            create({**COMPLAINT, "account_number": account}),
            step(0, "contact", 1, method="phone", outcome="no_answer"),
            step(0, "contact", 2, method="sms", outcome="reached", note="已短信告知"),
            step(0, "assign", 3, team=team),
            step(0, "reply", 4, note='已核实:抄表无误,按"阶梯电价"计算。\n客户表示理解 ⚡'),
        ],
        # A caller without an account, twice: the second repeats the first (重复投诉).
        "repeat": [
            create({**COMPLAINT, "contact_phone": "13700002222"}),
            create({**COMPLAINT, "contact_phone": "13700002222", "subject": "又一次电费异常"}),
            step(1, "assign", 1, team=team),
            step(0, "assign", 1, team=team),
        ],
        # An inquiry answered later (the final state: every clock stops), in English.
        "inquiry": [
            create(
                {"kind": "inquiry", "channel": "web", "category": "inq_payment", "subject": "怎么交电费"},
                **EN,
            ),
            step(0, "answer", 1, EN, note="可通过网上国网App交费。"),
        ],
        # 电器损坏 (on-site and reply clocks) → 派单 → 处理完成并答复 → 归档.
        "service_request": [
            create(
                {
                    "kind": "service_request",
                    "channel": "app",
                    "category": "sr_appliance",
                    "subject": "雷击后电视机损坏",
                    "account_number": account,
                }
            ),
            step(0, "assign", 1, team=team),
            step(0, "complete", 2, note="已上门核实并登记赔偿。"),
            step(0, "close", 3),
        ],
        # An opinion filed to a team at once → 答复 → 归档.
        "opinion": [
            create(
                {
                    "kind": "opinion",
                    "channel": "counter",
                    "category": "opn_service",
                    "subject": "营业厅排队久",
                    "team": team,
                }
            ),
            step(0, "reply", 1, note="已增开窗口。"),
            step(0, "close", 2),
        ],
    }


# ---- the fast path answers as Django does ---------------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.parametrize("name", ["complaint", "repeat", "inquiry", "service_request", "opinion"])
def test_the_fast_path_answers_and_writes_as_django_does(
    name: str, agent: Any, team: Any, account: Any, follow_up_standard: ServiceStandard, clock: Clock
) -> None:
    calls = sequences(account.number, team.code)[name]
    fast = FastIntake(get_wsgi_application())
    ours = compare(fast, login(agent), calls, clock)
    assert fast.counts == Counter({"fast": len(calls)})
    assert [a.code for a in ours.answers[: len(calls)]] == [201 if c[0] is None else 200 for c in calls]
    last = {a.json()["number"]: a.json() for a in ours.answers[len(calls) :]}
    first = last[ours.numbers[0]]
    if name == "complaint":
        assert first["state"] == "replied"
        assert first["version"] == 5
        assert first["account_number"] == account.number
        assert first["team"] == team.code
        assert [e["type"] for e in first["timeline"]] == [
            "created",
            "contact",
            "contact",
            "transition",
            "transition",
        ]
        running = [c for c in first["clocks"] if c["stopped_at"] is None]
        assert [c["stage"] for c in running] == ["follow_up"]
        assert dt.datetime.fromisoformat(running[0]["due_at"]) - dt.datetime.fromisoformat(
            running[0]["started_at"]
        ) == dt.timedelta(hours=48)
        assert {c["stage"] for c in first["clocks"] if c["stopped_at"] is not None} >= {"contact", "reply"}
        assert first["replied_at"] is not None
    elif name == "repeat":
        second = last[ours.numbers[1]]
        assert second["duplicate_of"] == ours.numbers[0]
        assert [e["type"] for e in second["timeline"]] == ["created", "duplicate", "transition"]
        assert first["duplicate_of"] == ""
    elif name == "inquiry":
        assert first["state"] == "answered"
        answered = ours.answers[1].json()  # asked in English
        assert answered["kind_label"] == "Inquiry (咨询)"
        assert answered["timeline"][-1]["type_label"] == "Transition"
        assert first["kind_label"] != answered["kind_label"]  # the read-back asks in no language
        assert first["is_open"] is False
        assert first["closed_at"] is not None
        assert all(c["stopped_at"] is not None for c in first["clocks"])
    elif name == "service_request":
        assert first["state"] == "closed"
        assert {c["stage"] for c in first["clocks"]} >= {"onsite", "reply"}
        assert all(c["stopped_at"] is not None for c in first["clocks"])
    else:
        assert first["state"] == "closed"
        assert first["team"] == team.code
    order = WorkOrder.objects.get(number=ours.numbers[0])
    audited = AuditEvent.objects.filter(object_type="workorders.workorder", object_id=str(order.pk))
    assert audited.count() == 1 + sum(1 for c in calls if c[0] == 0)


# ---- everything else is Django's ------------------------------------------------------------------


def delegated(who: Login, calls: list[Call], clock: Clock, *codes: int) -> Run:
    """The calls reach Django, which gives its own answers and writes its own rows."""
    fast = FastIntake(get_wsgi_application())
    ours = compare(fast, who, calls, clock)
    assert [a.code for a in ours.answers[: len(calls)]] == list(codes)
    assert fast.counts == Counter({"delegated": len(calls)})
    return ours


@pytest.mark.postgresql
@pytest.mark.parametrize(
    ("who", "change", "meta", "code"),
    [
        pytest.param("anonymous", {}, {}, 401, id="no-session"),
        pytest.param("agent", {}, {"HTTP_X_CSRFTOKEN": "0" * 32}, 403, id="csrf-mismatch"),
        pytest.param("agent", {}, {"HTTP_X_CSRFTOKEN": None}, 403, id="csrf-missing"),
        pytest.param("customer", {}, {}, 403, id="portal-customer"),
        pytest.param("inspector", {}, {}, 403, id="no-add-permission"),
        pytest.param("agent", {"category": "cmp_nope"}, {}, 422, id="unknown-category"),
        pytest.param("agent", {"category": "inq_payment"}, {}, 422, id="category-of-another-kind"),
        pytest.param("agent", {"account_number": "0000000000"}, {}, 422, id="unknown-account"),
        pytest.param("agent", {"channel": "fax"}, {}, 422, id="unknown-channel"),
        pytest.param("agent", {"contact_phone": "call me"}, {}, 422, id="bad-phone"),
        pytest.param("agent", {"team": "NOPE"}, {}, 422, id="unknown-team"),
        pytest.param("agent", {"subject": None}, {}, 422, id="missing-subject"),
        pytest.param("agent", {"reporter": {"name": "某人"}}, {}, 422, id="reporter-on-a-complaint"),
    ],
)
def test_a_create_django_refuses_is_handed_to_django(
    who: str,
    change: dict[str, Any],
    meta: dict[str, str | None],
    code: int,
    agent: Any,
    make_user: Any,
    clock: Clock,
) -> None:
    if who == "agent":
        caller = login(agent)
    elif who == "anonymous":
        caller = anonymous()
    elif who == "customer":
        caller = login(CustomerFactory(with_login=True).user)
    else:
        caller = login(make_user(roles=[who]))
    payload = {k: v for k, v in {**COMPLAINT, **change}.items() if v is not None}
    ours = delegated(caller, [create(payload, **meta)], clock, code)
    assert ours.numbers == []
    assert not WorkOrder.objects.exists()
    assert ours.answers[0].json()["code"]


@pytest.mark.postgresql
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"kind": "complaint", ', 400),
        (b"\xff\xfe", 400),
        (b"kind=complaint", 400),
        (b"[]", 422),
        (b'"text"', 422),
        (b"null", 422),
    ],
    ids=["truncated", "not-utf8", "form", "list", "string", "null"],
)
def test_a_body_that_is_no_order_is_handed_to_django(
    body: bytes, code: int, agent: Any, clock: Clock
) -> None:
    ours = delegated(login(agent), [create(body)], clock, code)
    assert not WorkOrder.objects.exists()
    assert ours.answers[0].json()["code"]


@pytest.mark.postgresql
def test_a_report_is_filed_by_django_with_its_reporter_apart(agent: Any, clock: Clock) -> None:
    report = {
        "kind": "report",
        "channel": "hotline",
        "category": "rpt_theft",
        "subject": "邻居私拉电线",
        "reporter": {"name": "钱举报", "phone": "13800009999", "address": "西街8号"},
    }
    ours = delegated(login(agent), [create(report)], clock, 201)
    body = ours.answers[0].json()
    assert (body["contact_name"], body["contact_phone"], body["contact_masked"]) == ("***", "***", True)
    assert b"13800009999" not in ours.answers[0].content
    identity = ReporterIdentity.objects.get(order__number=body["number"])
    assert (identity.name, identity.phone, identity.address) == ("钱举报", "13800009999", "西街8号")


@pytest.mark.postgresql
@pytest.mark.parametrize(
    "change",
    [{"grade": "major"}, {"personal_injury": True}, {"media_attention": True}],
    ids=["grade", "injury", "media"],
)
def test_a_major_order_is_filed_by_django_with_its_alerts(
    change: dict[str, Any], agent: Any, team: Any, clock: Clock
) -> None:
    ours = delegated(login(agent), [create({**COMPLAINT, **change, "team": team.code})], clock, 201)
    order = WorkOrder.objects.get(number=ours.numbers[0])
    assert order.grade == "major"
    assert StaffAlert.objects.filter(order=order, kind="major", recipient=team.supervisor).exists()
    assert "alert" in [e["type"] for e in ours.answers[0].json()["timeline"]]


@pytest.mark.postgresql
def test_the_rarer_creates_are_filed_by_django(agent: Any, account: Any, clock: Clock) -> None:
    calls = [
        create({**COMPLAINT, "customer_id": account.customer_id}),
        create(
            {
                "kind": "inquiry",
                "channel": "counter",
                "category": "inq_payment",
                "subject": "怎么交电费",
                "answer": "可通过网上国网App交费。",
            }
        ),
        create({**COMPLAINT, "subject": "按键重发"}, HTTP_IDEMPOTENCY_KEY="k-1"),
        create({**COMPLAINT, "subject": "按键重发"}, HTTP_IDEMPOTENCY_KEY="k-1"),
    ]
    ours = delegated(login(agent), calls, clock, 201, 201, 201, 201)
    answers = [a.json() for a in ours.answers[:4]]
    assert answers[0]["customer_id"] == account.customer_id
    assert answers[1]["answered_first_contact"] is True
    assert answers[2]["number"] == answers[3]["number"]  # the key filed one order
    assert WorkOrder.objects.count() == 3


@pytest.fixture
def replied(agent: Any, team: Any) -> WorkOrder:
    """A complaint replied to (version 3), accepted at the clock's start."""
    order = accept(actor=agent, at=START)
    for version, (transition, fields) in enumerate(
        [("assign", {"team": team.code}), ("reply", {"note": "已答复"})], start=1
    ):
        work_order_transition(
            actor=agent,
            number=order.number,
            transition=transition,
            expected_version=version,
            fields=fields,
            at=START + dt.timedelta(seconds=version),
        )
    order.refresh_from_db()
    assert (order.state, order.version) == ("replied", 3)
    return order


@pytest.mark.postgresql
def test_a_step_django_refuses_is_handed_to_django(
    agent: Any, team: Any, make_user: Any, clock: Clock
) -> None:
    order = accept(actor=agent, at=START)
    number = order.number
    work_order_transition(
        actor=agent,
        number=number,
        transition="assign",
        expected_version=1,
        fields={"team": team.code},
        at=START,
    )
    calls = [
        step(number, "contact", 1, method="phone", outcome="reached"),  # stale version
        step("GD000000000000000", "assign", 2, team=team.code),  # no such order
        step(number, "follow_up", 2, method="phone", satisfaction="satisfied"),  # not in this state
        step(number, "review", 2, note="审核"),  # the service manager's step
        step(number, "assign", 2),  # no team
        step(number, "assign", 2, team="NOPE"),
        step(number, "teleport", 2),
        step(number, "contact", 2, method="pigeon", outcome="reached"),
        step(number, "reply", 2, note="答" * 4001),
        step(number, "contact", 2, {"HTTP_X_CSRFTOKEN": "0" * 32}, method="phone", outcome="reached"),
        (number, b'{"transition": "assign", "version": 2', {}),
        (number, {"transition": "assign", "version": 0, "fields": {}}, {}),
    ]
    ours = delegated(login(agent), calls, clock, 409, 404, 409, 403, 422, 422, 422, 422, 422, 403, 400, 422)
    stale = ours.answers[0].json()
    assert (stale["code"], stale["version"], stale["state"]) == ("conflict", 2, "investigating")
    order.refresh_from_db()
    assert order.version == 2
    delegated(anonymous(), [step(number, "contact", 2, method="phone", outcome="reached")], clock, 401)
    for role in ("auditor", "customer"):
        who = login(make_user(roles=[role]))
        delegated(who, [step(number, "contact", 2, method="phone", outcome="reached")], clock, 403)
    order.refresh_from_db()
    assert order.version == 2


@pytest.mark.postgresql
def test_the_rarer_steps_are_taken_by_django(agent: Any, team: Any, replied: WorkOrder, clock: Clock) -> None:
    other = accept(actor=agent, at=START)
    calls = [
        # A follow-up visit (its satisfaction and visit row), then the order is improving.
        step(replied.number, "follow_up", 3, method="phone", satisfaction="satisfied"),
        # An assignee named (an alert to them), a pause, then a step on the paused order.
        step(other.number, "assign", 1, team=team.code, assignee=agent.username),
        step(other.number, "pause", 2, note="等待客户提供电费单"),
        step(other.number, "contact", 3, method="phone", outcome="reached"),
        step(other.number, "resume", 4),
    ]
    delegated(login(agent), calls, clock, 200, 200, 200, 200, 200)
    assert FollowUpVisit.objects.filter(order=replied, satisfaction="satisfied").exists()
    assert StaffAlert.objects.filter(order=other, recipient=agent, kind="assigned").exists()
    other.refresh_from_db()
    assert (other.version, other.paused_since) == (5, None)


# ---- a race -----------------------------------------------------------------------------------------


@pytest.mark.postgresql
def test_a_step_whose_order_changed_after_the_read_writes_nothing_and_django_answers_409(
    agent: Any,
    team: Any,
    follow_up_standard: ServiceStandard,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
) -> None:
    """The reply would update the order, stop its running clocks, start the follow-up clock, add
    a timeline row and an audit row: all in the one statement that hangs on the version."""
    order = accept(actor=agent, at=START)
    work_order_transition(
        actor=agent,
        number=order.number,
        transition="assign",
        expected_version=1,
        fields={"team": team.code},
        at=START,
    )
    clocks = list(SlaClock.objects.filter(order=order).order_by("id").values())
    events = WorkOrderEvent.objects.count()
    audit = AuditEvent.objects.count()
    original = fastpath._read

    def read_then_a_colleague_acts(cursor: Any, number: str) -> Any:
        found = original(cursor, number)
        WorkOrder.objects.filter(number=number).update(version=F("version") + 1)
        return found

    monkeypatch.setattr(fastpath, "_read", read_then_a_colleague_acts)
    fast = FastIntake(get_wsgi_application())
    who = login(agent)
    clock.at += TICK
    reply = {"transition": "reply", "version": 2, "fields": {"note": "已答复"}}
    answer = call(fast, who, f"{CREATE}/{order.number}/transitions", reply)
    assert answer.code == 409, answer.content
    body = answer.json()
    assert (body["code"], body["version"], body["state"]) == ("conflict", 3, "investigating")
    assert fast.counts == Counter({"delegated": 1})
    assert WorkOrderEvent.objects.count() == events
    assert AuditEvent.objects.count() == audit
    assert list(SlaClock.objects.filter(order=order).order_by("id").values()) == clocks
    order.refresh_from_db()
    assert (order.state, order.version, order.replied_at) == ("investigating", 3, None)
    # Without a colleague in between, the same step is the fast path's.
    monkeypatch.setattr(fastpath, "_read", original)
    clock.at += TICK
    answer = call(fast, who, f"{CREATE}/{order.number}/transitions", {**reply, "version": 3})
    assert answer.code == 200, answer.content
    assert fast.counts == Counter({"delegated": 1, "fast": 1})
    assert WorkOrderEvent.objects.count() == events + 1
    assert AuditEvent.objects.count() == audit + 1
    assert SlaClock.objects.filter(order=order, stage="follow_up", stopped_at=None).count() == 1


# ---- off, and other requests ---------------------------------------------------------------------


def test_the_fast_path_is_on_only_on_postgresql(agent: Any, clock: Clock) -> None:
    assert fastpath.enabled() is (connection.vendor == "postgresql")
    fast = FastIntake(get_wsgi_application())
    ours = compare(fast, login(agent), [create(COMPLAINT)], clock)
    assert ours.answers[0].code == 201
    # On SQLite the wrapper hands the request over before counting anything.
    assert fast.counts == (Counter({"fast": 1}) if connection.vendor == "postgresql" else Counter())


def test_switched_off_the_wrapper_passes_everything_to_django(
    agent: Any, settings: Any, clock: Clock
) -> None:
    settings.GRIDCARE_FAST_INTAKE = False
    assert not fastpath.enabled()
    fast = FastIntake(get_wsgi_application())
    ours = compare(
        fast,
        login(agent),
        [create(COMPLAINT), step(0, "contact", 1, method="phone", outcome="reached")],
        clock,
    )
    assert [a.code for a in ours.answers[:2]] == [201, 200]
    assert fast.counts == Counter()


@pytest.mark.postgresql
def test_with_ssl_redirect_a_plain_http_call_is_djangos_redirect(
    agent: Any, settings: Any, clock: Clock
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    fast = FastIntake(get_wsgi_application())
    who = login(agent)
    clock.at += TICK
    answer = call(fast, who, CREATE, COMPLAINT, meta={"HTTP_HOST": "testserver"})
    assert answer.code == 301, answer.content
    assert dict(answer.headers)["location"] == f"https://testserver{CREATE}"
    assert fast.counts == Counter({"delegated": 1})
    assert not WorkOrder.objects.exists()
    # Over HTTPS (the proxy says so) the same call is the fast path's again.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    https = {
        "HTTP_HOST": "testserver",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_ORIGIN": "https://testserver",
    }
    clock.at += TICK
    answer = call(fast, who, CREATE, COMPLAINT, meta=https)
    assert answer.code == 201, answer.content
    assert fast.counts == Counter({"delegated": 1, "fast": 1})


def test_with_atomic_requests_the_wrapper_passes_everything_to_django(agent: Any, clock: Clock) -> None:
    connection.settings_dict["ATOMIC_REQUESTS"] = True
    try:
        assert not fastpath.enabled()
        fast = FastIntake(get_wsgi_application())
        ours = compare(fast, login(agent), [create(COMPLAINT)], clock)
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = False
    assert ours.answers[0].code == 201
    assert fast.counts == Counter()


def test_other_methods_and_paths_pass_through_untouched(agent: Any, clock: Clock) -> None:
    order = accept(actor=agent, at=START)
    who = login(agent)
    fast = FastIntake(get_wsgi_application())
    django_app = get_wsgi_application()
    requests: list[tuple[str, str, bytes]] = [
        ("GET", CREATE, b""),
        ("GET", f"{CREATE}/{order.number}", b""),
        ("GET", f"{CREATE}/{order.number}/transitions", b""),
        ("PUT", CREATE, json.dumps(COMPLAINT).encode()),
        ("POST", f"{CREATE}/", json.dumps(COMPLAINT).encode()),
        ("POST", f"{CREATE}/{order.number}/comments", json.dumps({"note": "客户要求下午回电"}).encode()),
        ("POST", f"{CREATE}/GD-1/transitions", json.dumps({"transition": "assign", "version": 1}).encode()),
        # A decoded "%0A" at the end: Django's routes end in \Z and answer 404; so must the path.
        (
            "POST",
            f"{CREATE}/{order.number}/transitions\n",
            json.dumps(
                {"transition": "contact", "version": 1, "fields": {"method": "phone", "outcome": "reached"}}
            ).encode(),
        ),
        ("POST", f"{CREATE}\n", json.dumps(COMPLAINT).encode()),
        ("POST", CREATE, b""),  # no body
        ("POST", CREATE, json.dumps({**COMPLAINT, "description": "长" * 70_000}).encode()),  # too long
        ("POST", "/api/workorders/alerts/read", b"{}"),
    ]
    for method, path, body in requests:
        clock.at += TICK
        with transaction.atomic():
            theirs = call(django_app, who, path, method=method, body=body)
            transaction.set_rollback(True)
        mine = call(fast, who, path, method=method, body=body)
        # Only the id of the note differs (ids are not rolled back with Django's run).
        assert ID.sub("", str(mine.comparable())) == ID.sub("", str(theirs.comparable())), path
    assert fast.counts == Counter()
    assert WorkOrder.objects.count() == 1
    assert WorkOrderEvent.objects.filter(order=order, event_type="note").count() == 1


@pytest.mark.postgresql
@pytest.mark.parametrize("change", ["logout", "password", "inactive", "expired"])
def test_a_session_the_fast_path_knew_is_checked_again_on_every_call(
    agent: Any, clock: Clock, change: str
) -> None:
    """The process keeps what it learnt of a session (its user, its decoded data), but every
    call reads the session row and the user again: a logout, a new password, a deactivated
    user or an expired session ends the fast path's answers at once (Django answers 401)."""
    from django.contrib.sessions.models import Session

    who = login(agent)
    fast = FastIntake(get_wsgi_application())
    clock.at += TICK
    assert call(fast, who, CREATE, COMPLAINT).code == 201
    assert fast.counts == Counter({"fast": 1})
    if change == "logout":
        Session.objects.filter(session_key=who.session).delete()
    elif change == "password":
        agent.set_password("a-new-password-2026")
        agent.save()
    elif change == "inactive":
        type(agent).objects.filter(pk=agent.pk).update(is_active=False)
    else:
        Session.objects.filter(session_key=who.session).update(
            expire_date=timezone.now() - dt.timedelta(seconds=1)
        )
    clock.at += TICK
    again = call(fast, who, CREATE, COMPLAINT)
    assert again.code == 401, again.content
    assert fast.counts == Counter({"fast": 1, "delegated": 1})
    assert WorkOrder.objects.count() == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_value_the_database_refuses_writes_nothing_and_django_answers(make_user: Any, clock: Clock) -> None:
    """A NUL character passes the schemas but not PostgreSQL: the fast path's one statement is
    refused whole, outside any transaction, so the call goes to Django (which answers it as it
    always did, here with its 500) and no row of it exists."""
    from gridcare.workorders.tests.sla_fixtures import reload_reference_data

    # A transactional test: an earlier one's flush may have dropped the data migrations' rows
    # (role groups, categories, standards), so they are put back before the agent is made.
    reload_reference_data()
    agent = make_user(roles=["hotline_agent"], first_name="芳", last_name="刘")
    who = login(agent)
    fast = FastIntake(get_wsgi_application())
    audit_before = AuditEvent.objects.count()
    clock.at += TICK
    answer = call(fast, who, CREATE, {**COMPLAINT, "description": "第一行\u0000第二行"})
    assert answer.code == 500
    assert fast.counts == Counter({"delegated": 1})
    assert WorkOrder.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before
    clock.at += TICK
    assert call(fast, who, CREATE, COMPLAINT).code == 201  # the connection is still good
    assert fast.counts == Counter({"delegated": 1, "fast": 1})


def test_each_row_of_a_call_is_inserted_after_the_one_before_it() -> None:
    """PostgreSQL does not order data-modifying CTEs among themselves: each row's insert reads
    the one before it, so the ids follow the call's rows (the timeline sorts by time, then
    id, and a call's events share their time)."""
    kinds = (fastpath._events, fastpath._events, fastpath._clocks)
    statement = fastpath._statement("o AS (SELECT 1 AS id)", kinds)
    inserts = {
        m.group(1): m.group(2) for m in re.finditer(r"(r\d) AS \(INSERT .*? FROM (.*?) RETURNING", statement)
    }
    assert set(inserts) == {"r0", "r1", "r2"}
    assert not re.search(r"\br\d\b", inserts["r0"])  # the first reads only the order
    assert inserts["r1"].startswith("o, r0, ")
    assert inserts["r2"].startswith("o, r1, ")

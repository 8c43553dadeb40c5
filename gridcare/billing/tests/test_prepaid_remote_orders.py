"""Remote orders (远程停复电) between the daily cycles: a reconnect goes to the head-end as soon
as the payment (or check) that made it commits, and a disconnect goes only to an account
that is still active and prepaid (docs/billing-prepaid.md)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from gridcare.billing import seed_data
from gridcare.billing.choices import RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.models import RemoteOrder
from gridcare.billing.services.payments import payment_post
from gridcare.billing.services.prepaid import (
    FileOutboxHeadEnd,
    prepaid_check_balances,
    remote_order_confirm,
    remote_order_send,
    remote_orders_dispatch,
)
from gridcare.billing.tests.test_prepaid import (
    D,
    _data_dir,
    _run_to_disconnect,
    at,
    balance,
    prepaid,
    set_balance,
)
from gridcare.billing.tests.test_prepaid_mode_switch import _update
from gridcare.core.errors import PermissionDenied
from gridcare.core.models import AuditEvent

pytestmark = pytest.mark.django_db

__all__ = ["_data_dir"]  # the autouse fixture of the service tests


class DownHeadEnd:
    """A head-end adapter that cannot be reached."""

    def send(self, **kwargs: Any) -> str:
        raise RuntimeError("head-end returned 503")


class PartlyDownHeadEnd:
    """A head-end adapter that fails with an unexpected error for meter RO0201 only."""

    def send(self, *, order: RemoteOrder, meter_asset_no: str, at: dt.datetime) -> str:
        if meter_asset_no == "RO0201":
            raise ValueError("unexpected reply from the head-end")
        return FileOutboxHeadEnd().send(order=order, meter_asset_no=meter_asset_no, at=at)


def _outbox(settings: Any) -> list[dict[str, Any]]:
    path = settings.DATA_DIR / "headend" / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _actions(order: RemoteOrder) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="billing.remoteorder", object_id=str(order.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )


def _disconnected(account: Any) -> RemoteOrder:
    """Below zero past the notice period; the disconnect sent and executed."""
    _run_to_disconnect(account)
    remote_orders_dispatch(actor="test")
    disconnect = RemoteOrder.objects.get(account=account)
    remote_order_confirm(actor="test", order_id=disconnect.pk)
    return disconnect


def _pay(actor: Any, account: Any, amount: str, key: str) -> None:
    payment_post(
        actor=actor, account_id=account.pk, amount=amount, channel="counter_cash", idempotency_key=key
    )


# --- a reconnect is sent when the payment commits -------------------------------------------------


def test_a_payment_sends_the_reconnect_as_soon_as_it_commits(
    settings: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Paid at the counter at 09:00 by a clerk who may not act on remote orders: the
    reconnect is created and handed to the head-end once the payment commits, not at the
    next night's dispatch."""
    account, _meter = prepaid("RO0001")
    _disconnected(account)
    clerk = make_user(roles=["counter_clerk"])

    with django_capture_on_commit_callbacks(execute=True):
        _pay(clerk, account, "100.00", "ro0001-1")

    reconnect = RemoteOrder.objects.get(account=account, kind=RemoteOrderKind.RECONNECT)
    assert reconnect.status == RemoteOrderStatus.SENT
    assert [(o["command"], o["ref"]) for o in _outbox(settings)] == [
        ("disconnect", f"RO{reconnect.pk - 1}"),
        ("reconnect", f"RO{reconnect.pk}"),
    ]
    assert _actions(reconnect) == ["remote_order_create_reconnect", "remote_order_send"]
    assert remote_orders_dispatch(actor="test")["pending"] == 0


def test_a_reconnect_the_head_end_refuses_stays_pending_and_the_payment_stands(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    account, _meter = prepaid("RO0002")
    _disconnected(account)
    settings.GRIDCARE_HEADEND_ADAPTER = f"{__name__}.DownHeadEnd"

    with django_capture_on_commit_callbacks(execute=True):
        _pay("alipay", account, "100.00", "ro0002-1")  # does not raise

    assert balance(account) == Decimal("95.00")
    reconnect = RemoteOrder.objects.get(account=account, kind=RemoteOrderKind.RECONNECT)
    assert reconnect.status == RemoteOrderStatus.PENDING
    assert _actions(reconnect) == ["remote_order_create_reconnect"]
    # The head-end is back: the next dispatch sends it.
    settings.GRIDCARE_HEADEND_ADAPTER = ""
    assert remote_orders_dispatch(actor="test")["sent"] == 1
    reconnect.refresh_from_db()
    assert reconnect.status == RemoteOrderStatus.SENT


def test_the_check_sends_the_reconnect_it_creates(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The balance came back without the payment hook (say it failed): the check that finds
    it creates the reconnect and sends it in the same pass."""
    account, _meter = prepaid("RO0003")
    _disconnected(account)
    set_balance(account, "20.00")

    with django_capture_on_commit_callbacks(execute=True):
        counts = prepaid_check_balances(now=at(D + dt.timedelta(days=7)), actor="test")

    assert counts["reconnect_orders"] == 1
    reconnect = RemoteOrder.objects.get(account=account, kind=RemoteOrderKind.RECONNECT)
    assert reconnect.status == RemoteOrderStatus.SENT
    assert _outbox(settings)[-1]["command"] == "reconnect"


@pytest.mark.django_db(transaction=True)
def test_a_payment_sends_the_reconnect_after_a_real_commit(settings: Any) -> None:
    """No test capture: the payment commits, its hook re-checks the account and sends the
    reconnect, and the summary counts it."""
    seed_data.load(apps)  # the transactional flush dropped the seeded catalogue and policy
    account, _meter = prepaid("RO0004")
    _disconnected(account)

    _pay("wsgw", account, "100.00", "ro0004-1")

    reconnect = RemoteOrder.objects.get(account=account, kind=RemoteOrderKind.RECONNECT)
    assert reconnect.status == RemoteOrderStatus.SENT
    assert _outbox(settings)[-1] == {
        "ref": f"RO{reconnect.pk}",
        "at": _outbox(settings)[-1]["at"],
        "command": "reconnect",
        "meter": "RO0004",
        "account": account.number,
    }

    set_balance(account, "-1.00")  # below zero again, then back up: the check's summary counts the send
    RemoteOrder.objects.filter(pk=reconnect.pk).update(status=RemoteOrderStatus.CANCELLED)
    set_balance(account, "5.00")
    counts = prepaid_check_balances(now=at(D + dt.timedelta(days=8)), actor="test")
    assert (counts["reconnect_orders"], counts["reconnect_sent"], counts["reconnect_send_failed"]) == (
        1,
        1,
        0,
    )


# --- a disconnect only for an active prepaid account ----------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"is_prepaid": False}, "postpaid since"),
        ({"status": "suspended"}, "suspended"),
        ({"status": "closed"}, "closed"),
    ],
)
def test_a_pending_disconnect_is_cancelled_not_sent_once_the_account_left_prepaid(
    settings: Any, change: dict[str, Any], reason: str
) -> None:
    account, _meter = prepaid("RO0101")
    _run_to_disconnect(account)
    order = RemoteOrder.objects.get(account=account)
    assert order.status == RemoteOrderStatus.PENDING
    _update(account, **change)

    dispatched = remote_orders_dispatch(actor="test")

    assert (dispatched["sent"], dispatched["cancelled"]) == (0, 1)
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.CANCELLED
    assert _outbox(settings) == []
    event = AuditEvent.objects.get(
        object_type="billing.remoteorder", object_id=str(order.pk), action="remote_order_cancel"
    )
    assert reason in event.reason
    assert (event.after or {}).get("status") == RemoteOrderStatus.CANCELLED


def test_an_approved_disconnect_of_an_account_closed_since_is_cancelled_on_send(make_user: Any) -> None:
    account, _meter = prepaid("RO0102", importance="first")
    _run_to_disconnect(account)
    order = RemoteOrder.objects.get(account=account)
    order.status, order.decided_by = RemoteOrderStatus.PENDING, "刘芳"  # approved by a person
    order.save(update_fields=["status", "decided_by"])
    _update(account, status="closed")

    sent = remote_order_send(actor=make_user(roles=["service_manager"]), order_id=order.pk)

    assert sent.status == RemoteOrderStatus.CANCELLED


def test_the_check_cancels_open_disconnects_of_accounts_no_longer_prepaid_and_makes_none() -> None:
    """A disconnect waiting for a person (important customer) and one pending, then both
    accounts leave prepaid: the check cancels both and, with the balances still below zero
    and the notice period long over, makes no new order for either."""
    waiting, _m1 = prepaid("RO0201", importance="second")
    _run_to_disconnect(waiting)
    pending, _m2 = prepaid("RO0202")
    _run_to_disconnect(pending)
    _update(waiting, is_prepaid=False)
    _update(pending, status="suspended")

    counts = prepaid_check_balances(now=at(D + dt.timedelta(days=20)), actor="test")

    assert counts["disconnect_cancelled"] == 2
    assert counts["disconnect_orders"] == counts["disconnect_needs_person"] == 0
    for account in (waiting, pending):
        assert list(RemoteOrder.objects.filter(account=account).values_list("status", flat=True)) == [
            RemoteOrderStatus.CANCELLED
        ]


# --- one order failing does not stop the dispatch -------------------------------------------------


def _pending_reconnect(account: Any) -> RemoteOrder:
    return RemoteOrder.objects.create(
        account=account,
        kind=RemoteOrderKind.RECONNECT,
        status=RemoteOrderStatus.PENDING,
        reason="paid",
        balance=Decimal("10.00"),
        created_at=timezone.now(),
        due_at=timezone.now(),
    )


def test_an_order_the_adapter_fails_on_stays_pending_and_the_others_go_out(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The adapter raises something other than Conflict/OSError for the first order: that
    order stays pending, is logged and reported, and the next account's order is sent."""
    first = _pending_reconnect(prepaid("RO0201")[0])
    second = _pending_reconnect(prepaid("RO0202")[0])
    settings.GRIDCARE_HEADEND_ADAPTER = f"{__name__}.PartlyDownHeadEnd"

    with caplog.at_level(logging.ERROR, logger="gridcare.billing.services.prepaid"):
        dispatched = remote_orders_dispatch(actor="test")

    assert (dispatched["pending"], dispatched["sent"]) == (2, 1)
    assert dispatched["failed"] == [{"order": first.pk, "error": "unexpected reply from the head-end"}]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (RemoteOrderStatus.PENDING, RemoteOrderStatus.SENT)
    assert _actions(first) == []
    assert [o["meter"] for o in _outbox(settings)] == ["RO0202"]
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        f"remote order {first.pk}: not sent (unexpected reply from the head-end), "
        "left pending for the next dispatch"
    ]

    # The head-end is fixed: the next dispatch sends the order left pending.
    settings.GRIDCARE_HEADEND_ADAPTER = ""
    assert remote_orders_dispatch(actor="test")["sent"] == 1


def test_the_dispatch_checks_a_person_s_permission_once_before_sending(make_user: Any) -> None:
    order = _pending_reconnect(prepaid("RO0203")[0])

    with pytest.raises(PermissionDenied):
        remote_orders_dispatch(actor=make_user(roles=["counter_clerk"]))

    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.PENDING

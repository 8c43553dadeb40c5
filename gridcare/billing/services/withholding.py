"""银行代扣 (bank withholding): the file of amounts sent to a bank and the bank's result file.

Export (``gridcare billing withholding export --bank CODE --out FILE``) — CSV, UTF-8, header
``line,account,name,amount``: one line per account with unpaid issued bills; ``amount`` is
what it owes today (outstanding + late fee to date − credit balance), yuan with 2 decimals.
A prepaid (费控) account owes only bills of its postpaid days: its balance pays such a bill
when it covers all of it (payments ``balances_apply``, run for the prepaid accounts first),
and a bill it does not cover is asked for whole, with its late fee — its balance is neither
taken off (it pays the daily charges) nor topped up. Accounts on a line of a batch still
*exported* (no result imported yet) are left out: the bank may still debit them. A
:class:`WithholdingBatch` records the batch number, line count and total; the lines
themselves are kept on the batch's export audit row so the result can be checked against
them.

Result (``gridcare billing withholding import --batch NUMBER FILE``) — CSV, UTF-8, header
``line,account,amount,result,bank_ref``; ``result`` is ``success`` or ``fail``. Each success
is posted as a bank-withholding payment with the idempotency key ``wh:{batch}:{line}`` (a
re-import posts nothing twice) that pays the account's bills — a prepaid account's too
(``PaymentItem.for_bills``), never its balance; only money left after the bills (a bill
paid meanwhile) is kept as balance. A line is rejected, with its reason, when its number is not
in the batch or repeats, its account differs from the exported line, its amount is not a
positive amount with 2 decimals or exceeds the exported amount, or its result is unknown.
The batch's succeeded/failed counts cover every result file imported for it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.billing.choices import PaymentChannel, WithholdingStatus
from gridcare.billing.models import AccountBalance, Payment, WithholdingBatch
from gridcare.billing.selectors.payments import open_bills, unpaid_bills
from gridcare.billing.services.payments import (
    PaymentItem,
    balances_apply,
    parse_amount,
    payment_item,
    payments_post_many,
)
from gridcare.core.audit import audit_record, person_name
from gridcare.core.errors import GridCareError, NotFound, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.models import AuditEvent
from gridcare.core.money import fen_to_yuan, yuan_to_fen
from gridcare.core.roles import require_actor_perm
from gridcare.customers.models import Account

EXPORT_HEADER = ["line", "account", "name", "amount"]
RESULT_HEADER = ["line", "account", "amount", "result", "bank_ref"]
POST_CHUNK = 1000  # payments per transaction when a result file is posted

__all__ = ["WithholdingResult", "withholding_export", "withholding_import"]


def withholding_export(*, actor: Any, bank: str) -> tuple[WithholdingBatch, str]:
    """Create a batch for ``bank`` and return it with the CSV text to send."""
    require_actor_perm(actor, "billing.add_withholdingbatch")
    bank = (bank or "").strip()
    if not bank or len(bank) > 50:
        raise ValidationFailed(_("Give the bank code (at most 50 characters)."), field="bank")
    # A prepaid balance that covers a bill pays it first, as the prepaid check after a
    # payment and the nightly one do (whole bills only): the bank is asked for the rest.
    balances_apply(account_ids=Account.objects.filter(is_prepaid=True).values("pk"), actor=actor)
    today = timezone.localdate()
    with transaction.atomic():
        # The sequence row stays locked until this transaction ends: concurrent exports run
        # one after the other, and each sees the batches the ones before it created.
        number = next_number("billing.withholding")
        awaiting = _accounts_awaiting_result()
        account_ids = list(unpaid_bills().order_by().values_list("account_id", flat=True).distinct())
        owed: dict[int, int] = {}
        for row in open_bills(account_ids=account_ids, as_of=today):
            owed[row.account_id] = owed.get(row.account_id, 0) + row.outstanding_fen + row.late_fee_fen
        # A postpaid balance counts (a credit is taken off, money owed after a reversal is
        # added); a prepaid one does not: it pays the daily charges, not the bills.
        balances = dict(
            AccountBalance.objects.filter(account_id__in=owed, account__is_prepaid=False).values_list(
                "account_id", "amount"
            )
        )
        for account_id, bal in balances.items():
            owed[account_id] -= yuan_to_fen(bal)
        accounts = dict(Account.objects.filter(pk__in=owed).values_list("pk", "number"))
        names = dict(Account.objects.filter(pk__in=owed).values_list("pk", "customer__name"))
        lines: list[tuple[int, str, str, str]] = []
        for account_id in sorted(owed, key=lambda a: accounts[a]):
            if owed[account_id] > 0 and accounts[account_id] not in awaiting:
                lines.append(
                    (
                        len(lines) + 1,
                        accounts[account_id],
                        names[account_id],
                        str(fen_to_yuan(owed[account_id])),
                    )
                )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_HEADER)
        writer.writerows(lines)
        batch = WithholdingBatch.objects.create(
            number=f"WH{number:08d}",
            bank=bank,
            lines=len(lines),
            total=sum((Decimal(line[3]) for line in lines), Decimal("0.00")),
            created_by=(actor if isinstance(actor, str) else person_name(actor))[:150],
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            obj=batch,
            action="withholding.export",
            after={"bank": bank, "lines": [[ln[0], ln[1], ln[3]] for ln in lines], "total": str(batch.total)},
        )
    return batch, out.getvalue()


@dataclass
class WithholdingResult:
    batch: WithholdingBatch
    posted: int = 0
    repeats: int = 0
    failed: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (file line, reason)


def _accounts_awaiting_result() -> set[str]:
    """Account numbers on the lines of batches still *Sent to the bank* (no result file
    imported yet): the bank may still debit them, so a new batch must not ask again."""
    awaiting = WithholdingBatch.objects.filter(status=WithholdingStatus.EXPORTED)
    open_ids = [str(pk) for pk in awaiting.values_list("pk", flat=True)]
    rows = AuditEvent.objects.filter(
        object_type="billing.withholdingbatch", object_id__in=open_ids, action="withholding.export"
    ).values_list("after", flat=True)
    return {str(line[1]) for after in rows for line in (after or {}).get("lines", [])}


def _exported_lines(batch: WithholdingBatch) -> dict[int, tuple[str, Decimal]]:
    after = (
        AuditEvent.objects.filter(
            object_type="billing.withholdingbatch", object_id=str(batch.pk), action="withholding.export"
        )
        .values_list("after", flat=True)
        .first()
    )
    lines = (after or {}).get("lines", [])
    return {int(n): (str(acc), Decimal(str(amt))) for n, acc, amt in lines}


def withholding_import(*, actor: Any, batch_number: str, content: str) -> WithholdingResult:
    """Post the bank's result file of ``batch_number`` (see the module docstring)."""
    require_actor_perm(actor, "billing.change_withholdingbatch")
    batch = WithholdingBatch.objects.filter(number=(batch_number or "").strip()).first()
    if batch is None:
        raise NotFound(_("No such withholding batch."), field="batch")
    reader = csv.reader(io.StringIO(content.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != RESULT_HEADER:
        raise ValidationFailed(
            _("The result file must start with the header line,account,amount,result,bank_ref."), field="file"
        )
    exported = _exported_lines(batch)
    result = WithholdingResult(batch=batch)
    seen: set[int] = set()
    failed_lines: set[int] = set()
    pending: list[tuple[int, PaymentItem]] = []
    received_at = timezone.now()
    accounts = dict(
        Account.objects.filter(number__in=[v[0] for v in exported.values()]).values_list("number", "pk")
    )
    for file_line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(RESULT_HEADER):
            result.rejected.append((file_line, str(_("expected 5 columns"))))
            continue
        raw_line, account, raw_amount, bank_result, bank_ref = (c.strip() for c in row)
        try:
            line = int(raw_line)
        except ValueError:
            result.rejected.append((file_line, str(_("the line number is not a number"))))
            continue
        if line not in exported:
            result.rejected.append((file_line, str(_("line %(n)s is not in the batch")) % {"n": line}))
            continue
        if line in seen:
            result.rejected.append((file_line, str(_("line %(n)s repeats")) % {"n": line}))
            continue
        seen.add(line)
        exp_account, exp_amount = exported[line]
        if account != exp_account:
            result.rejected.append((file_line, str(_("the account differs from the exported line"))))
            continue
        if bank_result not in ("success", "fail"):
            result.rejected.append((file_line, str(_("the result must be success or fail"))))
            continue
        if bank_result == "fail":
            result.failed += 1
            failed_lines.add(line)
            continue
        try:
            amount = parse_amount(raw_amount)
        except ValidationFailed as exc:
            result.rejected.append((file_line, str(exc.message)))
            continue
        if amount > exp_amount:
            result.rejected.append((file_line, str(_("the amount exceeds the exported amount"))))
            continue
        pending.append(
            (
                file_line,
                payment_item(
                    account_id=accounts[account],
                    amount=amount,
                    channel=PaymentChannel.BANK_WITHHOLDING,
                    idempotency_key=f"wh:{batch.number}:{line}",
                    received_at=received_at,
                    external_ref=bank_ref[:100],
                    for_bills=True,  # a prepaid account's too: the bills, not its balance
                ),
            )
        )
    for start in range(0, len(pending), POST_CHUNK):
        chunk = pending[start : start + POST_CHUNK]
        outcomes = payments_post_many(actor=actor, items=[item for _, item in chunk])
        for (file_line, _item), posted in zip(chunk, outcomes, strict=True):
            if isinstance(posted, GridCareError):
                result.rejected.append((file_line, str(posted.message)))
            elif posted[1]:
                result.posted += 1
            else:
                result.repeats += 1
    result.rejected.sort()
    with transaction.atomic():
        batch = WithholdingBatch.objects.select_for_update().get(pk=batch.pk)
        before = {"status": batch.status, "succeeded": batch.succeeded, "failed": batch.failed}
        # Both counts cover every result file imported for the batch (a bank may answer in
        # several files): lines posted so far, and lines reported ``fail`` and not since posted.
        keys = Payment.objects.filter(idempotency_key__startswith=f"wh:{batch.number}:").values_list(
            "idempotency_key", flat=True
        )
        succeeded_lines = {int(key.rsplit(":", 1)[1]) for key in keys}
        earlier = AuditEvent.objects.filter(
            object_type="billing.withholdingbatch", object_id=str(batch.pk), action="withholding.import"
        ).values_list("after", flat=True)
        for after in earlier:
            failed_lines.update(int(n) for n in (after or {}).get("failed_lines", []))
        batch.succeeded = len(succeeded_lines)
        batch.failed = len(failed_lines - succeeded_lines)
        batch.status = WithholdingStatus.POSTED
        batch.posted_at = timezone.now()
        batch.save(update_fields=["succeeded", "failed", "status", "posted_at"])
        audit_record(
            actor=actor,
            obj=batch,
            action="withholding.import",
            before=before,
            after={
                "status": batch.status,
                "succeeded": batch.succeeded,
                "failed": batch.failed,
                "posted": result.posted,
                "repeats": result.repeats,
                "rejected": result.rejected[:1000],
                "failed_lines": sorted(failed_lines),
            },
        )
    result.batch = batch
    return result

"""``gridcare billing withholding …``: bank withholding (银行代扣) files.

``gridcare billing withholding export --bank CODE --out FILE`` writes the batch file of
amounts owed (CSV ``line,account,name,amount``) and prints the batch number.
``gridcare billing withholding import --batch NUMBER FILE`` posts the bank's result file
(CSV ``line,account,amount,result,bank_ref``); every rejected line is printed with its
reason. Formats: docs/billing-payments.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from gridcare.billing.services.withholding import withholding_export, withholding_import
from gridcare.core.errors import GridCareError

CLI_ACTOR = "cli"


def _actor(options: dict[str, Any]) -> Any:
    username = options.get("user") or ""
    if not username:
        return CLI_ACTOR
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no such user: {username}")
    return user


def _arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="withholding_action", metavar="STEP", required=True)
    export = sub.add_parser("export", help="Write the file of amounts owed for a bank; creates a batch.")
    export.add_argument("--bank", required=True, help="The bank's code (e.g. ICBC).")
    export.add_argument("--out", required=True, help="The CSV file to write.")
    export.add_argument("--user", default="", help="Act as this user (their permissions apply).")
    result = sub.add_parser("import", help="Post the bank's result file of a batch.")
    result.add_argument("--batch", required=True, help="The batch number (WH…).")
    result.add_argument("file", help="The bank's result CSV file.")
    result.add_argument("--user", default="", help="Act as this user (their permissions apply).")


def _handle(command: Any, options: dict[str, Any]) -> None:
    actor = _actor(options)
    try:
        if options["withholding_action"] == "export":
            batch, text = withholding_export(actor=actor, bank=options["bank"])
            Path(options["out"]).write_text(text, encoding="utf-8")
            command.stdout.write(
                f"batch {batch.number}: {batch.lines} lines, total {batch.total} yuan → {options['out']}"
            )
            return
        try:
            content = Path(options["file"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        result = withholding_import(actor=actor, batch_number=options["batch"], content=content)
    except GridCareError as exc:
        raise CommandError(f"{exc.field + ': ' if exc.field else ''}{exc.message}") from exc
    batch = result.batch
    command.stdout.write(
        f"batch {batch.number}: {result.posted} posted, {result.repeats} already posted, "
        f"{result.failed} failed at the bank, {len(result.rejected)} rejected; "
        f"batch counters: {batch.succeeded} succeeded, {batch.failed} failed"
    )
    for line, reason in result.rejected:
        command.stdout.write(f"  file line {line}: {reason}")


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {
    "withholding": (
        "Bank withholding (银行代扣): export a batch file, import the bank's result.",
        _arguments,
        _handle,
    ),
}

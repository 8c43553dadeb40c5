"""``gridcare billing …``: one command, a sub-command per area (quote, run, withholding,
prepaid …). Each area module in ``gridcare.billing.cli`` exposes ``SUBCOMMANDS``: a dict of
name → (help, add_arguments(parser), handle(command, options))."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridcare.billing.cli import all_subcommands


class Command(BaseCommand):
    help = "Billing and collection: quotes, billing runs, bank withholding, prepaid jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True, title="actions")
        for name, (text, add_arguments, _handle) in all_subcommands().items():
            add_arguments(sub.add_parser(name, help=text, description=text))

    def handle(self, *args: Any, **options: Any) -> None:
        entry = all_subcommands().get(options["action"])
        if entry is None:  # pragma: no cover - argparse rejects unknown names first
            raise CommandError(f"unknown action {options['action']!r}")
        entry[2](self, options)

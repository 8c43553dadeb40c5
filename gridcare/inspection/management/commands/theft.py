"""``gridcare theft …``: anti-theft (防窃电) tools, a sub-command per area (benchmark-data,
later evaluate and score). Each area module in ``gridcare.inspection.cli`` exposes
``SUBCOMMANDS``: a dict of name → (help, add_arguments(parser), handle(command, options))."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridcare.inspection.cli import all_subcommands


class Command(BaseCommand):
    help = "Anti-theft (防窃电): benchmark data with injected attacks."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True, title="actions")
        for name, (text, add_arguments, _handle) in all_subcommands().items():
            add_arguments(sub.add_parser(name, help=text, description=text))

    def handle(self, *args: Any, **options: Any) -> None:
        entry = all_subcommands().get(options["action"])
        if entry is None:  # pragma: no cover - argparse rejects unknown names first
            raise CommandError(f"unknown action {options['action']!r}")
        entry[2](self, options)

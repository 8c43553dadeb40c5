"""The ``gridcare`` console command: a thin wrapper over Django's management commands.

``gridcare seed --customers 1000``  is  ``python manage.py seed --customers 1000``;
``gridcare migrate``, ``gridcare runserver`` … work the same way. Commands with a
sub-command (``gridcare bench seed``) map to the management command named by the first
word and pass the rest on.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridcare`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcare.settings")
    from django.core.management import execute_from_command_line

    if not args:
        args = ["help"]
    execute_from_command_line(["gridcare", *args])


if __name__ == "__main__":
    main()

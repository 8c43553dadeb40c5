"""Before a timed step of a benchmark: let the database server and the machine go quiet.

A bulk step (a million readings imported, a million accounts generated) leaves PostgreSQL's
autovacuum workers busy on the new rows for seconds and the kernel writing them back; on two
cores a timed step beside them runs a third to a half slower. The benchmarks call
:func:`wait_for_quiet` (not timed) before each timed step and :func:`quiet_note` to say so.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.db import DatabaseError, connection, transaction

#: How long a bench waits for PostgreSQL's autovacuum workers before a timed load.
QUIET_WAIT_SECONDS = 120.0


def autovacuum_workers() -> int:
    """Autovacuum workers busy on the server right now (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
        return int(cursor.fetchone()[0])


def flush_writes() -> None:
    """Write out what the server and the machine still hold dirty (not timed): a
    ``CHECKPOINT`` where the bench's database role may take one, then the kernel's page
    cache (``os.sync``) — else the write-back of the million rows just imported runs beside
    the next timed load."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("CHECKPOINT")
        except DatabaseError:  # a role without pg_checkpoint: the kernel's part still helps
            pass
    os.sync()


def wait_for_quiet(limit: float = QUIET_WAIT_SECONDS) -> tuple[float, bool]:
    """Flush dirty pages (:func:`flush_writes`), then wait until no autovacuum worker runs
    (PostgreSQL only; at most ``limit`` seconds).

    After a million inserted or deleted readings autovacuum visits the readings table for a
    second or more of CPU; on two cores a timed load running beside it is slowed by a third
    to a half. Returns the seconds waited and whether the server is quiet.

    Inside a transaction (the test suite) it does not wait: an autovacuum worker may be
    waiting for that very transaction's locks, so it would not go quiet before the limit."""
    if connection.vendor != "postgresql":
        return 0.0, True
    flush_writes()
    if getattr(connection, "in_atomic_block", False):
        return 0.0, True
    started = time.perf_counter()
    while autovacuum_workers():
        if time.perf_counter() - started > limit:
            return time.perf_counter() - started, False
        time.sleep(0.2)
    return time.perf_counter() - started, True


def quiet_note(command: Any, what: str, waited: float, quiet: bool) -> None:
    """Say on ``command.stdout`` that the bench waited before ``what``, or that it gave up."""
    if not quiet:
        command.stdout.write(
            f"  warning: autovacuum still running after {waited:.0f} s; {what} is timed beside it"
        )
    elif waited >= 0.5:
        command.stdout.write(f"  waited {waited:.1f} s for autovacuum to finish before {what}")

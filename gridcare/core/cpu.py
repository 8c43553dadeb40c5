"""CPU seconds of this process, of a process tree (the database server) and of the whole
machine, from /proc (Linux). The benchmarks print where the CPU went with them."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def _stat(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and its processes: the live children's own
    time plus what ``root`` already collected from children that ended (0 without /proc)."""
    if not root:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    fields = _stat(root)
    if not fields:
        return 0.0
    # After ")": state ppid ... utime(11) stime(12) cutime(13) cstime(14)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            child = _stat(int(entry))
            if child and int(child[1]) == root:
                total += int(child[11]) + int(child[12])
    return total / ticks


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (all cores)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / ticks, sum(values) / ticks


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def database_pid() -> int:
    """The PostgreSQL postmaster's process id when the database runs on this machine (its
    CPU is then measured apart); 0 when it cannot be told."""
    from django.db import connection  # here: the load generator imports this module without Django

    if connection.vendor != "postgresql":
        return 0
    host = str(connection.settings_dict.get("HOST") or "")
    if host not in ("", "localhost", "127.0.0.1", "::1") and not host.startswith("/"):
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    try:
        if Path(f"/proc/{backend}/comm").read_text().strip() != "postgres":
            return 0
    except OSError:
        return 0
    fields = _stat(backend)  # after ")": state ppid …
    return int(fields[1]) if fields else 0

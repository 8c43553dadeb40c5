"""The CPU counters the benchmarks print: this process, a process tree, the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from gridcare.core.cpu import machine_busy, own_cpu, tree_cpu


def _burn(cpu_seconds: float) -> None:
    """Use this much CPU, however long a loaded machine takes to grant it (spinning for a
    wall-clock time gets far less CPU when the cores are shared: CI once saw 0.14 s of 0.3)."""
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        pass


def test_own_cpu_counts_this_process() -> None:
    before = own_cpu()
    _burn(0.3)
    assert own_cpu() - before >= 0.25


def test_own_cpu_does_not_count_waiting() -> None:
    before = own_cpu()
    time.sleep(0.3)
    assert own_cpu() - before < 0.1  # CPU time, not wall time


def test_tree_cpu_counts_children_that_ended() -> None:
    before = tree_cpu(os.getpid())
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass",
        ],
        check=True,
    )
    assert tree_cpu(os.getpid()) - before >= 0.25


def test_no_process_counts_nothing() -> None:
    assert tree_cpu(0) == 0.0


def test_machine_busy_is_part_of_the_total() -> None:
    busy, total = machine_busy()
    assert 0 < busy <= total

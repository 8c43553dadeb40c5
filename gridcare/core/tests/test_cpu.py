"""The CPU counters the benchmarks print: this process, a process tree, the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from gridcare.core.cpu import machine_busy, own_cpu, tree_cpu


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_own_cpu_counts_this_process() -> None:
    before = own_cpu()
    _spin(0.3)
    assert own_cpu() - before >= 0.2


def test_tree_cpu_counts_children_that_ended() -> None:
    before = tree_cpu(os.getpid())
    subprocess.run(
        [sys.executable, "-c", "import time\nend = time.time() + 0.4\nwhile time.time() < end: pass"],
        check=True,
    )
    assert tree_cpu(os.getpid()) - before >= 0.25


def test_no_process_counts_nothing() -> None:
    assert tree_cpu(0) == 0.0


def test_machine_busy_is_part_of_the_total() -> None:
    busy, total = machine_busy()
    assert 0 < busy <= total

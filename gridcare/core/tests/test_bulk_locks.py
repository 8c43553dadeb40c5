"""The write locks of bulk writers over id ranges (``core.bulk.id_lock_keys``): writers of a
common id always exclude each other, writers of disjoint id ranges never do, everybody
takes the locks in one order (no deadlock) and a chunk of 125,000 ids needs a few hundred
locks (PostgreSQL's shared lock table holds some thousands in all)."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction
from hypothesis import given
from hypothesis import strategies as st

from gridcare.core.bulk import id_lock_keys, lock_ids

NS = 7
id_sets = st.sets(st.integers(0, 1 << 20), min_size=1, max_size=300) | st.sets(
    st.integers(250_000, 270_000), min_size=1, max_size=300
)


def conflict(a: list[tuple[int, bool]], b: list[tuple[int, bool]]) -> bool:
    """Whether two lock lists have a key in common held exclusively by at least one."""
    mine = dict(a)
    return any(key in mine and (exclusive or mine[key]) for key, exclusive in b)


@given(a=id_sets, b=id_sets)
def test_writers_of_a_common_id_exclude_each_other(a: set[int], b: set[int]) -> None:
    b = b | {min(a)}
    assert conflict(id_lock_keys(a, namespace=NS), id_lock_keys(b, namespace=NS))


@given(ids=id_sets, cut=st.integers(0, 1 << 20))
def test_writers_of_disjoint_id_ranges_never_wait_for_each_other(ids: set[int], cut: int) -> None:
    low, high = {i for i in ids if i <= cut}, {i for i in ids if i > cut}
    if low and high:
        assert not conflict(id_lock_keys(low, namespace=NS), id_lock_keys(high, namespace=NS))


@given(a=id_sets, b=id_sets)
def test_every_writer_takes_the_locks_in_one_order(a: set[int], b: set[int]) -> None:
    keys_a = [k for k, _x in id_lock_keys(a, namespace=NS)]
    keys_b = [k for k, _x in id_lock_keys(b, namespace=NS)]
    common = set(keys_a) & set(keys_b)
    assert [k for k in keys_a if k in common] == [k for k in keys_b if k in common]
    assert len(keys_a) == len(set(keys_a))


@pytest.mark.parametrize(("start", "step"), [(1, 1), (123_457, 1), (5, 7)])
def test_a_large_chunk_needs_a_few_hundred_locks(start: int, step: int) -> None:
    keys = id_lock_keys(range(start, start + 125_000 * step, step), namespace=NS)
    assert len(keys) < 500


def test_namespaces_do_not_meet() -> None:
    assert not conflict(id_lock_keys([5], namespace=1), id_lock_keys([5], namespace=2))
    assert id_lock_keys([], namespace=1) == []


def lock_briefly(ids: range | list[int]) -> None:
    """Take the locks of ``ids`` in a transaction that gives up after 200 ms of waiting."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")
        lock_ids(namespace=NS, ids=ids)


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql
def test_a_writer_of_overlapping_ids_waits_and_one_of_a_disjoint_range_does_not() -> None:
    assert connection.vendor == "postgresql"
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                lock_ids(namespace=NS, ids=range(100, 200))
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        lock_briefly(range(200, 300))  # disjoint: no wait
        with pytest.raises(OperationalError, match="lock timeout"):
            lock_briefly([150, 250])
    finally:
        release.set()
        thread.join(10)

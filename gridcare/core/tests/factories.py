"""Test data of the shared kernel (factory_boy): users with roles, calendar overrides, and
valid Chinese identity numbers for any factory that needs one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from gridcare.core.engine.ids import id_check_char, uscc_check_char
from gridcare.core.models import CalendarDay

DEMO_PASSWORD = "gridcare-demo"

_BIRTH_BASE = dt.date(1960, 1, 1)


def valid_id_number(n: int, *, region: str = "330102", born: dt.date | None = None) -> str:
    """A valid 18-character 身份证 number, distinct for every ``n`` (0 ≤ n < 10⁷).

    The birth date runs from 1960-01-01, one day per 1000 values of ``n``; the 3-digit
    sequence code is ``n % 1000``; the last character is the real check character.
    """
    birth = born or _BIRTH_BASE + dt.timedelta(days=n // 1000)
    first17 = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + id_check_char(first17)


def valid_uscc(n: int, *, prefix: str = "91330102") -> str:
    """A valid 18-character 统一社会信用代码, distinct for every ``n`` (0 ≤ n < 10⁹).

    ``prefix`` is the registration authority (9 = 工商), the kind (1 = enterprise) and the
    six-digit region; the organisation part is ``n`` as nine digits.
    """
    first17 = f"{prefix}{n:09d}"
    return first17 + uscc_check_char(first17)


def valid_mobile(n: int) -> str:
    """A valid 11-digit mobile number, distinct for every ``n`` (0 ≤ n < 10⁸)."""
    return f"139{n:08d}"


class UserFactory(factory.django.DjangoModelFactory):
    """A login. Roles are Django groups created by the migrations: pass ``roles=[...]``."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = ""
    last_name = ""
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = False
    password = factory.django.Password(DEMO_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: Iterable[str] | None, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        names = list(extracted)
        groups = list(Group.objects.filter(name__in=names))
        missing = set(names) - {g.name for g in groups}
        if missing:
            raise ValueError(f"no such role group(s): {sorted(missing)}")
        self.groups.add(*groups)


class CalendarDayFactory(factory.django.DjangoModelFactory):
    """A working-calendar override (prefer ``core.services.calendar_day_set`` in tests of
    behaviour: it writes the audit row too)."""

    class Meta:
        model = CalendarDay
        django_get_or_create = ("date",)

    date = factory.Sequence(lambda n: dt.date(2030, 1, 1) + dt.timedelta(days=n))
    is_workday = False
    name = "测试"
    source = "test"

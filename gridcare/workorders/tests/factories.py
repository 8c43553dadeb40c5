"""Test data of the work-order backbone: teams with a supervisor and members, and orders made
through the real service (``accept``), so every order has its clocks and timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory

from gridcare.core.tests.factories import UserFactory
from gridcare.workorders.models import Team, WorkOrder

BEIJING = dt.timezone(dt.timedelta(hours=8))


class TeamFactory(factory.django.DjangoModelFactory):
    """班组 with a service-manager supervisor; ``members=[user, …]`` adds members."""

    class Meta:
        model = Team
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"T{n:03d}")
    name = factory.Sequence(lambda n: f"测试班组{n}")
    supervisor = factory.SubFactory(UserFactory, roles=["service_manager"])
    kinds: Any = factory.LazyFunction(list)

    @factory.post_generation
    def members(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.members.add(*extracted)


def accept(*, actor: Any = "test", at: dt.datetime | None = None, **fields: Any) -> WorkOrder:
    """Accept an order through ``work_order_create`` with sensible defaults (a 95598 complaint
    about the tariff from a caller without an account)."""
    from gridcare.workorders.services.orders import work_order_create

    values: dict[str, Any] = {
        "kind": "complaint",
        "channel": "hotline",
        "category": "cmp_business_tariff",
        "subject": "电费比上月高出很多",
        "description": "客户反映本月电费异常偏高,要求核查。",
        "contact_name": "王女士",
        "contact_phone": "13900001111",
    }
    values.update(fields)
    return work_order_create(actor=actor, at=at or dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING), **values)

"""The role backend: the same answers as Django's ModelBackend, with the role groups'
permissions kept per process when a time to live is set."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import override_settings

from gridcare.core.auth import RoleBackend, clear_permission_cache

pytestmark = pytest.mark.django_db


def _fresh(user):
    return type(user).objects.get(pk=user.pk)


def test_permissions_come_from_the_role_groups_and_the_user(make_user):
    agent = make_user(roles=["hotline_agent"])
    assert agent.has_perm("workorders.add_workorder")
    assert not agent.has_perm("workorders.view_reporteridentity")
    agent.user_permissions.add(Permission.objects.get(codename="view_reporteridentity"))
    assert _fresh(agent).has_perm("workorders.view_reporteridentity")


def test_inactive_and_superusers(make_user):
    inactive = make_user(roles=["service_manager"], is_active=False)
    assert not inactive.has_perm("workorders.add_workorder")
    root = make_user(is_superuser=True)
    assert RoleBackend().get_all_permissions(root) >= {"workorders.add_workorder", "billing.add_payment"}


@override_settings(GRIDCARE_REFERENCE_CACHE_SECONDS=60)
def test_with_a_time_to_live_a_grant_change_shows_after_the_cache_is_cleared(
    make_user, django_assert_num_queries
):
    clear_permission_cache()
    agent = make_user(roles=["hotline_agent"])
    assert _fresh(agent).has_perm("workorders.add_workorder")
    second = _fresh(agent)
    second._gridcare_roles = {"hotline_agent"}
    with django_assert_num_queries(0):  # both sets come from the process cache
        assert second.has_perm("workorders.add_workorder")
    Group.objects.get(name="hotline_agent").permissions.remove(
        Permission.objects.get(codename="add_workorder")
    )
    assert _fresh(agent).has_perm("workorders.add_workorder")  # cached for the time to live
    clear_permission_cache()
    assert not _fresh(agent).has_perm("workorders.add_workorder")
    clear_permission_cache()  # the removal above is rolled back with the test


@override_settings(GRIDCARE_REFERENCE_CACHE_SECONDS=60)
def test_intake_finds_a_team_added_after_the_cache_was_filled(make_user):
    from gridcare.workorders.services.orders import teams_cache
    from gridcare.workorders.tests.factories import TeamFactory, accept

    teams_cache.clear()
    clear_permission_cache()  # an earlier test's grants may be cached for this time to live
    agent = make_user(roles=["hotline_agent"])
    accept(actor=agent)  # fills the cache
    TeamFactory(code="NEW1")
    assert accept(actor=agent, team="NEW1").team.code == "NEW1"


def test_the_session_user_comes_with_their_roles_in_one_statement(make_user, django_assert_num_queries):
    from gridcare.core.roles import user_roles

    agent = make_user(roles=["hotline_agent", "counter_clerk"])
    with django_assert_num_queries(1):
        found = RoleBackend().get_user(agent.pk)
        assert user_roles(found) == {"hotline_agent", "counter_clerk"}
    bare = make_user()
    with django_assert_num_queries(1):
        assert user_roles(RoleBackend().get_user(bare.pk)) == set()
    assert RoleBackend().get_user(bare.pk + 1000) is None
    inactive = make_user(roles=["hotline_agent"], is_active=False)
    assert RoleBackend().get_user(inactive.pk) is None

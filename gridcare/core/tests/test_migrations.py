"""After migrate: the role groups of architecture.md exist with their permissions, and
no model change is left without a migration (house-style rule 14)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from gridcare.core.roles import ALL_ROLES, STAFF_ROLES

pytestmark = pytest.mark.django_db


def _perms(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_every_role_of_the_architecture_has_a_group() -> None:
    expected = {
        "counter_clerk",
        "hotline_agent",
        "billing_clerk",
        "metering_tech",
        "inspector",
        "repair_dispatcher",
        "repair_crew",
        "service_manager",
        "marketing_manager",
        "auditor",
        "customer",
    }
    assert set(ALL_ROLES) == expected
    assert expected <= set(Group.objects.values_list("name", flat=True))


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_every_staff_role_can_read_the_customer_archive(role: str) -> None:
    assert {"customers.view_customer", "customers.view_account"} <= _perms(role)


def test_counter_clerk_edits_the_archive_but_hotline_agent_only_reads_it() -> None:
    clerk, agent = _perms("counter_clerk"), _perms("hotline_agent")
    assert {
        "customers.add_customer",
        "customers.change_customer",
        "customers.add_account",
        "customers.add_contract",
    } <= clerk
    assert "customers.add_customer" not in agent
    customer_writes = {
        p
        for p in agent
        if p.startswith("customers.") and p.split(".")[1].startswith(("add_", "change_", "delete_"))
    }
    assert not customer_writes
    # the hotline may file a meter-verification request for a caller (十项承诺 第七条)
    assert "metering.add_verificationrequest" in agent


def test_auditor_reads_the_audit_log_and_changes_nothing() -> None:
    auditor = _perms("auditor")
    assert "core.view_auditevent" in auditor
    assert all(p.split(".")[1].startswith("view_") for p in auditor)


def test_only_managers_and_auditors_see_the_audit_log() -> None:
    holders = {role for role in STAFF_ROLES if "core.view_auditevent" in _perms(role)}
    assert {"auditor", "service_manager"} <= holders
    assert not holders & {"counter_clerk", "hotline_agent", "repair_crew"}


def test_nobody_may_change_or_delete_audit_events() -> None:
    for role in ALL_ROLES:
        perms = _perms(role)
        assert "core.change_auditevent" not in perms, role
        assert "core.delete_auditevent" not in perms, role


def test_calendar_overrides_are_kept_by_managers() -> None:
    assert {"core.add_calendarday", "core.change_calendarday"} <= _perms("service_manager")
    assert "core.add_calendarday" not in _perms("counter_clerk")


def test_customers_get_no_model_permissions() -> None:
    # Portal access is scoped by ownership in the selectors, not by model permissions.
    assert not {p for p in _perms("customer") if p.startswith(("customers.", "core."))}


def test_no_model_change_lacks_a_migration() -> None:
    # makemigrations --check exits non-zero when a migration is missing.
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)


# --- the shared fixtures build users on these groups -----------------------------------


def test_make_user_puts_the_user_in_its_role_groups(make_user) -> None:
    clerk = make_user(roles=["counter_clerk"])
    agent = make_user(roles=["hotline_agent"])
    assert clerk.has_perm("customers.add_customer")
    assert not agent.has_perm("customers.add_customer")
    assert agent.has_perm("customers.view_customer")
    assert clerk.check_password("gridcare-demo")


def test_make_user_refuses_an_unknown_role(make_user) -> None:
    with pytest.raises(ValueError, match="no such role"):
        make_user(roles=["hotline_agnet"])


def test_customer_client_sees_only_its_own_account(customer_client) -> None:
    from gridcare.customers.tests.factories import AccountFactory

    AccountFactory()  # another customer's account
    response = customer_client.get("/api/portal/accounts")
    assert response.status_code == 200
    assert [a["number"] for a in response.json()["items"]] == [customer_client.account.number]

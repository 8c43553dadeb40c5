"""The workflow engine (engine/workflow.py) against the real workflows/95598.toml and against
broken definitions. No database."""

from __future__ import annotations

import copy
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from gridcare.workorders.choices import SlaStage, WorkOrderKind
from gridcare.workorders.engine.workflow import (
    ANY_OPEN,
    Workflow,
    WorkflowDefinitionError,
    WorkflowError,
    available_transitions,
    load_workflows,
    plan_transition,
    workflow_from_data,
)

TOML = Path(__file__).resolve().parents[1] / "workflows" / "95598.toml"
WORKFLOWS = load_workflows([TOML])
KINDS = sorted(WORKFLOWS)


def test_every_kind_of_the_backbone_has_a_workflow():
    assert set(WORKFLOWS) == set(WorkOrderKind.values)


def _targets(wf: Workflow, state: str) -> set[str]:
    """States reachable in one step from ``state`` (main targets and branch targets)."""
    out = set()
    for t in wf.transitions.values():
        if t.leaves(state, wf.states):
            out.add(t.to or state)
            out.update(b.to for b in t.branches if b.to)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_workflow_is_consistent(kind):
    wf = WORKFLOWS[kind]
    assert wf.initial in wf.states
    assert not wf.is_final(wf.initial)
    assert any(s.final for s in wf.states.values())
    stages = set(SlaStage.values)
    assert set(wf.start_stages) <= stages
    for codes in wf.category_start_stages.values():
        assert set(codes) <= stages
    for t in wf.transitions.values():
        assert t.to is None or t.to in wf.states
        assert all(s == ANY_OPEN or s in wf.states for s in t.sources)
        assert set(t.starts) <= stages
        assert set(t.stops) <= stages
        assert t.roles
        for b in t.branches:
            assert b.to is None or b.to in wf.states
            assert set(b.starts or ()) <= stages
            assert set(b.stops or ()) <= stages
            # a branch conditions only on fields the transition knows
            assert set(b.when) <= set(t.require) | set(t.choices)
        for name in t.choices:
            assert t.choices[name]
    # every non-final state has a way forward, and a final state is reachable from it
    for name, state in wf.states.items():
        if state.final:
            assert not [t for t in wf.transitions.values() if name in t.sources]
            continue
        assert _targets(wf, name) - {name}, f"{kind}.{name} is a dead end"
        seen, todo = {name}, deque([name])
        while todo:
            for nxt in _targets(wf, todo.popleft()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert any(wf.states[s].final for s in seen), f"{kind}.{name} never reaches a final state"
    # every state is reachable from the initial one
    seen, todo = {wf.initial}, deque([wf.initial])
    while todo:
        for nxt in _targets(wf, todo.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(wf.states)


def test_service_request_sub_types_start_their_own_clocks():
    wf = WORKFLOWS["service_request"]
    assert wf.stages_at_acceptance(["sr_reconnect", "sr"]) == ("restore",)
    assert wf.stages_at_acceptance(["sr_appliance"]) == ("onsite", "reply")
    assert wf.stages_at_acceptance(["sr_meter_fault"]) == ("reply",)
    assert WORKFLOWS["complaint"].stages_at_acceptance(["cmp_business_tariff"]) == (
        "review",
        "contact",
        "reply",
    )


# --- plan_transition ---------------------------------------------------------------------------

CMP = WORKFLOWS["complaint"]
AGENT = {"hotline_agent"}
MANAGER = {"service_manager"}


def _error(**kw: Any) -> WorkflowError:
    with pytest.raises(WorkflowError) as exc:
        plan_transition(CMP, **kw)
    return exc.value


def test_unknown_transition():
    e = _error(state="accepted", transition="teleport", roles=AGENT, fields={})
    assert e.code == "unknown_transition"
    assert e.field == "transition"


def test_wrong_state():
    e = _error(state="accepted", transition="follow_up", roles=AGENT, fields={})
    assert e.code == "not_allowed_in_state"
    e = _error(state="nowhere", transition="assign", roles=AGENT, fields={"team": "KF"})
    assert e.code == "not_allowed_in_state"
    # "*" means any open state, never a final one
    e = _error(state="closed", transition="cancel", roles=MANAGER, fields={"note": "x"})
    assert e.code == "not_allowed_in_state"


def test_role_not_allowed_but_superuser_may():
    e = _error(state="accepted", transition="review", roles=AGENT, fields={"note": "ok"})
    assert e.code == "role_not_allowed"
    plan = plan_transition(
        CMP, state="accepted", transition="review", roles=(), fields={"note": "ok"}, superuser=True
    )
    assert plan.stops == ("review",)
    assert plan.to_state == "accepted"


def test_required_field_missing_or_blank():
    e = _error(state="accepted", transition="assign", roles=AGENT, fields={})
    assert e.code == "field_required"
    assert e.field == "team"
    e = _error(state="accepted", transition="assign", roles=AGENT, fields={"team": "   "})
    assert e.code == "field_required"
    assert e.field == "team"
    e = _error(state="improving", transition="close", roles=MANAGER, fields={"improvement_recorded": False})
    assert e.code == "field_required"
    assert e.field == "improvement_recorded"


def test_invalid_choice():
    e = _error(
        state="accepted", transition="contact", roles=AGENT, fields={"method": "pigeon", "outcome": "reached"}
    )
    assert e.code == "invalid_choice"
    assert e.field == "method"


def test_contact_stops_the_clock_only_when_reached():
    reached = plan_transition(
        CMP,
        state="accepted",
        transition="contact",
        roles=AGENT,
        fields={"method": "phone", "outcome": "reached"},
    )
    assert reached.stops == ("contact",)
    assert reached.to_state == "accepted"
    missed = plan_transition(
        CMP,
        state="accepted",
        transition="contact",
        roles=AGENT,
        fields={"method": "phone", "outcome": "no_answer"},
    )
    assert missed.stops == ()
    assert not missed.closes


def test_follow_up_branches():
    ok = plan_transition(
        CMP,
        state="replied",
        transition="follow_up",
        roles=AGENT,
        fields={"method": "phone", "satisfaction": "satisfied"},
    )
    assert ok.to_state == "improving"
    assert not ok.reopen
    assert ok.starts == ()
    assert ok.stops == ("follow_up",)
    bad = plan_transition(
        CMP,
        state="replied",
        transition="follow_up",
        roles=AGENT,
        fields={"method": "phone", "satisfaction": "unsatisfied"},
    )
    assert bad.to_state == "investigating"
    assert bad.reopen
    assert bad.starts == ("reply",)
    assert bad.stops == ("follow_up",)  # not overridden by the branch


def test_pause_resume_reply_and_close_plans():
    pause = plan_transition(
        CMP, state="investigating", transition="pause", roles=AGENT, fields={"note": "等客户"}
    )
    assert pause.pause
    assert not pause.resume
    assert pause.to_state == "investigating"
    resume = plan_transition(CMP, state="investigating", transition="resume", roles=AGENT, fields={})
    assert resume.resume
    assert not resume.pause
    reply = plan_transition(
        CMP, state="investigating", transition="reply", roles=AGENT, fields={"note": "答复"}
    )
    assert reply.to_state == "replied"
    assert reply.starts == ("follow_up",)
    assert set(reply.stops) == {"reply", "contact", "review"}
    close = plan_transition(
        CMP, state="improving", transition="close", roles=MANAGER, fields={"improvement_recorded": True}
    )
    assert close.closes
    assert close.to_state == "closed"
    cancel = plan_transition(
        CMP, state="replied", transition="cancel", roles=MANAGER, fields={"note": "撤诉"}
    )
    assert cancel.closes
    assert cancel.to_state == "cancelled"


def test_available_transitions_by_role_and_state():
    names = [t.name for t in available_transitions(CMP, "accepted", AGENT)]
    assert names == ["assign", "contact", "pause", "resume"]
    names = [t.name for t in available_transitions(CMP, "accepted", MANAGER)]
    assert "review" in names
    assert "cancel" in names
    assert available_transitions(CMP, "closed", MANAGER) == []
    assert [t.name for t in available_transitions(CMP, "improving", (), superuser=True)] == [
        "improve",
        "close",
        "cancel",
    ]


# --- broken definitions ------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "initial": "open",
    "states": {"open": {"label": "开"}, "done": {"label": "完", "final": True}},
    "transitions": {"finish": {"from": ["open"], "to": "done", "roles": ["hotline_agent"]}},
}


def broken(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    for path, value in changes.items():
        keys = path.split("__")
        target = data
        for key in keys[:-1]:
            target = target[key]
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return data


def test_good_definition_loads():
    wf = workflow_from_data("x", GOOD)
    assert wf.initial == "open"
    assert wf.transitions["finish"].to == "done"


@pytest.mark.parametrize(
    "changes",
    [
        {"states": {}},
        {"initial": "nowhere"},
        {"initial": None},
        {"transitions__finish__from": None},
        {"transitions__finish__from": ["limbo"]},
        {"transitions__finish__from": "open"},
        {"transitions__finish__to": "limbo"},
        {"transitions__finish__roles": None},
        {"transitions__finish__roles": []},
        {"transitions__finish__branch": [{"when": {"x": ["1"]}, "to": "limbo"}]},
        {"transitions__finish__choices": ["phone"]},
        {"transitions__finish__require": "note"},
        {"start_stages": "reply"},
    ],
)
def test_broken_definitions_are_refused(changes):
    with pytest.raises(WorkflowDefinitionError):
        workflow_from_data("x", broken(**changes))


def test_kind_declared_twice_is_refused(tmp_path):
    a = tmp_path / "a.toml"
    a.write_text('[kinds.x]\ninitial = "o"\n[kinds.x.states]\no = {}\n', encoding="utf-8")
    b = tmp_path / "b.toml"
    b.write_text(a.read_text(encoding="utf-8"), encoding="utf-8")
    assert set(load_workflows([a])) == {"x"}
    with pytest.raises(WorkflowDefinitionError):
        load_workflows([a, b])

"""The one workflow engine of every work-order kind. Pure Python: no Django import.

A kind's states and transitions are data (``workflows/*.toml``, format described at the top
of ``95598.toml``). :func:`load_workflows` reads and checks the files;
:func:`plan_transition` decides, for an order in a state, whether a caller with some roles
may take a transition with the fields given, and what follows (the new state, the SLA
stages that start and stop, pause/resume, reopening). The services apply the plan.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANY_OPEN = "*"


class WorkflowError(Exception):
    """A transition the data does not allow. ``code`` is stable, ``field`` names the input."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class WorkflowDefinitionError(ValueError):
    """A workflow file that contradicts itself (unknown state, missing initial …)."""


@dataclass(frozen=True)
class State:
    name: str
    label: str
    label_en: str
    final: bool = False
    tone: str = "info"


@dataclass(frozen=True)
class Branch:
    """A conditional override of a transition: the first branch whose ``when`` holds wins."""

    when: Mapping[str, tuple[str, ...]]
    to: str | None = None
    starts: tuple[str, ...] | None = None
    stops: tuple[str, ...] | None = None
    reopen: bool | None = None

    def holds(self, fields: Mapping[str, Any]) -> bool:
        return all(str(fields.get(name, "")) in values for name, values in self.when.items())


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    label_en: str
    sources: frozenset[str]
    to: str | None
    roles: frozenset[str]
    require: tuple[str, ...] = ()
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    starts: tuple[str, ...] = ()
    stops: tuple[str, ...] = ()
    pause: bool = False
    resume: bool = False
    assign: bool = False
    reopen: bool = False
    branches: tuple[Branch, ...] = ()

    def leaves(self, state: str, states: Mapping[str, State]) -> bool:
        """True when the transition may be taken from ``state``."""
        if state in self.sources:
            return True
        return ANY_OPEN in self.sources and state in states and not states[state].final


@dataclass(frozen=True)
class Workflow:
    kind: str
    initial: str
    states: Mapping[str, State]
    transitions: Mapping[str, Transition]
    start_stages: tuple[str, ...] = ()
    category_start_stages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def stages_at_acceptance(self, category_codes: Iterable[str]) -> tuple[str, ...]:
        """The stages whose clocks start when an order is accepted: the first of the order's
        category codes (most specific first) with its own list, else ``start_stages``."""
        for code in category_codes:
            if code in self.category_start_stages:
                return self.category_start_stages[code]
        return self.start_stages

    def is_final(self, state: str) -> bool:
        return self.states[state].final


@dataclass(frozen=True)
class Plan:
    """What taking a transition does."""

    transition: str
    from_state: str
    to_state: str
    starts: tuple[str, ...]
    stops: tuple[str, ...]
    pause: bool
    resume: bool
    assign: bool
    reopen: bool
    closes: bool


def _tuple(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise WorkflowDefinitionError(f"{where}: expected a list of strings")
    return tuple(str(v) for v in value)


def _choices(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WorkflowDefinitionError(f"{where}: expected a table")
    return {str(k): _tuple(v, f"{where}.{k}") for k, v in value.items()}


def workflow_from_data(kind: str, data: Mapping[str, Any]) -> Workflow:
    """Build and check one kind's workflow from its parsed table."""
    raw_states = data.get("states") or {}
    if not raw_states:
        raise WorkflowDefinitionError(f"{kind}: no states")
    states = {
        name: State(
            name=name,
            label=str(s.get("label", name)),
            label_en=str(s.get("label_en", name)),
            final=bool(s.get("final", False)),
            tone=str(s.get("tone", "info")),
        )
        for name, s in raw_states.items()
    }
    initial = str(data.get("initial", ""))
    if initial not in states:
        raise WorkflowDefinitionError(f"{kind}: initial state {initial!r} is not a state")
    transitions: dict[str, Transition] = {}
    for name, t in (data.get("transitions") or {}).items():
        where = f"{kind}.{name}"
        sources = frozenset(_tuple(t.get("from"), f"{where}.from"))
        if not sources:
            raise WorkflowDefinitionError(f"{where}: no 'from' states")
        for s in sources:
            if s != ANY_OPEN and s not in states:
                raise WorkflowDefinitionError(f"{where}: unknown from-state {s!r}")
        to = t.get("to")
        if to is not None and to not in states:
            raise WorkflowDefinitionError(f"{where}: unknown to-state {to!r}")
        branches = []
        for i, b in enumerate(t.get("branch") or []):
            bto = b.get("to")
            if bto is not None and bto not in states:
                raise WorkflowDefinitionError(f"{where}.branch[{i}]: unknown to-state {bto!r}")
            branches.append(
                Branch(
                    when=_choices(b.get("when"), f"{where}.branch[{i}].when"),
                    to=bto,
                    starts=_tuple(b["starts"], where) if "starts" in b else None,
                    stops=_tuple(b["stops"], where) if "stops" in b else None,
                    reopen=bool(b["reopen"]) if "reopen" in b else None,
                )
            )
        roles = frozenset(_tuple(t.get("roles"), f"{where}.roles"))
        if not roles:
            raise WorkflowDefinitionError(f"{where}: no roles")
        transitions[name] = Transition(
            name=name,
            label=str(t.get("label", name)),
            label_en=str(t.get("label_en", name)),
            sources=sources,
            to=to,
            roles=roles,
            require=_tuple(t.get("require"), f"{where}.require"),
            choices=_choices(t.get("choices"), f"{where}.choices"),
            starts=_tuple(t.get("starts"), f"{where}.starts"),
            stops=_tuple(t.get("stops"), f"{where}.stops"),
            pause=bool(t.get("pause", False)),
            resume=bool(t.get("resume", False)),
            assign=bool(t.get("assign", False)),
            reopen=bool(t.get("reopen", False)),
            branches=tuple(branches),
        )
    category_start = {
        str(k): _tuple(v, f"{kind}.category_start_stages.{k}")
        for k, v in (data.get("category_start_stages") or {}).items()
    }
    return Workflow(
        kind=kind,
        initial=initial,
        states=states,
        transitions=transitions,
        start_stages=_tuple(data.get("start_stages"), f"{kind}.start_stages"),
        category_start_stages=category_start,
    )


def load_workflows(paths: Iterable[Path]) -> dict[str, Workflow]:
    """Every kind declared in ``paths``; a kind declared twice is an error."""
    result: dict[str, Workflow] = {}
    for path in paths:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        for kind, table in (data.get("kinds") or {}).items():
            if kind in result:
                raise WorkflowDefinitionError(f"{path}: kind {kind!r} declared twice")
            result[kind] = workflow_from_data(kind, table)
    return result


def _given(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return not (isinstance(value, bool) and value is False)


def allowed(transition: Transition, roles: Iterable[str], *, superuser: bool = False) -> bool:
    """True when a caller with ``roles`` may take ``transition``."""
    return superuser or bool(transition.roles & set(roles))


def available_transitions(
    workflow: Workflow, state: str, roles: Iterable[str], *, superuser: bool = False
) -> list[Transition]:
    """The transitions a caller with ``roles`` may take from ``state``, in declaration order."""
    role_set = set(roles)
    return [
        t
        for t in workflow.transitions.values()
        if t.leaves(state, workflow.states) and allowed(t, role_set, superuser=superuser)
    ]


def plan_transition(
    workflow: Workflow,
    *,
    state: str,
    transition: str,
    roles: Iterable[str],
    fields: Mapping[str, Any],
    superuser: bool = False,
) -> Plan:
    """Check a transition against the data and return what it does.

    Raises :class:`WorkflowError` with code ``unknown_transition``, ``not_allowed_in_state``,
    ``role_not_allowed``, ``field_required`` or ``invalid_choice``.
    """
    t = workflow.transitions.get(transition)
    if t is None:
        raise WorkflowError(
            "unknown_transition", f"{workflow.kind} has no transition {transition!r}", field="transition"
        )
    if state not in workflow.states:
        raise WorkflowError("not_allowed_in_state", f"unknown state {state!r}", field="transition")
    if not t.leaves(state, workflow.states):
        raise WorkflowError(
            "not_allowed_in_state", f"{transition!r} cannot be taken from {state!r}", field="transition"
        )
    if not allowed(t, roles, superuser=superuser):
        raise WorkflowError("role_not_allowed", f"your role may not take {transition!r}", field="transition")
    for name in t.require:
        if not _given(fields.get(name)):
            raise WorkflowError("field_required", f"{name} is required for {transition!r}", field=name)
    for name, values in t.choices.items():
        value = fields.get(name)
        if _given(value) and str(value) not in values:
            raise WorkflowError("invalid_choice", f"{name} must be one of {', '.join(values)}", field=name)
    to, starts, stops, reopen = t.to, t.starts, t.stops, t.reopen
    for branch in t.branches:
        if branch.holds(fields):
            to = branch.to if branch.to is not None else to
            starts = branch.starts if branch.starts is not None else starts
            stops = branch.stops if branch.stops is not None else stops
            reopen = branch.reopen if branch.reopen is not None else reopen
            break
    to_state = to or state
    return Plan(
        transition=t.name,
        from_state=state,
        to_state=to_state,
        starts=starts,
        stops=stops,
        pause=t.pause,
        resume=t.resume,
        assign=t.assign,
        reopen=reopen,
        closes=workflow.states[to_state].final and not workflow.states[state].final,
    )

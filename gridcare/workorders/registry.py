"""The workflows in force: every ``*.toml`` under ``workorders/workflows/`` plus the files named
in ``settings.GRIDCARE_WORKFLOW_FILES`` (later apps add their kinds there), loaded once per
process and checked on load."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import translation

from gridcare.core.errors import ValidationFailed
from gridcare.workorders.engine.workflow import Workflow, load_workflows

WORKFLOW_DIR = Path(__file__).resolve().parent / "workflows"


def workflow_files() -> list[Path]:
    extra = [Path(p) for p in getattr(settings, "GRIDCARE_WORKFLOW_FILES", [])]
    return sorted(WORKFLOW_DIR.glob("*.toml")) + extra


@cache
def workflows() -> dict[str, Workflow]:
    """Every kind's workflow (cached for the life of the process)."""
    return load_workflows(workflow_files())


def workflow_for(kind: str) -> Workflow:
    """The workflow of ``kind``; a kind without one is a validation error on ``kind``."""
    try:
        return workflows()[kind]
    except KeyError:
        raise ValidationFailed(f"No workflow is declared for kind {kind!r}.", field="kind") from None


def label_of(item: Any) -> str:
    """A workflow state's or transition's label in the language of the request: the data's
    Chinese ``label``, or ``label_en`` when the interface speaks English."""
    language = translation.get_language() or "zh-hans"
    if language.startswith("en"):
        return str(getattr(item, "label_en", "") or item.label)
    return str(item.label)

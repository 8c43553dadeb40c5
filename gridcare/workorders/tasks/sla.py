"""Background job of the SLA clock (服务时限), run by ``gridcare worker``: the periodic job
``sla_tick`` (core.PeriodicJob, every 60 s by default) enqueues it."""

from __future__ import annotations

from django_tasks import task


@task()
def sla_tick_task(now: str = "") -> dict[str, int]:
    """Warn the clocks past 75 % of their time, breach and escalate those past their deadline
    (``now``: an ISO date-time, for replays; default the current time)."""
    import datetime as dt

    from gridcare.core.engine.workdays import BEIJING
    from gridcare.workorders.services.clocks import sla_tick

    at = dt.datetime.fromisoformat(now) if now else None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=BEIJING)
    return sla_tick(now=at).as_dict()

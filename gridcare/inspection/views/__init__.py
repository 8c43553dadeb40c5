"""Console views of the inspection area, one module per area (risk, lineloss, tasks, cases)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def not_built(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Placeholder of a page still being built (replaced by the area's view)."""
    return HttpResponse("Not built yet", status=501)

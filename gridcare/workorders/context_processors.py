"""Template context of every console page: the signed-in staff user's unread alerts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from gridcare.core.roles import is_staff_user
from gridcare.workorders.models import StaffAlert


def alerts(request: HttpRequest) -> dict[str, Any]:
    """``unread_alerts``: how many alerts wait for the user (0 for customers and visitors).

    A callable, so the count is queried only by the pages that show it (the template
    language calls it on first use) and not by every console page."""
    user = getattr(request, "user", None)
    if not is_staff_user(user):
        return {"unread_alerts": 0}

    def unread() -> int:
        return StaffAlert.objects.filter(recipient=user, read_at__isnull=True).count()

    return {"unread_alerts": unread}

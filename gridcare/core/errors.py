"""One exception hierarchy for GridCare (house-style rule 12).

Every business error has a stable ``code``, a translatable ``message`` and, when one input
is to blame, the ``field``. The API maps them to ``{"code", "message", "field"}`` with the
HTTP status below; forms show them on the named field.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class GridCareError(Exception):
    """Base of every business error."""

    code = "error"
    status = 400
    default_message: Any = _("The request could not be completed.")

    def __init__(self, message: Any = None, *, field: str | None = None, code: str | None = None):
        self.message = message if message is not None else self.default_message
        self.field = field
        if code is not None:
            self.code = code
        super().__init__(str(self.message))

    def as_dict(self) -> dict[str, str | None]:
        """The one error format: ``{"code", "message", "field"}``."""
        return {"code": self.code, "message": str(self.message), "field": self.field}


class ValidationFailed(GridCareError):
    """Input broke a business rule; ``field`` names the input."""

    code = "validation_failed"
    status = 422
    default_message = _("The input is not valid.")


class NotFound(GridCareError):
    """The object does not exist or the caller may not see it (we never say which)."""

    code = "not_found"
    status = 404
    default_message = _("Not found.")


class PermissionDenied(GridCareError):
    """The caller's role does not allow this action."""

    code = "permission_denied"
    status = 403
    default_message = _("You do not have permission to do this.")


class Conflict(GridCareError):
    """The object changed under the caller, or the action clashes with its state."""

    code = "conflict"
    status = 409
    default_message = _("The record was changed by someone else; reload and try again.")


class LoginThrottled(GridCareError):
    """Too many failed logins for this user name or address."""

    code = "login_throttled"
    status = 429
    default_message = _("Too many failed logins. Try again later.")

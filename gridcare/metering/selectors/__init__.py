"""Every shared read of metering (selectors), one module per area; import from here.

Readings and exceptions: :mod:`gridcare.metering.selectors.readings`; meter assets and the
verification-due list: :mod:`~gridcare.metering.selectors.assets`; verification requests and
their deadline colours: :mod:`~gridcare.metering.selectors.verification`.
"""

from gridcare.metering.selectors.assets import (
    DueMeter,
    DueReason,
    meter_class_policy_at,
    meter_current_installation,
    meter_get,
    meters_due_for_verification,
    meters_search,
    meters_visible_to,
)
from gridcare.metering.selectors.readings import (
    accounts_held_from_billing,
    meter_daily_consumption,
    reading_exceptions_queue,
    reading_imports_recent,
)
from gridcare.metering.selectors.verification import (
    deadline_state,
    verification_policy_at,
    verification_request_get,
    verification_requests_list,
    verification_requests_visible_to,
)

__all__ = [
    "accounts_held_from_billing",
    "meter_daily_consumption",
    "reading_exceptions_queue",
    "reading_imports_recent",
]
__all__ += [
    "DueMeter",
    "DueReason",
    "deadline_state",
    "meter_class_policy_at",
    "meter_current_installation",
    "meter_get",
    "meters_due_for_verification",
    "meters_search",
    "meters_visible_to",
    "verification_policy_at",
    "verification_request_get",
    "verification_requests_list",
    "verification_requests_visible_to",
]

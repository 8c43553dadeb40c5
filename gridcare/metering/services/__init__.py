"""Every write of metering (services), one module per area; import from here.

Reading ingestion, edits and exception handling: :mod:`gridcare.metering.services.readings`.
Meter assets, installation and exchange (换表): :mod:`gridcare.metering.services.assets`;
verification requests and their 退补 records: :mod:`gridcare.metering.services.verification`.
"""

from gridcare.metering.services.assets import (
    METER_TRANSITIONS,
    meter_exchange,
    meter_install,
    meter_register,
    meter_remove,
    meter_scrap,
    meter_transition_allowed,
)
from gridcare.metering.services.readings import (
    reading_edit,
    reading_exceptions_resolve,
    reading_import_create,
    reading_import_enqueue,
    reading_import_run,
    readings_ingest_batch,
)
from gridcare.metering.services.verification import (
    VERIFICATION_TRANSITIONS,
    verification_request_close,
    verification_request_file,
    verification_result_record,
)

__all__ = [
    "reading_edit",
    "reading_exceptions_resolve",
    "reading_import_create",
    "reading_import_enqueue",
    "reading_import_run",
    "readings_ingest_batch",
]
__all__ += [
    "METER_TRANSITIONS",
    "VERIFICATION_TRANSITIONS",
    "meter_exchange",
    "meter_install",
    "meter_register",
    "meter_remove",
    "meter_scrap",
    "meter_transition_allowed",
    "verification_request_close",
    "verification_request_file",
    "verification_result_record",
]

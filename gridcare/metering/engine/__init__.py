"""The metering engine: reading files → checked readings (``parse``), validation and
estimation (``vee``, ``estimate``). Pure Polars/NumPy: no Django import anywhere here."""

from gridcare.metering.engine.estimate import estimate_missing, interpolate, interpolate_gaps
from gridcare.metering.engine.parse import (
    REQUIRED_COLUMNS,
    HeaderError,
    ParsedReadings,
    frame_from_records,
    parse_readings,
    read_table,
)
from gridcare.metering.engine.vee import VeeParams, VeeResult, vee_validate

__all__ = [
    "REQUIRED_COLUMNS",
    "HeaderError",
    "ParsedReadings",
    "VeeParams",
    "VeeResult",
    "estimate_missing",
    "frame_from_records",
    "interpolate",
    "interpolate_gaps",
    "parse_readings",
    "read_table",
    "vee_validate",
]

"""Pure computation of inspection and anti-theft (no Django imports)."""

from gridcare.inspection.engine.attacks import ATTACK_KINDS, ATTACKS, benchmark_data, thief_count
from gridcare.inspection.engine.london import load_london_daily

__all__ = ["ATTACKS", "ATTACK_KINDS", "benchmark_data", "load_london_daily", "thief_count"]

"""Pure computation of inspection and anti-theft (no Django imports)."""

import os

# LightGBM's OpenMP threads spin while they wait by default; on a shared 2-core machine that
# made training and scoring 4–5× slower whenever other processes ran (docs/inspection-scoring.md).
# libgomp reads this once, when LightGBM is first imported, so it is set before any engine module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from gridcare.inspection.engine.attacks import ATTACK_KINDS, ATTACKS, benchmark_data, thief_count
from gridcare.inspection.engine.london import load_london_daily

__all__ = ["ATTACKS", "ATTACK_KINDS", "benchmark_data", "load_london_daily", "thief_count"]

"""Inspection and anti-theft (用电检查, 防窃电): theft risk on consumption data, line loss,
inspection tasks and cases."""

"""Template tags of the billing console."""

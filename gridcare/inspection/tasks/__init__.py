"""Background jobs of the inspection area (run by ``gridcare worker``'s scheduler)."""

"""Background jobs of the work-order backbone (django-tasks), one module per area."""

"""Console views of work orders, one module per area (workbench, orders, knowledge)."""

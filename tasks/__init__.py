"""lampbench.tasks."""

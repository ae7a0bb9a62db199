"""lampbench.tests."""

"""lampbench.harness."""

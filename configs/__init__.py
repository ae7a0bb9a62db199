"""lampbench.configs."""

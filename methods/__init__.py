"""lampbench.methods."""

"""Base: see `method.py`."""

from lampbench.methods.baseline.method import Base

__all__ = ["Base"]

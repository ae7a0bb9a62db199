"""Aloe: see `method.py`."""

from lampbench.methods.aloe.method import Aloe

__all__ = ["Aloe"]

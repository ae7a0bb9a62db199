"""Dpo: see `method.py`."""

from lampbench.methods.dpo.method import Dpo

__all__ = ["Dpo"]

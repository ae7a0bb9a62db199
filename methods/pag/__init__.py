"""Pag: see `method.py`."""

from lampbench.methods.pag.method import Pag

__all__ = ["Pag"]

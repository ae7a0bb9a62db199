"""Rag: see `method.py`."""

from lampbench.methods.rag.method import Rag

__all__ = ["Rag"]

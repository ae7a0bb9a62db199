"""StyleVector: see `method.py`."""

from lampbench.methods.stylevector.method import StyleVector

__all__ = ["StyleVector"]

"""LlmRec: see `method.py`."""

from lampbench.methods.llm_rec.method import LlmRec

__all__ = ["LlmRec"]

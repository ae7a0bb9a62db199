"""OPPU and its parts: LoRA-C (task LoRA), LoRA-P (per-user LoRA) and OPPU (both). See `method.py`."""

from lampbench.methods.oppu.config import LoraCConfig, LoraPConfig, OppuConfig
from lampbench.methods.oppu.method import LoraC, LoraP, Oppu

__all__ = ["LoraC", "LoraCConfig", "LoraP", "LoraPConfig", "Oppu", "OppuConfig"]

"""OPPU and its parts: LoRA-C (task LoRA), LoRA-P (per-user LoRA) and OPPU (both). See `method.py`."""

from lampbench.methods.oppu.method import LoraC, LoraP, Oppu

__all__ = ["LoraC", "LoraP", "Oppu"]

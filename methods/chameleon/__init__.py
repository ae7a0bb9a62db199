"""CHAMELEON (Zhang et al. 2025): self-generated preference data and representation editing. See `method.py`."""

from lampbench.methods.chameleon.config import ChameleonConfig
from lampbench.methods.chameleon.method import Chameleon, ChameleonState

__all__ = ["Chameleon", "ChameleonConfig", "ChameleonState"]

"""PerFit (two-stage representation fine-tuning, LoReFT-style). See `method.py`.

- `config.py`: the settings, with where each default comes from.
- `intervention.py`: phi(h) = h + Rᵀ(W h + b − R h) and the forward hooks that apply it (no pyreft/pyvene).
- `train.py`: one stage's training loop under the budget clock.
- `method.py`: the method: stage 1 in `fit`, stage 2 in `personalize`.
"""

from lampbench.methods.perfit.config import PerFitConfig
from lampbench.methods.perfit.intervention import Phi
from lampbench.methods.perfit.method import PerFit

__all__ = ["PerFit", "PerFitConfig", "Phi"]

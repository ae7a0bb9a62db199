"""Personalized Pieces (Per-Pcs): per-user LoRAs assembled, without training, from sharers' gated pieces.

- `config.py`: the settings, with where each default comes from (the paper's Table 3 per task).
- `pieces.py`: the pool, gate training, assembly and answering hooks (the paper's §2.4-2.5).
- `method.py`: the method: sharers, task adaptation and the pool in `fit`, assembly in `personalize`.
"""

from lampbench.methods.perpcs.config import PerPcsConfig
from lampbench.methods.perpcs.method import PerPcs
from lampbench.methods.perpcs.pieces import Assembly, Pool

__all__ = ["Assembly", "PerPcs", "PerPcsConfig", "Pool"]

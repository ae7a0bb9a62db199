"""PEFT Retrieval (Per-Pcs App. G): a user's adapter is the weighted sum of the LoRAs of the most similar sharers.

- `config.py`: the settings, with where each default comes from (Per-Pcs' where the paper is silent).
- `method.py`: the method: sharers, task adaptation and their LoRAs in `fit`, retrieval in `personalize`.
"""

from lampbench.methods.peft_retrieval.config import PeftRetrievalConfig
from lampbench.methods.peft_retrieval.method import PeftRetrieval, Retrieved, compose

__all__ = ["PeftRetrieval", "PeftRetrievalConfig", "Retrieved", "compose"]

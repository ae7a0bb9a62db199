"""The fine-tuning methods: `lora-c`, `lora-p` and `oppu` (OPPU), `aloe` (ALOE-style SFT) and `dpo`.

- `config.py`: one frozen config per method with the papers' defaults.
- `examples.py`: training examples from LaMP users (history items as task examples, history-conditioned ones).
- `train.py`: trl's SFTTrainer and DPOTrainer under the budget clock.
- `adapters.py`: adapters on the shared backbone (inject once, train from fresh, swap in to answer), budget shares.
- `oppu.py`, `aloe.py`, `dpo.py`: the methods.
"""

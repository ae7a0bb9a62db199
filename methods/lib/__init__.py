"""The library the methods share; a method's folder imports this, never another method's folder.

- `train_config.py`: `LoraTrain` (a LoRA's shape and optimisation, a method config's `train` field), `TaskStage`.
- `checks.py`: the config checks that raise `ConfigError` naming the field.
- `examples.py`: training examples from users, and `encode_example`, the one tokenisation of an example.
- `schedule.py`: `lr_factor`, the one learning-rate schedule.
- `train.py` (SFT and DPO of the backbone's trainable weights) and `loop.py` (parameters acting through
  hooks; the pieces both share): the training engines, plain PyTorch loops under the clock.
- `outcome.py`: what a training stage did; `adapters.py`: LoRA adapters on the shared backbone.
- `task_lora.py`: OPPU's task LoRA (OPPU, Per-Pcs); `history_lora.py`: the history-prompted LoRA (ALOE, DPO).
- `retrieval.py`: LaMP's retrieval from a user's history (rag, pag, llm-rec, ALOE, DPO).
- `prompt_budget.py`: the prompt budget as methods use it; `rows.py`: per-row state in batched answers;
  `saved.py`: a collective stage saved to the run folder.
- `sharers.py`: Per-Pcs' sharers and its Table 3 (Per-Pcs, PEFT Retrieval); `profiles.py`: LLM-written profiles
  (pag, the +PAG variants); `prompt_variants.py`: the +RAG / +PAG prompts of the PEFT methods.
"""

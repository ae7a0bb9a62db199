from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lampbench.harness.services.accounting import state_bytes, state_parameters


@dataclass
class State:
    weights: dict
    note: str


def test_bytes_and_parameters_are_measured_from_contents():
    state = State({"a": torch.zeros(10, 4), "b": torch.zeros(3, dtype=torch.bfloat16)}, "héllo")
    assert state_bytes(state) == 10 * 4 * 4 + 3 * 2 + len("héllo".encode()) + 2  # + the two dict keys
    assert state_parameters(state) == 43
    assert state_bytes(None) == 0 and state_parameters(None) == 0
    assert state_bytes([np.zeros(5, dtype=np.float32), 3]) == 28
    assert state_parameters([np.zeros(5, dtype=np.float32), np.zeros(2, dtype=np.int64)]) == 5


def test_shared_objects_are_counted_once():
    t = torch.zeros(100)
    assert state_bytes([t, t]) == 400

"""The papers' figures as data (`leaderboard/reference/*.json`): complete, keyed once, and as the papers print them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lampbench.harness.run.reproduce import load_preset, preset_names
from lampbench.leaderboard.reproduce import KEY, figures_of, load_reference
from lampbench.tasks.specs import get_task

PAPERS = Path(__file__).resolve().parents[2].parent / "shared" / "papers"  # the papers' texts beside the checkout
REFERENCES = {"chameleon": "chameleon-2503.01048.txt", "perfit": "perfit-personalization-shifts.txt",
              "per-pcs": "per-pcs-personalized-pieces.txt"}  # fmt: skip
NUMBER = re.compile(r"\d*\.\d+")

# (paper, the text the table follows, the start of the row's line, which number of that line, the figure's key)
SAMPLE = [
    ("chameleon", "Mistral Instruct\t\t\t\tFlan T5 XXL", "LaMP2\t", 6, ("Table 1", "CHAMELEON", "lamp2", "accuracy",
     "Mistral-7B-Instruct-v0.3")),
    ("chameleon", "Mistral Instruct\t\t\t\tFlan T5 XXL", "LaMP3\t", 5, ("Table 1", "ALOE", "lamp3", "rmse",
     "Mistral-7B-Instruct-v0.3")),
    ("chameleon", "Mistral Instruct\t\t\t\tFlan T5 XXL", "LaMP7\t", 15, ("Table 1", "CHAMELEON", "lamp7", "rouge-L",
     "Flan-T5-XXL")),
    ("chameleon", "Table 1: CHAMELEON outperforms", "LaMP2\tF-1", 1, ("Table 2", "CHAMELEON", "lamp2", "f1",
     "Mistral-7B-Instruct-v0.3")),
    ("chameleon", "Table 1: CHAMELEON outperforms", "\tR-L", 2, ("Table 2", "ALOE", "lamp7", "rouge-L",
     "Flan-T5-XXL")),
    ("chameleon", "Only personalized\tOnly Non-", "\tF-1", 2, ("Table 3", "Both", "lamp2", "f1",
     "Mistral-7B-Instruct-v0.3")),
    ("chameleon", "Only personalized\tOnly Non-", "LaMP3\t", 1, ("Table 3", "Only Non-personalized", "lamp3", "mae",
     "Mistral-7B-Instruct-v0.3")),
    ("perfit", "Table 2: Results on classification", "OPPU\t", 1, ("Table 2", "OPPU", "lamp2n", "f1", "Llama-2-7b-hf")),
    ("perfit", "Table 2: Results on classification", "LoRA-C\t", 5, ("Table 2", "LoRA-C", "lamp3", "rmse",
     "Llama-2-7b-hf")),
    ("perfit", "Table 3: Results on generation", "RAG (k=2)\t", 2, ("Table 3", "RAG (k=2)", "lamp5", "rouge-1",
     "Llama-2-7b-hf")),
    ("perfit", "Table 3: Results on generation", "Ours (PerFit)\t", 0, ("Table 3", "PerFit", "lamp4", "rouge-1",
     "Llama-2-7b-hf")),
    ("perfit", "Table 4: Ablation results", "@Stage-2 (C+P)\t", 3, ("Table 4", "@Stage-2 (C+P)", "lamp2", "f1",
     "Llama-2-7b-hf")),
    ("perfit", "Table 4: Ablation results", "Ours\t", 4, ("Table 4", "Ours", "lamp4", "rouge-1", "Llama-2-7b-hf")),
    ("per-pcs", "Table 1: Main experiment results", "LAMP-3: PERSONALIZED\t", 7, ("Table 1", "Per-Pcs", "lamp3", "mae",
     "Llama-2-7B")),
    ("per-pcs", "Table 1: Main experiment results", "MOVIE TAGGING\t", 4, ("Table 1", "PEFT Retrieval", "lamp2", "f1",
     "Llama-2-7B")),
    ("per-pcs", "Table 1: Main experiment results", "LAMP-2: PERSONALIZED\t", 9, ("Table 1", "Per-Pcs +PAG", "lamp2",
     "accuracy", "Llama-2-7B")),
    ("per-pcs", "Table 1: Main experiment results", "TWEET PARAPHRASING\t", 12, ("Table 1", "OPPU +PAG", "lamp7",
     "rouge-L", "Llama-2-7B")),
    ("per-pcs", "Table 1: Main experiment results", "LAMP-3: PERSONALIZED\t", 0, ("Table 1", "k=0", "lamp3", "mae",
     "Llama-2-7B")),
    ("per-pcs", "Table 1: Main experiment results", "PRODUCT RATING\t", 0, ("Table 1", "k=0", "lamp3", "rmse",
     "Llama-2-7B")),
]  # fmt: skip


@pytest.mark.parametrize("paper", sorted(REFERENCES))
def test_every_figure_is_keyed_once_with_a_known_task_and_metric(paper):
    figures = load_reference(paper)
    keys = [tuple(getattr(f, k) for k in KEY) for f in figures]
    assert figures and len(keys) == len(set(keys))
    for f in figures:
        assert f.paper == paper and f.metric in get_task(f.task).metrics, f
        assert isinstance(f.value, float) and 0 <= f.value < 2, f


@pytest.mark.parametrize("paper, after, row, index, key", SAMPLE)
def test_a_sample_of_figures_reads_as_the_paper_prints_it(paper, after, row, index, key):
    path = PAPERS / REFERENCES[paper]
    if not path.exists():
        pytest.skip(f"the paper's text is not here: {path}")
    text = path.read_text(encoding="utf-8")
    start = text.index(after)
    line = next(li for li in text[start:].splitlines() if li.startswith(row))
    printed = float(NUMBER.findall(line)[index])
    table, method, task, metric, backbone = key
    (figure,) = [f for f in load_reference(paper) if (f.table, f.method, f.task, f.metric, f.backbone) == key]
    assert figure.value == printed, line


@pytest.mark.parametrize("name", preset_names())
def test_every_cell_of_a_preset_has_the_papers_figure_for_each_task_metric(name):
    preset = load_preset(name)
    found = {(f.method, f.task, f.metric) for f in figures_of(preset)}
    wanted = {
        (c.label, get_task(t).name, m) for c in preset.cells for t in preset.sweep.tasks for m in get_task(t).metrics
    }
    assert found == wanted

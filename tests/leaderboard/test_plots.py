"""The plots on fake results: what each axis says, lines and bands per method, PNG/SVG output, the CLI.

Most tests read the matplotlib Figure (cheap); a few write files (rendering is the slow part).
"""

from __future__ import annotations

import pytest
from matplotlib.collections import LineCollection, PolyCollection
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.leaderboard import plots
from lampbench.leaderboard.table import leaderboard, load_runs


@pytest.fixture(scope="module")
def runs(out):
    return load_runs(out, config_keys=["group_size", "history_k"])


def legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def texts(fig) -> str:
    """Every text on the figure: titles, labels, annotations."""
    return " | ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text())


def test_budget_curve_with_gain(runs):
    fig = plots.budget_curve(runs, task="lamp3", gain=True)
    top, bottom = fig.axes
    assert top.get_ylabel() == "MAE (rating points), ↓ lower is better"
    assert "positive is better" in bottom.get_ylabel()
    assert bottom.get_xlabel() == "wall-clock budget for adaptation (fit + personalize)"
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["1m", "5m", "10m"]
    chameleon = (
        "chameleon group_size=100 history_k=10 (3 seeds)"  # the config that spans budgets; sweeps' points left out
    )
    assert legend(top) == ["base (3 seeds)", chameleon, "rag (3 seeds)"]
    assert "base" in legend(bottom) and "better" in texts(fig) and "MAE against budget" in texts(fig)
    assert sum(isinstance(c, PolyCollection) for c in top.collections) == 3  # a band over seeds per method
    bars = [c for c in top.collections if isinstance(c, LineCollection)]
    assert len(bars) == 3 and all(len(c.get_segments()) == 3 for c in bars)  # 95% intervals at each budget
    low, high = bars[0].get_segments()[0][:, 1]  # base at 1m: its seeds pooled per user, around MAE 0.9
    assert low < 0.9 < high and "bars: 95% interval over users" in top.get_title(loc="left")
    assert sum(isinstance(c, LineCollection) for c in bottom.collections) == 2  # paired gain intervals, not base
    rag = next(line for line in top.get_lines() if line.get_label().startswith("rag"))
    assert list(rag.get_xdata()) == [1.0, 5.0, 10.0] and rag.get_ydata()[1] == pytest.approx(0.85)


def test_budget_curve_marks_over_budget_and_higher_is_better(runs):
    fig = plots.budget_curve(runs, task="lamp2", gain=False, band="std")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "accuracy, ↑ higher is better"
    assert "over budget" in legend(ax) and "dpo (1 seed)" in legend(ax)
    assert "mean ± std over seeds" in ax.get_title(loc="left")


def test_setting_curves(runs):
    fig = plots.setting_curve(runs, task="lamp3", key="group_size")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "group size (users per group)" and legend(ax) == [
        "chameleon · 10m · history_k=10 (3 seeds)"
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["25", "50", "100"]
    fig = plots.setting_curve(runs, task="lamp3", key="history_k", x_label="k")
    assert fig.axes[0].get_xlabel() == "k" and legend(fig.axes[0]) == ["chameleon · 10m · group_size=100 (3 seeds)"]
    with pytest.raises(ValueError, match="no method was run on lamp2 with two values of 'group_size'"):
        plots.setting_curve(runs, task="lamp2", key="group_size")


def test_cost_scatter(runs):
    board = leaderboard(runs, "mean")
    fig = plots.cost_scatter(board, task="lamp3", cost="state")
    (ax,) = fig.axes
    assert "bars: 95% interval over users" in ax.get_title(loc="left")
    assert ax.get_xscale() == "log" and "per-user state (bytes), log scale; 0 at the left" in ax.get_xlabel()
    assert "0" in [t.get_text() for t in ax.get_xticklabels()]  # base keeps no state
    assert "1m, 5m, 10m" in texts(fig)  # base's three budgets coincide: one label
    fig = plots.cost_scatter(board, task="lamp2", cost="time", metric="f1")
    assert fig.axes[0].get_xlabel().startswith("adaptation time (s), log scale")
    assert fig.axes[0].get_ylabel() == "macro F1, ↑ higher is better" and "over budget" in legend(fig.axes[0])
    with pytest.raises(ValueError, match="--cost must be one of state, time"):
        plots.cost_scatter(board, task="lamp3", cost="money")


def test_bad_metric_task_and_band(runs):
    with pytest.raises(ValueError, match="lamp3 has no metric 'accuracy'; its metrics: mae, rmse"):
        plots.budget_curve(runs, task="lamp3", metric="accuracy")
    with pytest.raises(ValueError, match="no finished lamp5 runs"):
        plots.budget_curve(runs, task="lamp5")
    with pytest.raises(ValueError, match="--band must be one of minmax, std"):
        plots.budget_curve(runs, task="lamp3", band="iqr")


def test_save_by_suffix_or_both(runs, tmp_path):
    fig = plots.budget_curve(runs, task="lamp3", gain=False)
    (png,) = plots.save(fig, tmp_path / "a" / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    both = plots.save(fig, tmp_path / "curve")
    assert [p.name for p in both] == ["curve.png", "curve.svg"]
    svg = both[1].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<dc:date>" not in svg  # no timestamp


def test_cli(out, tmp_path):
    runner = CliRunner()
    to = tmp_path / "gs.svg"
    result = runner.invoke(app, ["plot", "group-size", "--task", "lamp3", "--out", str(out), "--to", str(to)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {to}" and to.read_text().count("<svg") == 1
    bad = runner.invoke(app, ["plot", "cost", "--task", "lamp3", "--out", str(out), "--cost", "money"])
    assert bad.exit_code == 2 and bad.output.strip().endswith(
        "Invalid value for '--cost': 'money' is not one of 'state', 'time', 'per-user'."
    )  # checked by the command line (a Literal), before anything is read
    bad = runner.invoke(app, ["plot", "history-size", "--task", "lamp2", "--out", str(out)])
    assert bad.exit_code == 2 and "with two values of 'history_k'" in bad.output
    assert runner.invoke(app, ["plot", "--help"]).output.count("budget-curve") == 1

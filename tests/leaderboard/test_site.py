"""The static site: pages, tables and plots on disk, then rendered for real in headless Chromium.

The Chromium tests skip where Debian's `chromium` is not installed (`apt-get install chromium`); `.ci/run` installs
it first wherever apt-get can, so in CI they run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.leaderboard import plots
from lampbench.leaderboard.table import leaderboard, load_runs
from lampbench.tests.fake_results import write_results

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed and nothing installed it (.ci/run does where apt-get can: "
    "apt-get install chromium)",
)
PLOTS = ["budget-curve", *(f"cost-{c}" for c in plots.COSTS), "group-size", "history-size"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    write_results(root / "runs", lamp2=False)  # one task keeps the plots (the slow part) few
    site = root / "site"
    done = CliRunner().invoke(app, ["site", "--out", str(root / "runs"), "--to", str(site)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"wrote 2 pages to {site}: open {site / 'index.html'}"
    return root / "runs", site


class Links(HTMLParser):
    """The references (src, href) and the table body rows of a page."""

    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.rows = 0
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]
        self._in_body = self._in_body or tag == "tbody"
        self.rows += tag == "tr" and self._in_body


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def test_pages_reference_only_files_beside_them(results):
    _, site = results
    assert sorted(p.name for p in site.glob("*.html")) == ["index.html", "lamp3.html"]
    assert sorted(p.name for p in site.glob("*.png")) == sorted(f"lamp3-{name}.png" for name in PLOTS)
    assert len(list(site.glob("*.svg"))) == len(PLOTS)
    for page in site.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "<script src" not in text  # no CDN, no server
        for ref in parse(page).refs:
            assert (site / ref).is_file(), f"{page.name} refers to {ref}, which is not there"


def test_task_page_has_every_leaderboard_row(results):
    out, site = results
    board = leaderboard(load_runs(out), "mean")
    page = site / "lamp3.html"
    assert parse(page).rows == len(board)
    text = page.read_text(encoding="utf-8")
    assert '<th data-key="metric:mae" data-type="num">mae ↓</th>' in text
    # sorts by the number, shows the text: mean ± std over seeds and the 95% interval of the pooled per-user scores
    assert '<td class=num data-v="0.85">0.850 ± 0.010 [0.755, 0.945]</td>' in text
    assert '<th data-key="official:mae" data-type="num">mae official ↓</th>' in text
    assert "95% interval" in text and "scored as LaMP's evaluator scores them" in text
    assert parse(site / "index.html").refs.count("lamp3.html") == 2  # the nav bar and the task list
    assert "chameleon group_size=100 history_k=20: mae 0.680 [0." in (site / "index.html").read_text(encoding="utf-8")


def test_site_without_results_says_so(tmp_path):
    done = CliRunner().invoke(app, ["site", "--out", str(tmp_path / "none"), "--to", str(tmp_path / "site")])
    assert done.exit_code == 2 and "no runs in" in done.output and not (tmp_path / "site").exists()


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'profile'}", "--window-size=1280,1600"]  # fmt: skip
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@needs_chromium
def test_chromium_renders_the_table_and_loads_the_plots(results, tmp_path):
    _, site = results
    url = (site / "lamp3.html").as_uri()
    dom = chromium("--dump-dom", url, tmp=tmp_path).stdout
    body = dom.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == 13  # 3 methods x 3 budgets + 4 more chameleon configs at 10m
    assert dom.count('data-state="loaded"') == len(PLOTS) and 'data-state="broken"' not in dom

    sorted_dom = chromium("--dump-dom", url + "#sort=adapt_s&desc", tmp=tmp_path).stdout
    assert '<th data-key="adapt_s" data-type="num" aria-sort="descending">' in sorted_dom
    first = re.search(r"<tbody>\s*<tr[^>]*><td[^>]*>(\w+)</td>", sorted_dom)
    assert first and first.group(1) == "chameleon"  # 0.4 x 10m fit + 0.3 x 10m personalize: the longest


@needs_chromium
def test_chromium_screenshot_is_not_blank(results, tmp_path):
    from PIL import Image

    _, site = results
    for page in ("lamp3.html", "index.html"):
        shot = tmp_path / f"{page}.png"
        done = chromium(f"--screenshot={shot}", (site / page).as_uri(), tmp=tmp_path)
        assert shot.exists(), done.stderr[-2000:]
        image = Image.open(shot).convert("RGB")
        assert image.size == (1280, 1600)
        ink = sum(image.convert("L").histogram()[:250]) / (1280 * 1600)  # the share of pixels that are not white
        if page == "lamp3.html":
            assert ink > 0.05, "the task page looks blank"
            assert len(image.getcolors(maxcolors=1 << 20)) > 500  # text, table rules and coloured plots
        else:
            assert ink > 0.002, "the index page looks blank"


def test_the_site_and_budget_curve_show_the_personalization_gain(tmp_path):
    """With own and shuffled runs of a method, the page's table has the personalization gain with its interval,
    and the budget curve a panel of it (the control drawn dashed beside its method)."""
    from lampbench.harness.run.store import Store
    from lampbench.tests.fake_results import add_run, rating_run

    store = Store(tmp_path / "runs")
    for budget in (60.0, 300.0):
        for method, profiles, mae in (("base", "own", 1.0), ("rag", "own", 0.5), ("rag", "shuffled", 0.8)):
            metrics, outcomes = rating_run(mae * (60 / budget) ** 0.1, phase=len(method + profiles))
            add_run(store, task="lamp3", method=method, budget=budget, seed=0, metrics=metrics, outcomes=outcomes,
                    profiles=profiles)  # fmt: skip
    done = CliRunner().invoke(app, ["site", "--out", str(tmp_path / "runs"), "--to", str(tmp_path / "site")])
    assert done.exit_code == 0, done.output
    text = (tmp_path / "site" / "lamp3.html").read_text(encoding="utf-8")
    assert '<th data-key="personal_gain" data-type="num">personal ↑</th>' in text
    assert re.search(r'data-v="0\.\d+">\+0\.\d{3} \[\+0\.\d{3}, \+0\.\d{3}\]\*</td>', text)
    assert '<th data-key="profiles" data-type="text">profiles</th>' in text and ">shuffled</td>" in text
    figure = plots.budget_curve(load_runs(tmp_path / "runs"), task="lamp3", gain=True, personal=True)
    axes = figure.get_axes()
    assert len(axes) == 3 and "personalization gain" in axes[2].get_ylabel()
    labels = axes[0].get_legend_handles_labels()[1]
    assert any(label.startswith("rag (shuffled histories)") for label in labels)

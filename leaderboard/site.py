"""The static site: `index.html`, one page per task with its leaderboard table and plots, the plots beside them.

    site/
      index.html                 the tasks, their methods and the best entry at the largest budget
      lamp3.html                 the table (click a header to sort; `lamp3.html#sort=adapt_s` opens sorted)
      lamp3-budget-curve.png     and .svg; also -cost-state, -cost-time, and -group-size / -history-size
                                 where a method was swept over that config value

Plain files, referenced relatively: open `index.html` from disk or serve the folder from anywhere. The sorting
is a few lines of inline JavaScript (no CDN, no server). Each image gets `data-state="loaded"` or `"broken"`
once the browser has tried it, so a broken plot shows (and a headless browser test can check it).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from lampbench.harness.services.budget import format_seconds
from lampbench.leaderboard import plots
from lampbench.leaderboard.render import LEGEND, columns_for, heading, missing
from lampbench.leaderboard.table import leaderboard, load_runs
from lampbench.tasks.errors import DataError
from lampbench.tasks.specs import get_task

if TYPE_CHECKING:
    import pandas as pd

SETTING_PLOTS = {"group_size": "group-size", "history_k": "history-size"}
_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1400px;padding:0 16px;color:#222}
nav a{margin-right:12px} table{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.board{font-size:13px} th,td{padding:3px 6px;border-bottom:1px solid #ddd;white-space:nowrap}
td.num{text-align:right} td.wrap{white-space:normal;min-width:9em}
th{cursor:pointer;background:#f3f3f3;position:sticky;top:0;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"} th[aria-sort=descending]::after{content:" ▼"}
tr.best td{font-weight:600} .scroll{overflow-x:auto} .muted{color:#666}
figure{display:inline-block;vertical-align:top;margin:12px 12px 0 0;max-width:600px}
figure img{width:100%;border:1px solid #eee}
img[data-state=broken]{outline:3px solid #d62728;min-height:40px}"""
_JS = """const cells = (t) => Array.from(t.tHead.rows[0].cells);
function sortBy(table, i, dir) {
  const th = cells(table)[i], num = th.dataset.type === "num", body = table.tBodies[0];
  dir = dir || (th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
  cells(table).forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const key = (r) => { const v = r.cells[i].dataset.v; return v === "" ? null : num ? Number(v) : v; };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);  // empty cells last either way
    return (x < y ? -1 : x > y ? 1 : 0) * (dir === "ascending" ? 1 : -1);
  });
  rows.forEach((r) => body.appendChild(r));
  history.replaceState(null, "", "#sort=" + th.dataset.key + (dir === "descending" ? "&desc" : ""));
}
document.querySelectorAll("table.board").forEach((table) => {
  cells(table).forEach((th, i) => th.addEventListener("click", () => sortBy(table, i)));
  const m = location.hash.match(/^#sort=([^&]+)(&desc)?$/);
  const i = m ? cells(table).findIndex((th) => th.dataset.key === decodeURIComponent(m[1])) : -1;
  if (i >= 0) sortBy(table, i, m[2] ? "descending" : "ascending");
});
for (const img of document.images) {
  const mark = () => { img.dataset.state = img.naturalWidth > 0 ? "loaded" : "broken"; };
  if (img.complete) mark(); else { img.addEventListener("load", mark); img.addEventListener("error", mark); }
}"""


def build_site(out: Path | str, to: Path | str, *, aggregate: str = "mean", band: str = "minmax") -> list[Path]:
    """Write the site for the results in `out` into the folder `to`; return the HTML pages written.

    Raises:
        ValueError: when `out` has no runs.
    """
    to = Path(to)
    runs = load_runs(out, config_keys=SETTING_PLOTS)
    if runs.empty:
        raise DataError(f"no runs in {out}: nothing to put on a site (start one with `bench run`)")
    board = leaderboard(runs, aggregate)
    to.mkdir(parents=True, exist_ok=True)
    tasks = sorted(board["task"].unique())
    pages = [to / "index.html"]
    pages[0].write_text(_index(board, tasks), encoding="utf-8")
    for task in tasks:
        figures = _plots(runs, board, task, to, band)
        rows = board[board["task"] == task]
        title, what = f"{task} · {get_task(task).description}", heading(task, rows, aggregate).split(" · ", 2)[2]
        body = f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(what)}</p>\n<p class=muted>{html.escape(LEGEND)}. "
        body += "Click a header to sort.</p>\n" + _table(rows) + _DEFINITIONS + "\n<h2>Plots</h2>\n" + figures
        pages.append(to / f"{task}.html")
        pages[-1].write_text(_page(f"{task} leaderboard", tasks, body), encoding="utf-8")
    return pages


_DEFINITIONS = """<details><summary>What the columns mean</summary><ul>
<li><b>metrics</b> (e.g. <b>mae</b>): scored after the task's parser reads each generation (strictly: an ambiguous
answer counts as unreadable); rows are ranked by these. <b>official</b>: the raw generations, only
<code>strip()</code>-ed, scored as LaMP's evaluator scores them, as papers report. <b>[low, high]</b>: the 95%
interval from a bootstrap over users (with several seeds, over their per-user scores pooled by user);
<b>± std</b>: the spread over seeds.</li>
<li><b>gain</b>: the headline metric minus <code>base</code>'s at the same budget (nearest budget when that one has
no base run), sign flipped for lower-is-better metrics, so positive is better; [low, high] is its paired interval
over the users both answered, <b>*</b> when it excludes 0, <b>†</b> when the two answered different users (only
the shared ones are compared).</li>
<li><b>personal</b>: the personalization gain, with the users' own histories over with shuffled ones
(<code>--profiles shuffled</code>: every user gets another user's history), same method, config, budget and seeds,
positive when the own history helped; [low, high] its paired interval over users, <b>*</b> when it excludes 0.
Shown where both were run. <b>profiles</b>, <b>answer</b> (in the heading when every row shares them): the histories
the users had (own, shuffled, none) and how answers were read (generated then parsed, or chosen among the labels
by likelihood).</li>
<li><b>read e/x/u</b>: answers that were the raw generation exactly / extracted from a longer text by the task's
parser / unreadable (scored as LaMP scores an unreadable answer).</li>
<li><b>hardware</b>, <b>dtype</b>: part of a row's identity (in the heading when every row shares them): runs on
different machines are never merged.</li>
<li><b>adapt</b>: time charged to the budget (fit + personalize). <b>s/query</b>: inference seconds per query.</li>
<li><b>state/user</b>, <b>params/user</b>: the per-user state's size and its trainable parameters.</li>
<li><b>coverage</b>: users personalized within the budget, as the method reports it (all, for an ok run of a
method that reports nothing).</li>
<li><b>status</b>: <code>ok</code>, or how many runs were ok, over budget or failed. Bold: best at its budget.</li>
</ul></details>"""


def _page(title: str, tasks: list[str], body: str) -> str:
    nav = " ".join(f'<a href="{t}.html">{t}</a>' for t in tasks)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><nav><a href="index.html">lampbench</a> {nav}</nav>
{body}
<script>{_JS}</script></body></html>
"""


def _table(rows: pd.DataFrame) -> str:
    columns = columns_for(rows)
    head = "".join(
        f'<th data-key="{html.escape(c.key)}" data-type="{"num" if c.numeric else "text"}">{html.escape(c.header)}</th>'
        for c in columns
    )
    firsts = set(rows.dropna(subset=["score"]).groupby("budget_s", sort=False).head(1).index)  # best first
    body = []
    for i, row in rows.iterrows():
        tds = "".join(_cell(c.text(row), row.get(c.key), c.numeric) for c in columns)
        body.append(f"<tr{' class=best' if i in firsts else ''}>{tds}</tr>")
    table = f"<table class=board><thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table>"
    return f"<div class=scroll>{table}</div>\n"


def _cell(text: str, value, numeric: bool) -> str:
    raw = "" if missing(value) else str(value)
    css = " class=num" if numeric else " class=wrap" if " " in text else ""
    return f'<td{css} data-v="{html.escape(raw if numeric else text)}">{html.escape(text)}</td>'


def _plots(runs: pd.DataFrame, board: pd.DataFrame, task: str, to: Path, band: str) -> str:
    spec = get_task(task)
    made = []
    has_base = (board[board["task"] == task]["method"] == "base").any()
    curve = lambda: plots.budget_curve(runs, task=task, gain=has_base, band=band, personal=True)  # noqa: E731
    wanted = [("budget-curve", curve)]
    wanted += [(f"cost-{c}", lambda c=c: plots.cost_scatter(board, task=task, cost=c)) for c in plots.COSTS]
    wanted += [
        (name, lambda key=key: plots.setting_curve(runs, task=task, key=key, band=band))
        for key, name in SETTING_PLOTS.items()
    ]
    for name, draw in wanted:
        try:
            figure = draw()
        except ValueError:  # nothing to draw: no finished runs, no sweep over that setting
            continue
        plots.save(figure, to / f"{task}-{name}")
        alt = f"{task} ({spec.description}): {name.replace('-', ' ')}"
        made.append(
            f'<figure><a href="{task}-{name}.svg"><img src="{task}-{name}.png" alt="{html.escape(alt)}"></a>'
            f'<figcaption class=muted>{html.escape(name.replace("-", " "))} · <a href="{task}-{name}.svg">SVG</a>'
            "</figcaption></figure>"
        )
    return "\n".join(made) or "<p class=muted>No finished runs to plot yet.</p>"


def _index(board: pd.DataFrame, tasks: list[str]) -> str:
    items = []
    for task in tasks:
        rows = board[board["task"] == task]
        top = rows[rows["budget_s"] == rows["budget_s"].max()].dropna(subset=["score"])
        best = ""
        if len(top):
            lead = top.iloc[0]
            who = f"{lead['method']} {lead['config']}".strip()
            low, high = lead.get(f"metric:{lead['primary']}:low"), lead.get(f"metric:{lead['primary']}:high")
            shown = f"{lead['score']:.3f}" + ("" if missing(low) or missing(high) else f" [{low:.3f}, {high:.3f}]")
            best = f"{who}: {lead['primary']} {shown} at {format_seconds(lead['budget_s'])}"
        methods = ", ".join(sorted(rows["method"].unique()))
        items.append(
            f'<tr><td><a href="{task}.html">{task}</a></td><td>{html.escape(get_task(task).description)}</td>'
            f"<td>{html.escape(methods)}</td><td class=num>{int(rows['seeds'].sum())}</td>"
            f"<td>{html.escape(best)}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>task</th><th>what</th><th>methods</th><th>finished runs</th>"
        "<th>best at the largest budget</th></tr></thead>"
        f"<tbody>{''.join(items)}</tbody></table>"
    )
    body = "<h1>lampbench leaderboard</h1>\n<p class=muted>Personalization methods on LaMP under equal wall-clock "
    body += f"budgets. One page per task.</p>\n{table}"
    return _page("lampbench leaderboard", tasks, body)

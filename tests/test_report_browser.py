"""Every report.html opens in headless Chromium from disk with the network cut off: no request leaves the
file, the console shows no error (CSP violations included), every plotly chart draws; a screenshot of each
page is kept in test-artifacts/screenshots/.

Runs come from the runner itself: the tiny test notebooks (ok, fails, leaky: one or two plotly charts each,
good and failed runs) and the real reports on the demo profile. The real reports and the index are also read as
people read them: no notebook noise in their visible text (a return value's repr, a path, the staging folder,
literal Markdown, NaN, raw timestamps, Python warnings), and a first screen that fits a 390 px phone without
scrolling sideways; their first screens are kept, desktop and phone. The index is built from several published
runs (the demo's, and earlier ones derived from their summary.json: tests/index_fixtures.py), demo and live runs
mixed, one failed per report: its trend charts must show that run as a gap, never draw a demo and a live run in one
line, read as dates, and fit their cards on a 390 px phone (screenshots at 1400 px and 390 px kept).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from browser import Chromium, Page, find_chromium
from cost_fixtures import cost_sim, kubecost_url  # noqa: F401 - fixtures
from drill_fixtures import drill_folder, drill_sim  # noqa: F401 - fixtures
from index_fixtures import LIVE_ENDPOINTS, publish_history
from report_fixtures import NOTEBOOKS, SENTINELS, find_sentinels, stub_parameters
from sim_metrics_fixtures import MetricsStack, metrics_stack_fixture  # noqa: F401  (fixture)

import goreliable_lib
from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.reports.registry import REPORTS
from goreliable_lib.runner.execute import run_report
from goreliable_lib.runner.index import write_local_index
from goreliable_lib.runner.page import PLOTLY_MARKER
from goreliable_lib.runner.suite import RunRequest, run_many
from goreliable_lib.timeutil import to_rfc3339

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (Debian: apt-get install chromium)"),
]
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: The test notebooks and the plotly figures each displays before it ends (or fails); chart_types.ipynb is
#: written by the test: every trace type goreliable_lib.plots uses, on one page, under the page's CSP.
TEST_NOTEBOOKS = {"ok.ipynb": 1, "fails.ipynb": 1, "leaky.ipynb": 2, "chart_types.ipynb": 4}
CHART_TYPES = """from plotly.subplots import make_subplots

days = pd.date_range("2026-10-24", periods=30, freq="D", tz="UTC")
budget = go.Figure(go.Scatter(x=days, y=[1 - i / 40 for i in range(30)], fill="tozeroy", name="budget left"))
run.show_figure(budget, "budget")
cost = go.Figure([go.Bar(x=["ml-platform", "payments"], y=[412.5, 133.2], name=n) for n in ("cpu", "ram")])
cost.update_layout(barmode="stack")
run.show_figure(cost, "cost")
run.show_figure(go.Figure(go.Heatmap(z=[[1, 20, 30], [20, 1, 60]], x=["q1", "q2", "q3"], y=["pg", "nats"])), "heat")
gauges = make_subplots(rows=1, cols=2, specs=[[{"type": "indicator"}, {"type": "xy"}]])
gauges.add_trace(go.Indicator(mode="gauge+number", value=0.42, title={"text": "budget"}), row=1, col=1)
gauges.add_trace(go.Scatter(x=[1, 2], y=[3, 1], mode="lines+markers"), row=1, col=2)
run.show_figure(gauges, "gauges")
run.write_summary({"slos": []})"""


def chart_types_notebook(folder: Path) -> Path:
    """A notebook drawing every trace type the kit uses, built like the other test notebooks."""
    spec = importlib.util.spec_from_file_location("build_test_notebooks", NOTEBOOKS / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    path = folder / "chart_types.ipynb"
    nbformat.write(build.notebook(build.SETUP, CHART_TYPES), path)
    return path
#: Every chart on the page: is it drawn (plotly's main SVG, traces laid out, a visible size)?
CHARTS_JS = """[...document.querySelectorAll('.js-plotly-plot')].map(gd => {
  const box = gd.getBoundingClientRect();
  return {id: gd.id, svg: gd.querySelectorAll('svg.main-svg').length, traces: (gd.data || []).length,
          drawn: (gd._fullData || []).length, width: box.width, height: box.height};
})"""


#: What must never show in a page people read: a return value's repr or a path (`PosixPath('/.../.tmp-<run>/x.csv')`),
#: the staging folder, Markdown shown literally (`**$2,597.09**`: `$` opened maths), an escape shown literally,
#: pandas' raw values (NaN, NaT, `+00:00` timestamps, `dtype:`), Python warnings and object reprs.
NOISE = ("PosixPath", "WindowsPath", ".tmp-", "**", "\\$", "$-", "NaN", "NaT", "+00:00", "dtype:", "Traceback",
         "UserWarning", "FutureWarning", "DeprecationWarning", "RuntimeWarning", "SettingWithCopy", "<Run ",
         "<figure ", "object at 0x")
NOISE_WORDS = re.compile(r"\b(?:None|nan|True|False)\b")
PHONE = {"width": 390, "height": 844}

#: The summary of a report (the runner's banners at the top, then every output of the code cells up to the first
#: Markdown cell after them: the headline, its status table) and each element in it holding a figure (a digit in
#: its own text, HTML or SVG): is it visible whole? An element fails when its own box overflows
#: (`scrollWidth > clientWidth`), when it sticks out of the screen unless a horizontally scrollable ancestor (a
#: table's wrapper) holds it, or when something else is drawn over its ends (`elementFromPoint`: an SVG clip-path,
#: a box with `overflow: hidden`, a sticky cell); a figure beyond the visible part of its scrollable wrapper is
#: whole (it scrolls into view; the wrappers are checked as the page opens, scrolled to their start).
CLIPPED_FIGURES_JS = r"""(() => {
  const cells = [...document.querySelectorAll('.jp-Cell')];
  let region = [], seenCode = false;
  for (const cell of cells) {
    const code = cell.classList.contains('jp-CodeCell');
    if (!code && seenCode) break;
    seenCode = seenCode || code;
    region.push(cell);
  }
  const holders = [];
  for (const cell of region) {
    for (const el of cell.querySelectorAll('*')) {
      if (['STYLE', 'SCRIPT'].includes(el.tagName)) continue;
      const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
      if (/\d/.test(own) && el.getClientRects().length) holders.push([el, own]);
    }
  }
  const scroller = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && a.scrollWidth > a.clientWidth) return a;
    }
    return null;
  };
  const problems = [];
  for (const [el, own] of holders) {
    const top = el.getBoundingClientRect().top + window.scrollY;  // the page scrolls, never a table's box
    window.scrollTo(0, Math.max(0, top - window.innerHeight / 2));
    const range = document.createRange();
    range.selectNodeContents(el);
    const r = el instanceof SVGElement ? el.getBoundingClientRect() : range.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const say = why => problems.push(`${own.slice(0, 40)}: ${why}`);
    if (!(el instanceof SVGElement) && el.clientWidth && getComputedStyle(el).display !== 'inline'
        && el.scrollWidth > el.clientWidth + 1) {
      say(`overflows its box (${el.scrollWidth} > ${el.clientWidth})`);
      continue;
    }
    const wrap = scroller(el);
    let left = 0, right = window.innerWidth;
    if (wrap) {
      const w = wrap.getBoundingClientRect();
      left = Math.max(left, w.left);
      right = Math.min(right, w.right);
    } else if (r.left < -1 || r.right > window.innerWidth + 1) {
      say(`outside the screen (${Math.round(r.left)}..${Math.round(r.right)} px)`);
      continue;
    }
    const y = r.top + r.height / 2;
    for (const x of [r.left + 2, r.right - 2]) {
      if (x < left || x > right) continue;  // scrolled out of its wrapper: reachable
      const hit = document.elementFromPoint(x, y);
      if (!hit || !(hit === el || el.contains(hit) || hit.contains(el) && !(el instanceof SVGElement))) {
        const what = hit ? hit.tagName.toLowerCase() + '.' + (hit.getAttribute('class') || '') : 'nothing';
        say(`cut at ${Math.round(x)} px (${what} drawn there)`);
        break;
      }
    }
  }
  window.scrollTo(0, 0);
  return problems;
})()"""

DESKTOP = {"width": 1280, "height": 900}
INDEX_DESKTOP = {"width": 1400, "height": 900}


def noise(text: str) -> list[str]:
    """The notebook noise in a page's visible text, each with its context."""
    found = [f"{word!r} in ...{text[max(0, i - 60):i + 40]!r}..." for word in NOISE
             if (i := text.find(word)) >= 0]
    return found + [f"{m.group()!r} in ...{text[max(0, m.start() - 60):m.end() + 40]!r}..."
                    for m in NOISE_WORDS.finditer(text)]


def read_as_people(browser: Chromium, html: Path, label: str) -> list[str]:
    """The page's visible text scanned for noise, at desktop size and on a 390 px phone (nothing wider than the
    screen: tables scroll in their box); both first screens kept as screenshots."""
    problems = []
    for device, size in (("desktop", DESKTOP), ("phone", PHONE)):
        with browser.new_page(**size, mobile=device == "phone") as page:
            page.open_offline(html.resolve().as_uri())
            page.wait_until("[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector("
                            "'svg.main-svg'))", timeout=30)
            page.session.drain(0.5)
            problems += [f"{device}: {n}" for n in noise(page.evaluate("document.body.innerText"))]
            wide = page.evaluate("document.documentElement.scrollWidth")
            if device == "phone" and wide > PHONE["width"]:
                problems.append(f"phone: the page is {wide} px wide on a {PHONE['width']} px screen")
            page.screenshot(SCREENSHOTS / f"{label}-first-screen-{device}.png", first_screen=True)
    return problems


def expected_figures(run_dir: Path) -> int:
    """The plotly figures the executed notebook displayed (one chart each on the page)."""
    nb = nbformat.read(run_dir / "report.ipynb", as_version=4)
    return sum(PLOTLY_MIME in output.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))


def without_plotly_js(html: str) -> str:
    """The page with its embedded plotly.js bundle (the script after the PlotlyConfig one) cut out."""
    config_end = html.index("</script>", html.index(PLOTLY_MARKER)) + len("</script>")
    bundle = html.index("<script", config_end)
    end = html.index("</script>", bundle) + len("</script>")
    return html[:bundle] + html[end:]


def page_problems(page: Page, html: Path, figures: int, timeout: float = 30) -> list[str]:
    """Open `html` offline in `page`; what is wrong: requests leaving the file, console errors, charts not
    drawn, a chart count different from `figures`."""
    url = html.resolve().as_uri()
    page.open_offline(url)
    problems: list[str] = []
    ready = (f"document.querySelectorAll('.js-plotly-plot').length >= {figures} && "
             "[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector('svg.main-svg'))")
    try:
        page.wait_until(ready, timeout=timeout)
    except Exception as exc:  # CDPError: keep going, the details below say what is missing
        problems.append(f"charts not ready: {exc}")
    page.session.drain(0.5)  # late errors and requests
    problems += [f"request left the file: {u}" for u in page.requests
                 if u != url and not u.startswith(("data:", "blob:", "about:"))]
    problems += page.console_errors
    charts: list[dict[str, Any]] = page.evaluate(CHARTS_JS)
    if len(charts) != figures:
        problems.append(f"{len(charts)} plotly charts on the page, {figures} figures in the notebook")
    for chart in charts:
        if not (chart["svg"] and chart["traces"] and chart["drawn"] == chart["traces"]
                and chart["width"] > 100 and chart["height"] > 100):
            problems.append(f"chart not drawn: {chart}")
    return problems


def check_report(browser: Chromium, run_dir: Path, label: str, figures: int) -> None:
    """The browser checks on one run's report.html, and its screenshot."""
    html = run_dir / "report.html"
    assert html.is_file(), f"{run_dir}: no report.html"
    with browser.new_page() as page:
        problems = page_problems(page, html, figures)
        page.screenshot(SCREENSHOTS / f"{label}.png")
    assert problems == [], f"{html}:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Chromium(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def test_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test notebooks run in parallel by the runner (sentinel secrets set, for leaky.ipynb)."""
    out = tmp_path_factory.mktemp("reports")
    notebooks = {name: NOTEBOOKS / name for name in TEST_NOTEBOOKS}
    notebooks["chart_types.ipynb"] = chart_types_notebook(tmp_path_factory.mktemp("notebooks"))
    requests = [RunRequest("slo", stub_parameters(), notebook=str(path)) for path in notebooks.values()]
    with pytest.MonkeyPatch.context() as patch:
        for key, value in SENTINELS.items():
            patch.setenv(key, value)
        results = run_many(requests, str(out), timeout=300)
    runs = {}
    for name, outcome in zip(TEST_NOTEBOOKS, results, strict=True):
        assert outcome.location, f"{name}: not run ({outcome.exit_code}: {outcome.error})"
        should_pass = name in ("ok.ipynb", "chart_types.ipynb")
        assert (outcome.exit_code == 0) == should_pass, f"{name}: exit {outcome.exit_code} ({outcome.error})"
        runs[name] = Path(outcome.location)
    return runs


@pytest.fixture(scope="module")
def demo_runs(demo_suite: dict[str, Any]) -> dict[str, Path]:
    """The real reports on the demo profile, run once per session (tests/conftest.py `demo_suite`)."""
    return demo_suite["runs"]


@pytest.mark.parametrize("notebook", list(TEST_NOTEBOOKS))
def test_test_report_opens_offline_and_draws(browser: Chromium, test_runs: dict[str, Path],
                                             notebook: str) -> None:
    run_dir = test_runs[notebook]
    figures = expected_figures(run_dir)
    assert figures == TEST_NOTEBOOKS[notebook]
    check_report(browser, run_dir, f"test-{Path(notebook).stem}", figures)


@pytest.mark.parametrize("report", list(REPORTS))
def test_demo_report_opens_offline_and_draws(browser: Chromium, demo_runs: dict[str, Path], report: str) -> None:
    assert report in demo_runs, f"{report}: the runner published no run"
    run_dir = demo_runs[report]
    summary = json.loads((run_dir / "summary.json").read_text())
    figures = expected_figures(run_dir)
    assert figures > 0 or summary["status"] != "ok", f"{report}: a good report without a single chart"
    check_report(browser, run_dir, f"demo-{report}", figures)


@pytest.mark.parametrize("report", list(REPORTS))
def test_demo_report_reads_without_notebook_noise_on_desktop_and_phone(browser: Chromium,
                                                                      demo_runs: dict[str, Path],
                                                                      report: str) -> None:
    problems = read_as_people(browser, demo_runs[report] / "report.html", f"demo-{report}")
    assert problems == [], f"{report}:\n" + "\n".join(problems)


def clipped_figures(browser: Chromium, html: Path, label: str | None = None) -> list[str]:
    """The figures of the summary that a 390 px phone does not show whole (CLIPPED_FIGURES_JS); with `label`, the
    summary's screen is kept as a screenshot."""
    with browser.new_page(**PHONE, mobile=True) as page:
        page.open_offline(html.resolve().as_uri())
        page.wait_until("[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector("
                        "'svg.main-svg'))", timeout=30)
        page.session.drain(0.5)
        found: list[str] = page.evaluate(CLIPPED_FIGURES_JS)
        if label:
            page.screenshot(SCREENSHOTS / f"{label}-summary-phone.png", max_height=2 * PHONE["height"])
    return found


@pytest.mark.parametrize("report", list(REPORTS))
def test_demo_report_summary_figures_are_whole_on_a_phone(browser: Chromium, demo_runs: dict[str, Path],
                                                          report: str) -> None:
    """Every number of the summary (the headline and its table) reads whole at 390 px: a table scrolls in its box
    with its first column in view, nothing is cut by a box, a clip-path or the screen's edge."""
    problems = clipped_figures(browser, demo_runs[report] / "report.html", f"demo-{report}")
    assert problems == [], f"{report}:\n" + "\n".join(problems)


def test_the_phone_check_catches_the_clipped_plotly_table(browser: Chromium, demo_suite: dict[str, Any],
                                                          tmp_path: Path) -> None:
    """The SLO status table as the pages showed it before (a plotly table figure: on a phone `99.932%` read `32%`
    and 2 of 6 rows showed) fails the check above; the same rows as an HTML table pass it."""
    from goreliable_lib.plots import slo as slo_plots
    from goreliable_lib.plots.table import table_html
    from goreliable_lib.runner.html import notebook_to_html
    from goreliable_lib.runner.page import figure_div

    entries = demo_suite["summaries"]["slo"]["slos"]
    pages = {"plotly": figure_div(slo_plots.summary_table(entries)),
             "html": table_html(slo_plots.status_frame(entries), slo_plots.STATUS_COLUMNS)}
    found = {}
    for name, fragment in pages.items():
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("display_data", {"text/html": fragment, "text/plain": "table"})]
        nb.cells = [nbformat.v4.new_markdown_cell("# SLO report"), cell, nbformat.v4.new_markdown_cell("## More")]
        path = tmp_path / f"{name}.html"
        path.write_text(notebook_to_html(nb, "SLO report"), encoding="utf-8")
        found[name] = clipped_figures(browser, path)
    assert len(found["plotly"]) >= 6 and any("99.932%" in p for p in found["plotly"]), found["plotly"]
    assert found["html"] == [], found["html"]


#: What a page says about itself, read in the browser: its visible text, the first screen's, the provenance footer,
#: the anomaly table's rows, the charts' titles and every log axis's tick labels.
PAGE_FACTS_JS = """(() => {
  const text = document.body.innerText;
  const first = [...document.querySelectorAll('.jp-Cell')].filter(c => c.getBoundingClientRect().top
                                                                    < window.innerHeight).map(c => c.innerText);
  const footer = document.querySelector('.gr-provenance');
  const charts = [...document.querySelectorAll('.js-plotly-plot')];
  const logTicks = charts.flatMap(gd => Object.keys(gd.layout).filter(k => k.startsWith('yaxis')
    && gd.layout[k].type === 'log').map(k => (gd._fullLayout[k]._vals || []).map(v => v.text)));
  const rows = [...document.querySelectorAll('table')].filter(t => (t.tHead || t).innerText.includes('Usual (same'))
    .flatMap(t => [...t.tBodies[0].rows].map(r => r.innerText));
  const items = [...document.querySelectorAll('.jp-RenderedMarkdown li')].map(li => li.innerText);
  return {text, first: first.join('\\n'), footer: footer ? footer.innerText : null,
          footers: document.querySelectorAll('.gr-provenance').length,
          titles: charts.map(gd => (gd.layout.title || {}).text || ''), logTicks, anomalyRows: rows, items};
})()"""


def page_facts(browser: Chromium, html: Path) -> dict[str, Any]:
    with browser.new_page(**DESKTOP) as page:
        page.open_offline(html.resolve().as_uri())
        page.wait_until("[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector("
                        "'svg.main-svg'))", timeout=30)
        return page.evaluate(PAGE_FACTS_JS)


@pytest.mark.parametrize("report", list(REPORTS))
def test_demo_report_says_where_its_data_comes_from_and_each_warning_once(browser: Chromium,
                                                                          demo_suite: dict[str, Any],
                                                                          report: str) -> None:
    """The first screen says the data is the demo's (never read as production); the footer gives the source, its
    endpoints, the window, when, the parameters, the kit's version and the run id, and no secret; each warning is
    shown once (it was shown twice: the runner's list at the top, then again under the headline)."""
    run_dir = demo_suite["runs"][report]
    summary = json.loads((run_dir / "summary.json").read_text())
    facts = page_facts(browser, run_dir / "report.html")
    assert facts["first"].count("demo data: simulated platform, recorded 2026-11-23 06:00 UTC; not production") == 1
    assert facts["footers"] == 1 and facts["footer"] is not None
    footer = facts["footer"]
    for expected in (summary["run_id"], f"goreliable_lib {goreliable_lib.__version__}", "Generated at",
                     *summary["parameters"], *summary["source"]["endpoints"].values()):
        assert str(expected) in footer, (expected, footer)
    assert find_sentinels((run_dir / "report.html").read_bytes()) == []
    for warning in summary["warnings"]:
        assert facts["text"].count(warning) == 1, (warning, facts["text"].count(warning))


def test_failed_run_page_says_the_error_first_and_where_it_ran(browser: Chromium, test_runs: dict[str, Path]) -> None:
    """A failed run's page is more than a traceback: the error line first, the provenance footer last."""
    run_dir = test_runs["fails.ipynb"]
    summary = json.loads((run_dir / "summary.json").read_text())
    facts = page_facts(browser, run_dir / "report.html")
    assert facts["text"].lstrip().startswith("This report FAILED"), facts["text"][:200]
    assert facts["footer"] is not None and summary["run_id"] in facts["footer"] and "(failed)" in facts["footer"]
    assert facts["text"].rstrip().endswith(facts["footer"].rstrip().splitlines()[-1])


def test_cost_page_lists_each_anomaly_once_and_counts_in_words(browser: Chromium,
                                                               demo_suite: dict[str, Any]) -> None:
    """A team that is one namespace was listed (and charted) twice, as the namespace and as the team; the page
    said `1 budgets over`; `+ run rate` at a line start of "How to read" became a bullet cutting a formula."""
    facts = page_facts(browser, demo_suite["runs"]["cost"] / "report.html")
    rows = facts["anomalyRows"]
    # the crash loop's two days, once per scope: the namespace go-reliable-production and the team app-platform
    # (no longer one scope: the namespace also runs ml-platform's two gateways, as the seed labels them)
    assert rows and len(rows) == len(set(rows)) == 4, rows
    assert sorted(r.split("\t")[:2] for r in rows) == [
        ["namespace go-reliable-production", "2026-11-04"], ["namespace go-reliable-production", "2026-11-05"],
        ["team app-platform", "2026-11-04"], ["team app-platform", "2026-11-05"]]
    assert sorted(t for t in facts["titles"] if t.startswith("Daily cost of ")) == [
        "Daily cost of namespace go-reliable-production", "Daily cost of team app-platform"]
    assert "Anomalies (2 days, 2 scopes)" in facts["text"]
    assert "Budgets: 1 over and 1 at risk of 5 budgets" in facts["text"]
    assert not re.search(r"\b1 budgets\b|\b1 days\b", facts["text"])
    projected = [i for i in facts["items"] if "Projected month" in i]
    assert len(projected) == 1 and "month-to-date actual plus run rate x the hours left" in projected[0], projected


@pytest.mark.parametrize("report", ["slo", "postmortem"])
def test_burn_rate_log_axes_label_their_ticks_as_written(browser: Chromium, demo_suite: dict[str, Any],
                                                          report: str) -> None:
    """A log axis labels 0.5 as `0.5x` (plotly's own minor ticks read `5`)."""
    facts = page_facts(browser, demo_suite["runs"][report] / "report.html")
    assert facts["logTicks"], "no log axis"
    for ticks in facts["logTicks"]:
        assert ticks and all(re.fullmatch(r"\d+(\.\d+)?x", t) for t in ticks), ticks


def test_dr_matrix_shows_rto_and_rpo_in_every_cell(browser: Chromium, demo_suite: dict[str, Any]) -> None:
    """The cell of a component whose RPO failed said only its RTO."""
    facts = page_facts(browser, demo_suite["runs"]["dr"] / "report.html")
    assert re.search(r"failed\s+RTO 6 min 45 s ok\s+RPO 6 min 52 s over", facts["text"]), "postgresql 2026-Q3"
    assert re.search(r"failed\s+RTO 5 min 18 s over\s+RPO 0 s ok", facts["text"]), "model-artifacts 2026-Q2"


@pytest.fixture(scope="module")
def dr_with_costs(kubecost_url: str, drill_folder: Path, drill_sim: DrillSimulation,  # noqa: F811
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DR report with its drills' costs (profile live: the simulated logs in a folder, the Kubecost server)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("GORELIABLE_PROMETHEUS_URL", "GORELIABLE_RECORD", "GORELIABLE_ARCHIVE_URI"):
            patch.delenv(name, raising=False)
        for name, value in {"GORELIABLE_PROFILE": "live", "GORELIABLE_CONFIG": "/dev/null",
                            "GORELIABLE_NOW": to_rfc3339(drill_sim.as_of), "GORELIABLE_KUBECOST_URL": kubecost_url,
                            "GORELIABLE_DRILLS_URI": str(drill_folder)}.items():
            patch.setenv(name, value)
        result = run_report("dr", {}, out=tmp_path_factory.mktemp("dr-costs"), progress=False)
    assert result.exit_code == 0, result.error
    return Path(result.location)


@pytest.mark.stack
def test_dr_costs_read_on_desktop_and_phone(browser: Chromium, dr_with_costs: Path) -> None:
    """The DR page with drill costs at 1400 px and 390 px: no noise, nothing wider than a phone, the cost chart
    drawn with its bars and `unknown` markers; the first screen and the cost section kept as screenshots."""
    html = dr_with_costs / "report.html"
    check_report(browser, dr_with_costs, "dr-costs", expected_figures(dr_with_costs))
    for device, size in (("desktop", INDEX_DESKTOP), ("phone", PHONE)):
        with browser.new_page(**size, mobile=device == "phone") as page:
            page.open_offline(html.resolve().as_uri())
            page.wait_until("[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector("
                            "'svg.main-svg'))", timeout=30)
            text = page.evaluate("document.body.innerText")
            assert noise(text) == [], device
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], device
            assert "Drill cost" in text and "known for 3 of 8 drills" in text
            page.screenshot(SCREENSHOTS / f"dr-costs-first-screen-{device}.png", first_screen=True)
            top = page.evaluate("(() => { const h = [...document.querySelectorAll('h2')].find(e => "
                                "e.textContent.startsWith('What each drill cost')); return h.getBoundingClientRect()"
                                ".top + window.scrollY; })()")
            chart = page.evaluate("(() => { const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => "
                                  "(g.data || []).some(t => t.name.startsWith('cost unknown'))); return gd ? "
                                  "[gd.data.map(t => t.x.length), gd.getBoundingClientRect().width] : null; })()")
            assert chart == [[3, 5], chart[1]] and chart[1] <= size["width"], chart  # 3 bars, 5 unknown
            shot = page.session.send("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": top, "width": size["width"], "height": 1.4 * size["height"], "scale": 1}},
                timeout=60)["data"]
            (SCREENSHOTS / f"dr-costs-section-{device}.png").write_bytes(base64.b64decode(shot))


def test_the_noise_scan_finds_what_the_pages_showed() -> None:
    """The scan fails on the text the reports showed before (so the test above can fail)."""
    shown = ("PosixPath('/home/sre/goreliable/reports/cost/.tmp-20261123T060000Z-7c1e/daily_by_team.csv')\n"
             "**$2,597.09** spent ... Cost impact: **$0.27** against a usual $0.27 ($-0.00, -0.9%)\n"
             "0  2026-11-11 14:24:00+00:00  NaN  False  0.0")
    found = " ".join(noise(shown))
    for word in ("PosixPath", ".tmp-", "**", "$-", "+00:00", "NaN", "False"):
        assert repr(word) in found, word
    assert noise("Error budget left 32.0%; first alert 2026-11-11 14:24 UTC; — in RPO: unknown; no; none") == []


#: The runs of each report a live profile published (steps back from the demo's run); the rest are demo runs.
LIVE_STEPS = (1, 2, 3)
LIVE_LABELS = {"slo": f"live: {LIVE_ENDPOINTS['prometheus']}", "cost": f"live: {LIVE_ENDPOINTS['kubecost']}",
               "dr": f"live: {LIVE_ENDPOINTS['drills']}"}


@pytest.fixture(scope="module")
def index_with_history(demo_suite: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An index over four runs of slo (weekly), cost (monthly) and dr (quarterly), demo and live mixed (the newest
    the demo's, the three before a live profile's), one live run failed each, plus the postmortem: the demo's real
    runs (their folders copied) and earlier runs derived from their summary.json."""
    root = tmp_path_factory.mktemp("published")
    for report, run_dir in demo_suite["runs"].items():
        shutil.copytree(run_dir, root / report / run_dir.name)
    summaries = {r: demo_suite["summaries"][r] for r in ("slo", "cost", "dr")}
    history = publish_history(root, summaries, runs=4, failed={"slo": 2, "cost": 1, "dr": 2}, live=LIVE_STEPS)
    return {"index": write_local_index(root), "history": history}


#: Per trend chart: its title and x axis, the failed runs' marks, and every trace's source, x and y.
TRENDS_JS = """[...document.querySelectorAll('.trend .js-plotly-plot')].map(gd => ({
  title: gd.layout.title.text, subtitle: gd.layout.title.subtitle.text, axis: gd._fullLayout.xaxis.type,
  ticks: [...gd.querySelectorAll('.xtick text')].map(t => t.textContent),
  failed: gd.layout.shapes.filter(s => s.line.dash === 'dot').map(s => s.x0),
  traces: gd.data.map(t => ({name: t.name, source: t.legendgroup, x: t.x, y: t.y}))}))"""
#: Per card (report cards, trend cards): does its content fit its width; per chart: SVG text outside the chart.
FIT_JS = """({cards: [...document.querySelectorAll('.card, .trend')].map(c => ({
    text: c.innerText.slice(0, 40), scroll: c.scrollWidth, client: c.clientWidth})),
  clipped: [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd => {
    const box = gd.getBoundingClientRect();
    return [...gd.querySelectorAll('text')].filter(t => {const r = t.getBoundingClientRect();
      return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1);}).map(t => t.textContent);}),
  page: document.documentElement.scrollWidth})"""


def source_of(summary: dict[str, Any]) -> str:
    """How the index names a run's source (the report's endpoint for a live run)."""
    return LIVE_LABELS[summary["report"]] if summary["source"]["kind"] == "live" else "demo data"


def test_index_shows_each_reports_headline_and_trends_with_failed_runs_as_gaps(
        browser: Chromium, index_with_history: dict[str, Any]) -> None:
    index: Path = index_with_history["index"]
    with browser.new_page(**INDEX_DESKTOP) as page:
        problems = page_problems(page, index, 4)
        trends = page.evaluate(TRENDS_JS)
        headlines = page.evaluate("[...document.querySelectorAll('.card .headline')].map(p => p.innerText)")
        sources = page.evaluate("[...document.querySelectorAll('.runs td.source')].map(td => td.innerText)")
        page.screenshot(SCREENSHOTS / "index-with-history.png")
    assert problems == [], "\n".join(problems)
    assert [t["title"] for t in trends] == ["Error budget left per SLO", "Cost per team (each run's window)",
                                           "Cost per million good requests",
                                           "Latest drill against its target"]
    assert headlines == [REPORTS[r].index_headline(index_with_history["history"][r][-1])
                         for r in ("slo", "cost", "dr")] + [REPORTS["postmortem"].index_headline(
                             json.loads(next(index.parent.glob("postmortem/2*/summary.json")).read_text()))] + [
                             REPORTS["slo-review"].index_headline(json.loads(
                                 next(index.parent.glob("slo-review/2*/summary.json")).read_text()))]
    assert sorted(sources) == sorted(["demo data"] * 5 + [f"live:\n{LIVE_ENDPOINTS[k]}" for k in (
        "prometheus", "kubecost", "drills") for _ in LIVE_STEPS])
    for trend, report in zip(trends, ("slo", "cost", "cost", "dr"), strict=True):
        history = index_with_history["history"][report]
        failed = [pd.Timestamp(s["window"]["end"]) for s in history if s["status"] == "failed"]
        assert len(failed) == 1 and [pd.Timestamp(x, tz="UTC") for x in trend["failed"]] == failed, report
        assert trend["axis"] == "date" and trend["ticks"], report
        assert all(re.fullmatch(r"[A-Z][a-z]{2}( \d{1,2})?\d{4}", tick) for tick in trend["ticks"]), trend["ticks"]
        assert {t["source"] for t in trend["traces"]} == {"demo data", LIVE_LABELS[report]}, report
        for trace in trend["traces"]:
            ends = [pd.Timestamp(x, tz="UTC") for x in trace["x"]]
            own = [s for s in history if source_of(s) == trace["source"]]  # that source's runs, no other's
            assert ends == [pd.Timestamp(s["window"]["end"]) for s in own], (report, trace["name"])
            if trace["source"] == LIVE_LABELS[report]:  # the failed run was a live one: a gap in the live lines
                at_failure = trace["y"][ends.index(failed[0])]
                assert at_failure is None, f"{report} {trace['name']}: the failed run shows {at_failure}, not a gap"
                assert sum(y is not None for y in trace["y"]) == 2, (report, trace["name"])
            else:
                assert len(ends) == 1 and trace["y"][0] is not None, (report, trace["name"])
    slo_trend = {t["name"]: t["y"] for t in trends[0]["traces"] if t["source"] == "demo data"}
    newest = {f"{s['name']} (30d)": s["error_budget_remaining"]
              for s in index_with_history["history"]["slo"][-1]["slos"]}
    assert {name: ys[-1] for name, ys in slo_trend.items()} == newest  # the real run's figures, unchanged
    problems = read_as_people(browser, index, "index")
    assert problems == [], "\n".join(problems)


def test_index_fits_a_phone_and_keeps_its_screenshots(browser: Chromium, index_with_history: dict[str, Any]) -> None:
    """At 1400 px and on a 390 px phone no card (report card, trend card) is wider than its box and no chart's text
    (titles, ticks, legend) runs past its chart; the whole page kept at both sizes."""
    index: Path = index_with_history["index"]
    problems = []
    for device, size in (("desktop-1400", INDEX_DESKTOP), ("phone-390", PHONE)):
        with browser.new_page(**size, mobile=device.startswith("phone")) as page:
            page.open_offline(index.resolve().as_uri())
            page.wait_until("[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector("
                            "'svg.main-svg'))", timeout=30)
            page.session.drain(0.5)
            fit = page.evaluate(FIT_JS)
            page.screenshot(SCREENSHOTS / f"index-with-history-{device}.png")
        assert len(fit["cards"]) == 9, device  # five report cards (the SLO review's too), four trend cards
        problems += [f"{device}: card {c['text']!r} is {c['scroll']} px wide in {c['client']} px"
                     for c in fit["cards"] if c["scroll"] > c["client"]]
        problems += [f"{device}: chart text runs past its chart: {text!r}" for text in fit["clipped"]]
        if fit["page"] > size["width"]:
            problems.append(f"{device}: the page is {fit['page']} px wide")
    assert problems == [], "\n".join(problems)


def test_the_checks_catch_broken_pages(browser: Chromium, test_runs: dict[str, Path], tmp_path: Path) -> None:
    """The same checks fail on pages that fetch from outside, break the CSP or lose plotly.js."""
    html = (test_runs["ok.ipynb"] / "report.html").read_text(encoding="utf-8")
    external = '<img src="https://cdn.example.com/pixel.png"><script>fetch("https://example.com/x")</script>'
    cases = {
        # blocked by the CSP: the violation is a console error
        "with_csp.html": (html.replace("</body>", external + "</body>"), "violates the following Content Security"),
        # without the CSP the request is sent (and fails: offline)
        "without_csp.html": (re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
                             .replace("</body>", external + "</body>"), "request left the file: https://"),
        # plotly.js missing: nothing draws
        "no_plotly.html": (without_plotly_js(html), "plotly charts on the page"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with browser.new_page() as page:
            problems = page_problems(page, path, 1, timeout=3)
        assert any(expected in p for p in problems), f"{name}: {problems}"


#: Where the review's sentence on the Prometheus view is on the page: its element's top and the screen's height.
VIEW_SENTENCE_JS = """(() => {
  const el = [...document.querySelectorAll('p')].find(p => p.innerText.startsWith("Prometheus' view"));
  return el ? {top: el.getBoundingClientRect().top, bottom: el.getBoundingClientRect().bottom,
               screen: window.innerHeight, text: el.innerText} : null;
})()"""


@pytest.mark.stack
def test_the_review_shows_the_prometheus_view_on_desktop_and_phone(browser: Chromium, metrics_stack: MetricsStack,
                                                                   tmp_path: Path) -> None:
    """`slo-review` on the local stack's Prometheus (a live profile, the simulator's last 30 days, every SLO): its
    first screen says how Prometheus' own evaluation of the rules compares with the exact backtest, whole, at
    1400 px and on a 390 px phone, without notebook noise; both first screens kept as screenshots."""
    end = metrics_stack.simulation.as_of
    env = {key: value for key, value in os.environ.items() if not key.startswith("GORELIABLE_")}
    env.update({"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": metrics_stack.url,
                "GORELIABLE_CONFIG": os.devnull, "GORELIABLE_NOW": end.isoformat(),
                "GORELIABLE_ARCHIVE_URI": str(tmp_path / "archive")})
    command = [sys.executable, "-m", "goreliable_lib", "report", "run", "slo-review", "-p", "period=30d",
               "-p", f"end={end.isoformat()}", "--out", str(tmp_path / "reports")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    compared = sum(row["minutes_compared"] for row in summary["prometheus_view"])
    assert compared == 6 * 2 * 30 * 1440  # six SLOs, the default rules' two severities, the 30 days the server holds
    for device, size in (("desktop", INDEX_DESKTOP), ("phone", PHONE)):
        with browser.new_page(**size, mobile=device == "phone") as page:
            page.open_offline((run_dir / "report.html").resolve().as_uri())
            page.wait_until("[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector("
                            "'svg.main-svg'))", timeout=30)
            page.session.drain(0.5)
            assert noise(page.evaluate("document.body.innerText")) == [], device
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], device
            sentence = page.evaluate(VIEW_SENTENCE_JS)
            assert sentence is not None, device
            assert f"agree with the exact backtest on {compared:,} of {compared:,} minutes" in sentence["text"]
            assert sentence["bottom"] <= sentence["screen"], (device, sentence)  # on the first screen, whole
            page.screenshot(SCREENSHOTS / f"live-slo-review-first-screen-{device}.png", first_screen=True)

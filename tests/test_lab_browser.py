"""The lab as a newcomer meets it: `goreliable lab` (the kit's own command line, run for real, as `make lab` runs it)
serves a copy of the project's notebooks/ on 127.0.0.1, pointed at a real local stack (reused, as after a first
`make lab`); a new notebook holds the README's first ad-hoc query (`%load_ext goreliable_lib` and its `%promql`), the
same query without its label filter, and a broken query. JupyterLab opens it in headless Chromium, and it is run as a
user runs it, with the mouse: the first start's news toast answered No, Run > Run All Cells, File > Save Notebook.
Then it is read: the two queries show a chart and a DataFrame, the broken one a single `%promql: ...` line and no
traceback; the saved file holds the same outputs. Screenshots at 1400 px are kept in test-artifacts/screenshots/
(lab-first-query.png, lab-broken-query.png)"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import pytest
from browser import Chromium, Page, find_chromium

from goreliable_lib.cli.lab import jupyter_command, lab_environment
from goreliable_lib.devstack.stack.manager import state_file
from goreliable_lib.devstack.stack.process import free_port

pytestmark = [
    pytest.mark.stack,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (Debian: apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                       reason="JupyterLab is not installed (pip install 'goreliable-notebooks[lab]')"),
]
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTH, HEIGHT = 1400, 900
NOTEBOOK = "first-query.ipynb"
#: The README's first ad-hoc query (its code block, first two lines), the same without its label filter, a typo
README_FIRST = ('%load_ext goreliable_lib\n%promql --range 6h --step 1m --plot sum by (code) '
                '(rate(http_requests_total{service="api-gateway"}[5m]))')
UNFILTERED = "%promql --range 6h --step 1m --plot sum by (code) (rate(http_requests_total[5m]))"
BROKEN = "%promql sum(rate(http_requests_total[5m]"
#: The notebook panel JupyterLab shows, with its kernel's status (null until the page has one)
PANEL_JS = """(() => {
  const app = window.jupyterapp, panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content || !panel.content.widgets) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {path: panel.context.path, cells: panel.content.widgets.length, kernel: kernel ? kernel.status : null};
})()"""
#: The notebook's execution counts once every cell ran and the kernel is idle again (null before)
RAN_JS = """(() => {
  const panel = window.jupyterapp.shell.currentWidget, kernel = panel.sessionContext.session.kernel;
  const counts = panel.content.widgets.map(cell => cell.model.executionCount);
  return kernel.status === 'idle' && counts.every(count => count) && !panel.model.dirty && counts;
})()"""
#: What each code cell shows: its output elements' text and mime types, its tables' rows, its drawn charts
CELLS_JS = """[...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(cell => ({
  text: cell.querySelector('.jp-OutputArea') ? cell.querySelector('.jp-OutputArea').innerText : '',
  outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
    mime: o.dataset.mimeType || '', text: o.innerText})),
  rows: [...cell.querySelectorAll('.jp-OutputArea-output table tbody tr')].length,
  headers: [...cell.querySelectorAll('.jp-OutputArea-output table thead th')].map(th => th.innerText.trim()),
  charts: [...cell.querySelectorAll('.js-plotly-plot')].filter(gd => (gd._fullData || []).length
    && gd.querySelector('svg.main-svg') && gd.getBoundingClientRect().height > 100).length,
}))"""


@dataclass
class Lab:
    """A running `goreliable lab`: its URL, token, the folder it serves and its log."""

    url: str
    token: str
    notebooks: Path
    log: Path

    def get(self, path: str) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - 127.0.0.1
            return json.loads(answer.read())


def lab_log(lab: Lab) -> str:
    return lab.log.read_text(errors="replace")[-4000:] if lab.log.exists() else ""


def stop(process: subprocess.Popen[bytes], lab: Lab) -> None:
    """Stop JupyterLab as Ctrl-C would leave nothing: its shutdown API (kernels first), then SIGTERM, then SIGKILL
    for whatever is left of its process group (it runs in its own session, kernels included)."""
    with contextlib.suppress(OSError):
        request = urllib.request.Request(f"{lab.url}/api/shutdown", method="POST", data=b"",
                                         headers={"Authorization": f"token {lab.token}"})
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - 127.0.0.1
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a kernel left behind (the group is the lab's own)


@pytest.fixture()
def lab(local_stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:  # noqa: ANN001
    """`goreliable lab --port N -- --ServerApp.token=T ...` run from a copy of the project (notebooks/, params/), the
    local stack already up (its state file in the lab's stack folder, so the lab reuses it, as after `make lab`);
    Jupyter's own folders (config, data, runtime, settings, workspaces, IPython) are fresh, as on a first start."""
    project = tmp_path / "project"
    for folder in ("notebooks", "params"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()
    state_file(stack_dir).write_text(json.dumps(asdict(local_stack)))
    home = tmp_path / "jupyter"
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("GORELIABLE_", "JUPYTER", "IPYTHONDIR", "DISPLAY", "WAYLAND_DISPLAY"))}
    environment.update(GORELIABLE_STACK_DIR=str(stack_dir), GORELIABLE_CONFIG=os.devnull,
                       GORELIABLE_PROJECT_ROOT=str(project),
                       JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                       JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
                       JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                       JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    port, token = free_port(), "goreliable-lab-browser-test"
    extra = [f"--ServerApp.token={token}", "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp, for the test
    log = tmp_path / "lab.log"
    served = Lab(f"http://127.0.0.1:{port}", token, project / "notebooks", log)
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "goreliable_lib", "lab", "--port", str(port), "--", *extra],
                                   cwd=project, env=environment, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        # the kit's command line became JupyterLab itself (execve): the command and environment `lab` computes
        monkeypatch.setenv("GORELIABLE_STACK_DIR", str(stack_dir))
        expected = lab_environment("stack", environ=environment)
        assert expected == local_stack.env()  # the stack reused, its environment as `stack up` prints it
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"goreliable lab exited ({process.returncode}):\n{lab_log(served)}"
            with contextlib.suppress(OSError, ValueError):
                if served.get("/api/status"):
                    break
            assert time.monotonic() < deadline, f"JupyterLab did not answer within 60 s:\n{lab_log(served)}"
            time.sleep(0.2)
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")[:-1]
        assert [part.decode() for part in command] == jupyter_command(served.notebooks, port=port, browser=False,
                                                                      extra=extra)
        assert b"--no-browser" in command  # no display
        assert (b"--allow-root" in command) == (os.geteuid() == 0)
        running = dict(line.split(b"=", 1) for line in
                       Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0") if b"=" in line)
        assert {name: running.get(name.encode(), b"").decode() for name in expected} == expected
        yield served
    finally:
        stop(process, served)


def open_notebook(page: Page, lab: Lab, name: str) -> dict:
    """Open `name` in JupyterLab (the tree URL with the token, as the lab prints it) and wait for its kernel."""
    page.session.send("Page.navigate", {"url": f"{lab.url}/lab/tree/{name}?token={lab.token}"})
    page.session.wait_for("Page.loadEventFired", timeout=60)
    return page.wait_until(f"(() => {{ const p = {PANEL_JS}; return p && p.path === {json.dumps(name)} "
                           "&& p.kernel === 'idle' && p; })()", timeout=60)


def click(page: Page, selector: str, text: str | None = None) -> None:
    """A real left click (mouse pressed and released) in the middle of the first visible element matching
    `selector` (and holding `text`), as a user clicks."""
    box = page.wait_until(f"""(() => {{
      const el = [...document.querySelectorAll({json.dumps(selector)})].find(e => e.getClientRects().length
        && ({json.dumps(text)} === null || e.innerText.trim() === {json.dumps(text)}));
      if (!el) return null;
      const r = el.getBoundingClientRect();
      return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
    }})()""", timeout=10)
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        page.session.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                       "button": "left", "clickCount": 1})


def menu(page: Page, name: str, entry: str) -> None:
    """Choose a menu bar item (`Run`), then its entry (`Run All Cells`), with the mouse."""
    click(page, ".lm-MenuBar-item", name)
    click(page, ".lm-Menu .lm-Menu-itemLabel", entry)


def scroll_to_cell(page: Page, index: int, align: str = "start") -> None:
    """Scroll the notebook so cell `index` is at the top (`start`) or the bottom (`end`) of its panel; let it paint."""
    page.evaluate(f"""(async () => {{
      const notebook = window.jupyterapp.shell.currentWidget.content;
      await notebook.scrollToItem({index}, {json.dumps(align)});
      notebook.widgets[{index}].node.scrollIntoView({{block: {json.dumps(align)}}});
      return true;
    }})()""")
    page.session.drain(0.5)


def test_the_readme_first_query_runs_in_the_lab_and_a_typo_is_one_line(lab: Lab, tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)
                                               for source in (README_FIRST, UNFILTERED, BROKEN)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    nbformat.write(notebook, lab.notebooks / NOTEBOOK)
    with Chromium(tmp_path / "chromium", reachable=("127.0.0.1",)) as browser, browser.new_page(WIDTH, HEIGHT) as page:
        opened = open_notebook(page, lab, NOTEBOOK)
        assert opened["cells"] == 3, opened
        # a first start asks about Jupyter news in a toast (over the notebook's bottom right): No, as one answers it
        click(page, ".jp-toast-button", "No")
        page.wait_until("!document.querySelector('.jp-toast-button')", timeout=10)
        menu(page, "Run", "Run All Cells")
        assert page.wait_until(RAN_JS.replace("!panel.model.dirty && ", ""), timeout=60) == [1, 2, 3]
        menu(page, "File", "Save Notebook")
        assert page.wait_until(RAN_JS, timeout=20) == [1, 2, 3]
        cells = page.wait_until(f"(() => {{ const c = {CELLS_JS}; return c.length === 3 && c[0].charts "
                                "&& c[1].charts && c[2].outputs.length && c; })()", timeout=30)
        scroll_to_cell(page, 0)
        page.screenshot(SCREENSHOTS / "lab-first-query.png")
        scroll_to_cell(page, 2, "end")  # the broken query at the bottom, the second one's table above it
        page.screenshot(SCREENSHOTS / "lab-broken-query.png")
        visible = page.evaluate("document.body.innerText")
        errors = page.console_errors
    for cell in cells[:2]:  # a chart and the DataFrame: timestamp, value, code; every minute of 6 h, per code
        assert cell["charts"] == 1 and cell["rows"] >= 5, cell
        assert {"timestamp", "value", "code"} <= set(cell["headers"]), cell["headers"]
        assert "rows ×" in cell["text"] and "Traceback" not in cell["text"], cell["text"][:400]
    broken = cells[2]
    assert [output["mime"] for output in broken["outputs"]] == ["application/vnd.jupyter.stderr"], broken
    line = broken["text"].strip()
    # live, the server's own words: `%promql: Prometheus URL failed (HTTP 400, bad_data): ...: parse error: ...`
    assert line.startswith("%promql: Prometheus ") and "\n" not in line and "parse error" in line, line
    assert line.endswith("-- query: 'sum(rate(http_requests_total[5m]'"), line
    assert "Traceback" not in visible and "Error" not in visible, visible[-2000:]  # no exception's name shown
    assert not errors, errors  # JupyterLab's console stays clean too
    saved = nbformat.read(lab.notebooks / NOTEBOOK, as_version=4)  # the real outputs, saved by the lab
    assert [cell.execution_count for cell in saved.cells] == [1, 2, 3]
    assert [output.get("name") for output in saved.cells[2].outputs] == ["stderr"]
    assert saved.cells[2].outputs[0].text.strip() == line
    assert all("text/html" in saved.cells[i].outputs[-1].data for i in (0, 1))
    assert "Traceback" not in nbformat.writes(saved)

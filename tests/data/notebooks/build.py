"""Builds the tiny report notebooks the runner tests execute (run: python tests/data/notebooks/build.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).parent

PARAMETERS = '''end = "now"
title = None
catalog = "params/slos.yaml"
window = "30d"
services = "all"'''

SETUP = '''import pandas as pd
import plotly.graph_objects as go

from goreliable_lib import reports

run = reports.current_run("slo", parameters={"end": end, "title": title, "catalog": catalog, "window": window,
                                             "services": services})'''

FIGURE = '''fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.999, 0.998, 0.9995], name="sli"))
fig.update_layout(title="SLI over the window")
run.show_figure(fig, "sli")'''

TABLE = '''table = pd.DataFrame({"name": ["api-gateway-availability", "order-success-rate"],
                      "error_budget_remaining": [0.42, 0.87]})
run.export_table(table, "slos")'''

SUMMARY = '''run.warn("coverage of api-gateway-latency is 97%")
run.write_summary({"slos": [{"name": n, "error_budget_remaining": r, "status": "ok"}
                            for n, r in zip(table["name"], table["error_budget_remaining"])],
                   "policy": {"decision": "feature work", "reason": "budgets above 50%"}})'''

LEAK = '''import os

token = os.environ["GORELIABLE_PROMETHEUS_TOKEN"]
print("token:", token, "aws:", os.environ["AWS_SECRET_ACCESS_KEY"], "hdr:", os.environ["GORELIABLE_PROMETHEUS_HEADERS"])
run.warn(f"careless warning with {os.environ['AWS_SESSION_TOKEN']}")
leak = pd.DataFrame({"k": [token], "v": [os.environ["MY_SERVICE_PASSWORD"]]})
run.export_table(leak, "leak")
fig2 = go.Figure(go.Bar(x=[token], y=[1]))
fig2.update_layout(title=os.environ["AWS_SECRET_ACCESS_KEY"])
run.show_figure(fig2, "leaky")
(run.run_dir / "notes.txt").write_text(token)
pd.DataFrame({"secret": [token]}).to_parquet(run.data_dir / "leak.parquet")
run.write_summary({"note": token, "slos": []})
raise RuntimeError(f"failing with {os.environ['GORELIABLE_API_KEY']} in the message")'''


def notebook(*sources: str) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_markdown_cell("# Test report\nA tiny notebook for the runner tests.")]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


NOTEBOOKS = {
    "ok.ipynb": notebook(SETUP, FIGURE, TABLE, SUMMARY),
    "fails.ipynb": notebook(SETUP, FIGURE, 'raise RuntimeError("upstream exploded mid-report")', SUMMARY),
    "dies.ipynb": notebook(SETUP, FIGURE, "import os\nos.kill(os.getpid(), 9)", SUMMARY),
    "leaky.ipynb": notebook(SETUP, FIGURE, TABLE, LEAK),
}

if __name__ == "__main__":
    for name, nb in NOTEBOOKS.items():
        for number, cell in enumerate(nb.cells):
            cell["id"] = f"{Path(name).stem}-{number}"  # stable ids: rebuilding changes nothing
        nbformat.write(nb, HERE / name)

"""report.html's templates compiled once and kept (runner/html.py `KeptTemplates`): a page rendered from the kept
templates is the page rendered from their source, and a cache folder that cannot be written only costs time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import nbformat
import plotly.graph_objects as go
import pytest

from goreliable_lib.runner import html
from goreliable_lib.runner.html import KeptTemplates, notebook_to_html

#: nbconvert's template gives some elements a fresh uuid4 per rendering.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def notebook() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output(
        "execute_result", data={"text/html": "<b>2</b>", "text/plain": "2"}, execution_count=1)])
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\nSome *text*."), cell])


def test_a_page_from_kept_templates_is_the_page_from_their_source(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORELIABLE_CACHE_DIR", str(tmp_path))
    nb = notebook()
    fresh = notebook_to_html(nb, "a title")
    kept = list((tmp_path / "templates").iterdir())
    assert kept, "no template was kept"
    again = notebook_to_html(nb, "a title")
    assert sorted((tmp_path / "templates").iterdir()) == sorted(kept)  # read, not compiled again
    assert UUID.sub("", again) == UUID.sub("", fresh)
    assert "<b>2</b>" in again and "a title" in again and "1 + 1" not in again  # code cells stay hidden


def test_a_cache_folder_that_cannot_be_written_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GORELIABLE_CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert "<b>2</b>" in notebook_to_html(notebook(), "a title")


def test_a_folder_others_may_write_in_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept templates run as code: a folder of them that others may write in is not trusted (the page is then
    rendered from the templates' source, as on a first run)."""
    monkeypatch.setenv("GORELIABLE_CACHE_DIR", str(tmp_path))
    nb = notebook()
    fresh = notebook_to_html(nb, "a title")
    folder = tmp_path / "templates"
    assert KeptTemplates(str(folder)).trusted()
    folder.chmod(0o777)
    assert not KeptTemplates(str(folder)).trusted()

    def read(self: jinja2.FileSystemBytecodeCache, bucket: object) -> None:
        raise AssertionError("a kept template was read from a folder others may write in")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "load_bytecode", read)
    assert UUID.sub("", notebook_to_html(nb, "a title")) == UUID.sub("", fresh)



def test_the_page_leaves_out_what_it_never_renders_and_is_the_same_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """A figure's output holds plotly's JSON (for JupyterLab) and its HTML (what the page shows): nbconvert is given
    the notebook without the JSON (it deep-copies what it is given), the page is byte for byte the one of the whole
    notebook, and the notebook itself (written as report.ipynb) keeps every output."""
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    data = {"application/vnd.plotly.v1+json": json.loads(fig.to_json()),
            "text/html": fig.to_html(full_html=False, include_plotlyjs=False), "text/plain": "<figure f>"}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# SLO report"),
        nbformat.v4.new_code_cell("show()", execution_count=1, outputs=[
            nbformat.v4.new_output("display_data", data),
            nbformat.v4.new_output("stream", name="stdout", text="a line\n")])])
    before = json.dumps(nb, sort_keys=True)
    part = html.rendered_part(nb)
    kept = part.cells[1].outputs[0].data
    assert "application/vnd.plotly.v1+json" not in kept and set(kept) == {"text/html", "text/plain"}
    assert part.cells[1].outputs[1] is nb.cells[1].outputs[1] and part.cells[0] is nb.cells[0]  # shared, not copied
    page = notebook_to_html(nb, "t")
    assert json.dumps(nb, sort_keys=True) == before
    given = []
    monkeypatch.setattr(html, "rendered_part", lambda whole: given.append(whole) or whole)  # the whole notebook
    assert notebook_to_html(nb, "t") == page
    assert given == [nb] and 'class="plotly-graph-div"' in page

"""report.html's templates compiled once and kept (runner/html.py `KeptTemplates`): a page rendered from the kept
templates is the page rendered from their source, and a cache folder that cannot be written only costs time."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import nbformat
import pytest

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

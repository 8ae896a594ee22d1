"""report.html: the executed notebook without code, opening offline (plotly.js embedded once, no CDN).

nbconvert's lab template loads require.js, MathJax and mermaid from a CDN; a small template extending it
drops those blocks, and a safety pass removes any external script/link tag an output may carry. Figures are
displayed by the run context as text/html without plotly.js; this module embeds plotly.js once per page.
A Content-Security-Policy meta tag forbids the page from fetching anything outside the file. The page's own style
keeps it as wide as the screen (a phone's 390 px included): wide tables and code scroll inside their box.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

import jinja2
import jinja2.bccache
import nbformat
from nbconvert import HTMLExporter

from goreliable_lib.paths import cache_dir
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.page import CSP, PAGE_CSS, plotly_script, strip_external
from goreliable_lib.runner.scrub import scrub_notebook, scrub_text

TEMPLATE_NAME = "goreliable_offline.html.j2"
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


class KeptTemplates(jinja2.FileSystemBytecodeCache):
    """jinja's compiled templates, kept in the kit's cache folder (`paths.cache_dir`): nbconvert compiles its lab
    templates anew for every page, 0.25 s of a report's finalising on a 2-core machine. jinja checks each template's
    source against what it compiled, so a kept one is never stale; a folder that cannot be read or written is
    skipped, and one that is not the user's own, or that others may write in, is never read."""

    def trusted(self) -> bool:
        """The folder is this user's and nobody else may write in it (what is read from it runs as code)."""
        try:
            folder = os.stat(self.directory)
        except OSError:
            return False
        return folder.st_uid == os.getuid() and not folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if self.trusted():
            with contextlib.suppress(OSError):
                super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            Path(self.directory).mkdir(mode=0o700, parents=True, exist_ok=True)  # the user's own: it holds code
            super().dump_bytecode(bucket)


#: Output data the page never renders: nbconvert's HTML has no renderer for plotly's own JSON (a figure's text/html,
#: which the page shows, carries the figure too), so it is left out of what nbconvert copies twice.
UNRENDERED_DATA = ("application/vnd.plotly.v1+json",)


def rendered_part(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` without its outputs' `UNRENDERED_DATA` (a new notebook sharing the rest; `nb` is left as it is): nbconvert
    deep-copies the notebook it is given, and a figure's JSON as dictionaries is most of that work."""
    def output(item: nbformat.NotebookNode) -> nbformat.NotebookNode:
        data = item.get("data")
        if not data or not any(kind in data for kind in UNRENDERED_DATA):
            return item
        kept = {kind: value for kind, value in data.items() if kind not in UNRENDERED_DATA}
        return nbformat.NotebookNode({**item, "data": nbformat.NotebookNode(kept)})

    cells = [nbformat.NotebookNode({**cell, "outputs": [output(o) for o in cell["outputs"]]}) if cell.get("outputs")
             else cell for cell in nb["cells"]]
    return nbformat.NotebookNode({**nb, "cells": cells})


def notebook_to_html(nb: nbformat.NotebookNode, title: str | None = None) -> str:
    """The offline HTML of an executed notebook, code cells hidden."""
    exporter = HTMLExporter(template_file=TEMPLATE_NAME,
                            extra_loaders=[jinja2.DictLoader({TEMPLATE_NAME: _TEMPLATE})])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    # the notebook validated once, after the preprocessors, not after each of the 12 (enabled or not): the executed
    # notebook holds every figure, and a validation of it takes 20 ms
    exporter.optimistic_validation = True
    exporter.environment.bytecode_cache = KeptTemplates(str(cache_dir() / "templates"))
    body, _ = exporter.from_notebook_node(rendered_part(nb), resources={"metadata": {"name": title or "report"}})
    html = strip_external(body)
    head = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    if "plotly-graph-div" in html:
        head += "\n" + plotly_script()
    html = re.sub(r"<head>", lambda _: "<head>\n" + head, html, count=1)
    return re.sub(r"</head>", lambda _: f"<style>{PAGE_CSS}</style>\n</head>", html, count=1)  # after lab's style


def write_page(nb: nbformat.NotebookNode, html_path: Path, title: str | None = None) -> Path:
    """Write `html_path` from a notebook whose text is already masked (runner/finalise.py), atomically; the title is
    masked here. The page's own markup and plotly.js are never masked."""
    atomic_write_text(html_path, notebook_to_html(nb, None if title is None else scrub_text(title)))
    return html_path


def export_html(notebook_path: Path, html_path: Path, title: str | None = None) -> Path:
    """Write `html_path` from the notebook at `notebook_path`, with every secret masked in what people read (the
    notebook's text field by field, the title)."""
    nb = nbformat.reads(scrub_notebook(notebook_path.read_text(encoding="utf-8")), as_version=4)
    return write_page(nb, html_path, title)

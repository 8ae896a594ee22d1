"""report.html: the executed notebook without code, opening offline (plotly.js embedded once, no CDN).

nbconvert's lab template loads require.js, MathJax and mermaid from a CDN; a small template extending it
drops those blocks, and a safety pass removes any external script/link tag an output may carry. Figures are
displayed by the run context as text/html without plotly.js; this module embeds plotly.js once per page.
A Content-Security-Policy meta tag forbids the page from fetching anything outside the file. The page's own style
keeps it as wide as the screen (a phone's 390 px included): wide tables and code scroll inside their box.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from nbconvert import HTMLExporter
from plotly.offline import get_plotlyjs

from goreliable_lib.plots import FIGURE_CONFIG
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.scrub import scrub_notebook, scrub_text

TEMPLATE_NAME = "goreliable_offline.html.j2"
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; worker-src blob:; connect-src 'none'")
PLOTLY_MARKER = "<!-- goreliable: plotly.js -->"
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>.*?</script\s*>",
                              re.IGNORECASE | re.DOTALL)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>", re.IGNORECASE)
#: What the report pages add to nbconvert's lab style: nothing wider than the screen (Markdown tables and text
#: outputs scroll in their box, long words break), less padding on a phone, plotly's mode bar under a chart's
#: bottom-right corner (on hover: it never covers a title) and none on a phone, the provenance footer.
PAGE_CSS = """.jp-RenderedMarkdown table{display:block;overflow-x:auto;max-width:100%;margin-left:0}
.jp-RenderedHTMLCommon p,.jp-RenderedHTMLCommon li{overflow-wrap:break-word}
.jp-RenderedText pre,.jp-RenderedHTMLCommon pre{white-space:pre-wrap;overflow-wrap:anywhere}
.jp-OutputArea-output{max-width:100%;overflow-x:auto}
.js-plotly-plot .plotly .modebar-container{top:auto!important;bottom:0}
.gr-provenance{font-size:12px;color:#555;border-top:1px solid #ddd;margin-top:2em;padding-top:.6em}
.gr-provenance dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px;margin:.3em 0}
.gr-provenance dt{font-weight:600}.gr-provenance dd{margin:0;overflow-wrap:anywhere}
.gr-demo{background:#fff4d6;border-left:4px solid #e0a800;padding:6px 10px}
@media (max-width:600px){.jp-Notebook{padding:8px 6px}.jp-Cell{padding:2px 0}
.jp-RenderedHTMLCommon h1{font-size:1.6em}.jp-RenderedHTMLCommon h2{font-size:1.3em}
.js-plotly-plot .plotly .modebar-container{display:none}}"""


def _plotly_js() -> str:
    return get_plotlyjs()


def plotly_script() -> str:
    """plotly.js embedded in the page (once per page: the figures' divs carry none)."""
    return (f"{PLOTLY_MARKER}\n<script type=\"text/javascript\">window.PlotlyConfig = {{MathJaxConfig: 'local'}};"
            f"</script>\n<script type=\"text/javascript\">{_plotly_js()}</script>")


def figure_div(fig: Any) -> str:
    """A plotly figure as a div for a page that embeds plotly.js once (`plotly_script`), resizing with the page."""
    height = fig.layout.height or 450
    return fig.to_html(full_html=False, include_plotlyjs=False, default_height=f"{height}px",
                       config=FIGURE_CONFIG)


def strip_external(html: str) -> str:
    """Remove every <script src=http(s)://...> and <link href=http(s)://...> tag."""
    return _EXTERNAL_LINK.sub("", _EXTERNAL_SCRIPT.sub("", html))


def notebook_to_html(nb: nbformat.NotebookNode, title: str | None = None) -> str:
    """The offline HTML of an executed notebook, code cells hidden."""
    exporter = HTMLExporter(template_file=TEMPLATE_NAME,
                            extra_loaders=[jinja2.DictLoader({TEMPLATE_NAME: _TEMPLATE})])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or "report"}})
    html = strip_external(body)
    head = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    if "plotly-graph-div" in html:
        head += "\n" + plotly_script()
    html = re.sub(r"<head>", lambda _: "<head>\n" + head, html, count=1)
    return re.sub(r"</head>", lambda _: f"<style>{PAGE_CSS}</style>\n</head>", html, count=1)  # after lab's style


def export_html(notebook_path: Path, html_path: Path, title: str | None = None) -> Path:
    """Write `html_path` from the notebook at `notebook_path`, atomically, with every secret masked in what people
    read (the notebook's text field by field, the title); the page's own markup and plotly.js are never masked."""
    nb = nbformat.reads(scrub_notebook(notebook_path.read_text(encoding="utf-8")), as_version=4)
    atomic_write_text(html_path, notebook_to_html(nb, None if title is None else scrub_text(title)))
    return html_path

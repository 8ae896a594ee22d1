"""What every page the kit writes shares (report.html and the index), without nbconvert: the Content-Security-Policy,
plotly.js embedded once per page, a figure as a div for such a page, the removal of external scripts and links, and
the page style. runner/html.py renders a notebook into a report page with them; runner/index.py builds the index.
"""

from __future__ import annotations

import re
from typing import Any

from plotly.offline import get_plotlyjs

from goreliable_lib.plots import FIGURE_CONFIG

CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; worker-src blob:; connect-src 'none'")
PLOTLY_MARKER = "<!-- goreliable: plotly.js -->"
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>.*?</script\s*>",
                              re.IGNORECASE | re.DOTALL)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>", re.IGNORECASE)
#: What the report pages add to nbconvert's lab style: nothing wider than the screen (Markdown tables and text
#: outputs scroll in their box, long words break), less padding on a phone, plotly's mode bar under a chart's
#: bottom-right corner (on hover: it never covers a title) and none on a phone, the provenance footer.
#: Printed (report.pdf, runner/pdf.py, or the browser's "Print"): nothing scrolls (a scroll box would cut a wide
#: table at the paper's edge), tables fitted to the page's width (smaller type, cells wrap, no sticky column), a row
#: never cut across two pages, a table's header repeated on every page it spans, a chart never cut, a heading kept
#: with what follows it, no mode bar.
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
.js-plotly-plot .plotly .modebar-container{display:none}}
@media print{.jp-Notebook{padding:0;overflow:visible}.jp-Cell{padding:0}
.jp-OutputArea-child,.jp-OutputArea-output{display:block!important;break-inside:auto!important}
.jp-OutputArea,.jp-OutputArea-child,.jp-OutputArea-output,.gr-table .gr-scroll,
.jp-RenderedText pre{overflow:visible!important}
.jp-RenderedMarkdown table,.gr-table .gr-scroll table{display:table!important;width:100%!important;
max-width:100%!important;font-size:10px!important}
.jp-RenderedMarkdown table td,.jp-RenderedMarkdown table th,.gr-table .gr-scroll table td,
.gr-table .gr-scroll table th{white-space:normal!important;overflow-wrap:break-word;padding:2px 6px!important}
.gr-table .gr-scroll table tr>:first-child{position:static!important;box-shadow:none!important}
thead{display:table-header-group}tr,img,svg,.js-plotly-plot,.gr-provenance dl{break-inside:avoid}
h1,h2,h3,h4{break-after:avoid}.js-plotly-plot .plotly .modebar-container{display:none!important}}"""


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

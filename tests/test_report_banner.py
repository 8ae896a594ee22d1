"""The failure banner of a failed run (runner.finalise.finalise_run): the error is text, never HTML."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import nbformat

from goreliable_lib.reports.registry import get_report
from goreliable_lib.runner.finalise import ERROR_TAG, finalise_run
from goreliable_lib.runner.shared import HTML_FILE, NOTEBOOK_FILE, SUMMARY_FILE


def test_the_error_in_the_failure_banner_is_escaped(tmp_path: Path) -> None:
    """`TypeError: expected <class 'str'>, got <class 'NoneType'>` used to go into the banner's HTML as is: the
    browser took `<class 'str'>` for a tag and showed "expected , got"."""
    message = "expected <class 'str'>, got <class 'NoneType'> & <script>alert(1)</script>"
    error = {"type": "TypeError<b>", "message": message, "cell": 3}
    summary = finalise_run(tmp_path, get_report("dr"), {}, "20261123T060000Z-beef", error, time.monotonic())
    assert summary["status"] == "failed" and summary["error"]["message"] == message  # data keeps the text as is
    banner = next(c for c in nbformat.read(tmp_path / NOTEBOOK_FILE, as_version=4).cells
                  if ERROR_TAG in c.metadata.get("tags", []))
    assert html.escape(message) in banner.source and "TypeError&lt;b&gt;" in banner.source
    assert "<class" not in banner.source and "<script>" not in banner.source
    page = (tmp_path / HTML_FILE).read_text()
    assert "expected &lt;class 'str'&gt;, got &lt;class 'NoneType'&gt; &amp; " in page  # shown as text
    assert "<script>alert(1)</script>" not in page
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["error"]["message"] == message

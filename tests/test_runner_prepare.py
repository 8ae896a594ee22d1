"""finalise.prepare: what finalising and publishing build once per process, built while the notebook runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import stub_parameters, test_report

from goreliable_lib.plots import house_template
from goreliable_lib.runner import finalise, kernel
from goreliable_lib.runner.execute import run_report


def test_prepare_builds_the_house_template_and_renders_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []
    real = finalise.notebook_to_html
    monkeypatch.setattr(finalise, "notebook_to_html", lambda nb, title=None: rendered.append(real(nb, title)))
    house_template.cache_clear()
    finalise.prepare()
    assert house_template.cache_info().currsize == 1
    assert len(rendered) == 1 and "prepared" in rendered[0]


def test_prepare_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("nbconvert is broken today")

    monkeypatch.setattr(finalise, "notebook_to_html", broken)
    finalise.prepare()  # the page's own rendering will say so, in the run's error


@pytest.mark.timeout(600)
def test_finalising_waits_for_a_preparation_that_outlives_the_notebook(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The preparation builds plotly's house template, and finalising and publishing build figures: plotly builds
    its validators with shared state, so the runner waits for the preparation first (here it ends only after the
    notebook did)."""
    events: list[str] = []
    notebook_done = threading.Event()
    real_execute, real_finalise = kernel.execute_notebook, finalise.finalise_run

    def execute(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_execute(*args, **kwargs)
        finally:
            notebook_done.set()

    def slow_prepare() -> None:
        notebook_done.wait(300)
        time.sleep(0.5)
        events.append("prepared")

    monkeypatch.setattr(kernel, "execute_notebook", execute)
    monkeypatch.setattr(finalise, "prepare", slow_prepare)
    monkeypatch.setattr(finalise, "finalise_run", lambda *a, **k: events.append("finalising") or real_finalise(*a, **k))
    result = run_report("slo", stub_parameters(), tmp_path / "out", report=test_report("ok.ipynb"), progress=False)
    assert result.exit_code == 0, result.error
    assert events == ["prepared", "finalising"]

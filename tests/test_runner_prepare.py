"""finalise.prepare: what finalising and publishing build once per process, built while the notebook runs."""

from __future__ import annotations

import pytest

from goreliable_lib.plots import house_template
from goreliable_lib.runner import finalise


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

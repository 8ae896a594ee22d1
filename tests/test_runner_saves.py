"""papermill's saves of the executing notebook (runner/kernel.py `ThrottledSaves`): at most one every
`SAVE_EVERY_SECONDS` while cells run, and none from `notebook_complete` when the engine returns (papermill writes the
final notebook itself right after); when the engine raises (an interrupt, a dead kernel), `notebook_complete` is the
only save left, and it saves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import nbformat
import pytest
from papermill import engines

from goreliable_lib.runner import kernel


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every notebook papermill's execution manager writes (its output path), in order."""
    written: list[str] = []
    monkeypatch.setattr(engines, "write_ipynb", lambda nb, path: written.append(path))
    return written


def manager(tmp_path: Path) -> kernel.ThrottledSaves:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    return kernel.ThrottledSaves(nb, output_path=str(tmp_path / "out.ipynb"), progress_bar=False)


def test_saves_at_most_every_interval_while_cells_run(tmp_path: Path, writes: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [dt.datetime(2026, 12, 7, tzinfo=dt.UTC)]
    nb_man = manager(tmp_path)
    monkeypatch.setattr(nb_man, "now", lambda: clock[0])
    nb_man.last_save_time = clock[0]  # papermill counts its start as a save
    clock[0] += dt.timedelta(seconds=kernel.SAVE_EVERY_SECONDS - 1)
    nb_man.save()  # too soon: skipped
    assert writes == []
    clock[0] += dt.timedelta(seconds=1)
    nb_man.save()  # the interval has passed: written
    nb_man.save()  # and not again at once
    assert len(writes) == 1


@pytest.mark.parametrize(("raises", "saved_at_the_end"), [(False, 0), (True, 1)])
def test_the_final_save_is_left_to_papermill_unless_the_engine_raised(
        tmp_path: Path, writes: list[str], monkeypatch: pytest.MonkeyPatch, raises: bool,
        saved_at_the_end: int) -> None:
    def execute_managed_notebook(cls: Any, nb_man: kernel.ThrottledSaves, kernel_name: str, **kwargs: Any) -> None:
        writes.clear()  # notebook_start's save is not the point here
        if raises:
            raise KeyboardInterrupt

    monkeypatch.setattr(kernel.ThrottledSavesEngine, "execute_managed_notebook",
                        classmethod(execute_managed_notebook))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.metadata["papermill"] = {}
    for cell in nb.cells:
        cell.metadata["papermill"] = {}
    if raises:
        with pytest.raises(KeyboardInterrupt):
            kernel.ThrottledSavesEngine.execute_notebook(nb, "python3", output_path=str(tmp_path / "out.ipynb"),
                                                         progress_bar=False)
    else:
        kernel.ThrottledSavesEngine.execute_notebook(nb, "python3", output_path=str(tmp_path / "out.ipynb"),
                                                     progress_bar=False)
    assert len(writes) == saved_at_the_end

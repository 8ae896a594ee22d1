"""params/dr_targets.yaml and its loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.dr_targets import (
    DEFAULT_TARGETS_FILE,
    SEED_DR_TABLE,
    SEED_DRILL_DURATION_TARGET_SECONDS,
    load_dr_targets,
    seed_targets,
)


def test_shipped_file_is_the_seed_table() -> None:
    targets = load_dr_targets()
    assert DEFAULT_TARGETS_FILE == "dr_targets.yaml"
    table = {t.component: (t.rpo, t.rto) for t in targets.components}
    assert table == SEED_DR_TABLE
    assert table["postgresql"] == (300.0, 1800.0) and table["mlflow-metadata"] == (900.0, 2700.0)
    assert targets.drill_duration_target_seconds == SEED_DRILL_DURATION_TARGET_SECONDS == 600.0
    assert all(t.recovery_mechanism for t in targets.components)
    assert targets.get("model-artifacts").recovery_mechanism == "S3 + KServe re-pull"
    assert seed_targets().frame().drop(columns=["name", "recovery_mechanism"]).equals(
        targets.frame().drop(columns=["name", "recovery_mechanism"]))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    return path


GOOD = """
drill: {duration_target: 10m}
components:
  - {component: postgresql, rpo: 5m, rto: 30m}
  - {component: nats-jetstream, rpo: 0, rto: 900}
"""


def test_durations_in_any_form(tmp_path: Path) -> None:
    targets = load_dr_targets(_write(tmp_path, GOOD))
    assert [(t.rpo, t.rto) for t in targets.components] == [(300.0, 1800.0), (0.0, 900.0)]


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("rto: 30m", "rto: soon"), "components[0].rto: 'soon' is not a duration"),
    (GOOD.replace("rpo: 0,", "rpo: -5,"), "components[1].rpo"),
    (GOOD.replace("{duration_target: 10m}", "{}"), "drill.duration_target: Field required"),
    (GOOD.replace("nats-jetstream", "postgresql"), "components[1].component: 'postgresql' is listed twice"),
    (GOOD.replace("rto: 900}", "rto: 900, owner: me}"), "components[1].owner: Extra inputs are not permitted"),
    (GOOD.replace("component: postgresql", "component: Postgres SQL"), "components[0].component"),
    ("drill: {duration_target: 10m}\ncomponents: []\n", "components: List should have at least 1 item"),
    ("- just\n- a list\n", "expected a mapping"),
    ("drill: [unclosed\n", "line 2 is not valid YAML"),
])
def test_bad_files_name_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BadInputError) as caught:
        load_dr_targets(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)
    assert caught.value.exit_code == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="nope.yaml: DR targets file not found"):
        load_dr_targets(tmp_path / "nope.yaml")

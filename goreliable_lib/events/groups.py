"""A grouped SLO's groups (Pyrra `grouping`, Sloth `sum by (...)`), as the server lists them over a window.

A group is one combination of the grouping labels' values among the series of the SLO's total selector with samples
in the window (`/api/v1/series` through the source, so a snapshot records and replays it); a series without a
grouping label is in the group whose value is "" (as `sum by` groups it, and as the matcher `label=""` selects it).
Each group becomes an objective of its own (`SLOObjective.in_group`): its selectors gain the group's matchers, so
the engine, the archive (one key per group) and the pages treat it like any SLO, and a group born or gone inside the
window is a series born or gone. The index is asked one INDEX_WINDOW at a time (VictoriaMetrics answers a longer
range from its global index: every series it ever held). Above `max_groups` groups the SLO is refused
(`BadInputError` naming it and the count) before any event is fetched.
"""

from __future__ import annotations

import pandas as pd

from goreliable_lib.errors import BadInputError
from goreliable_lib.events.questions import INDEX_WINDOW
from goreliable_lib.inputs.catalog import SLOObjective
from goreliable_lib.inputs.promql import widen_le
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.timeutil import MINUTE, to_rfc3339

#: Groups one grouped SLO may have over a window (the `max_groups` parameter's default).
MAX_GROUPS = 200


def group_values(listed: pd.DataFrame, grouping: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The distinct combinations of the grouping labels' values among listed series ("" for a label a series
    lacks)."""
    if listed.empty:
        return set()
    columns = [listed[label] if label in listed.columns else pd.Series("", index=listed.index) for label in grouping]
    return {tuple(v if isinstance(v, str) else "" for v in row) for row in zip(*columns, strict=True)}


def find_groups(source: PrometheusAPI, objective: SLOObjective, start: pd.Timestamp,
                end: pd.Timestamp) -> list[tuple[str, ...]]:
    """The groups of a grouped objective with series in (start, end], sorted by their values."""
    match = widen_le(objective.total_selector).to_promql()
    found: set[tuple[str, ...]] = set()
    top = end
    while top > start:
        bottom = max(start, top - INDEX_WINDOW)
        found |= group_values(source.series(match, bottom + MINUTE, top), objective.grouping)
        top = bottom
    return sorted(found)


def expand_groups(source: PrometheusAPI, objectives: list[SLOObjective],
                  windows: dict[str, tuple[pd.Timestamp, pd.Timestamp]],
                  max_groups: int = MAX_GROUPS) -> list[SLOObjective]:
    """Every objective, a grouped one replaced by one objective per group found over its window (`windows`, by
    objective name), in catalog order; a grouped objective without any series stays one objective (no group: its
    row says it has no data). Raises BadInputError naming the SLO and the count when one has more than
    `max_groups` groups, before any of them is computed."""
    expanded: list[SLOObjective] = []
    for objective in objectives:
        if not objective.grouping:
            expanded.append(objective)
            continue
        start, end = windows[objective.name]
        groups = find_groups(source, objective, start, end)
        if len(groups) > max_groups:
            raise BadInputError(
                f"SLO {objective.name}: grouped by {', '.join(objective.grouping)}, it has {len(groups)} groups "
                f"with series between {to_rfc3339(start)} and {to_rfc3339(end)}, above max_groups={max_groups}: "
                f"narrow its selectors, group by fewer labels, or raise the report's max_groups parameter")
        expanded.extend([objective.in_group(values) for values in groups] or [objective])
    return expanded

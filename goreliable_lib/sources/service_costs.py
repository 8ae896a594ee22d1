"""The allocations of the services a services map names (`params/services.yaml`, `inputs.services_map`), as the
unit costs need them: one Kubecost/OpenCost `allocation` call per distinct (aggregate, filter) of the map, with idle
shared (`shareIdle=true`: each allocation carries its share of the hour's idle CPU, RAM and GPU, so no `__idle__`
row is left to spread) over [start, end).

```python
frames = service_allocations(sources.kubecost, services_map.services, start, end, step="day")
rows = analysis.unit_costs.selected(frames[service.allocations.request_key], service,
                                    key_column(service.allocations.aggregate))
```
`step`: None = one interval, the window; `"day"` (DAY_STEP) = UTC days, the unit costs' periods
(`analysis.unit_costs.day_periods`: a partial first day asked on its own, then whole days from midnight, the last
one cut at `end`); any other step (`"1h"`, `3600`) is Kubecost's, slicing the window from its start. `team`: an
aggregation property added to every request (`label:cost-team`) so the frames carry each allocation's team too;
None asks for the service's aggregate alone. Used by the SLO report (cost per million good requests), the
postmortem (the cost of the incident's failed requests) and the cost report (unit costs). Errors are the source's
(`KubecostError`, `SnapshotMissError`): the caller decides whether they are fatal.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from goreliable_lib.inputs.services_map import ServiceMapping
from goreliable_lib.sources.kubecost import KubecostSource

#: `step` value asking for UTC days (a partial first and last day included).
DAY_STEP = "day"
RequestKey = tuple[str, str | None]


def request_aggregate(aggregate: str, team: str | None) -> str:
    """The aggregate one request is sent with: the service's, plus `team` (once) when given."""
    return aggregate if team is None or team == aggregate else f"{aggregate},{team}"


def service_allocations(kubecost: KubecostSource, services: Iterable[ServiceMapping], start: pd.Timestamp,
                        end: pd.Timestamp, *, step: object = None,
                        team: str | None = None) -> dict[RequestKey, pd.DataFrame]:
    """Per distinct `request_key` (aggregate, filter) of `services`, in the map's order: the allocations over
    [start, end) with idle shared, one row per (interval, allocation) (`KubecostSource.allocation`'s frame; the
    aggregate's key column is `sources.kubecost.key_column(aggregate)`)."""
    frames: dict[RequestKey, pd.DataFrame] = {}
    for key in dict.fromkeys(service.allocations.request_key for service in services):
        aggregate, filter_text = key
        frames[key] = _fetch(kubecost, request_aggregate(aggregate, team), filter_text, start, end, step)
    return frames


def _fetch(kubecost: KubecostSource, aggregate: str, filter_text: str | None, start: pd.Timestamp, end: pd.Timestamp,
           step: object) -> pd.DataFrame:
    if step != DAY_STEP:
        return kubecost.allocation((start, end), aggregate=aggregate, step=step, idle=True,
                                   share_idle=True, filter=filter_text)
    midnight = min(start.floor("D") + pd.Timedelta(days=1), end) if start != start.floor("D") else start
    frames = []
    if midnight > start:  # the partial first day on its own
        frames.append(kubecost.allocation((start, midnight), aggregate=aggregate,
                                          idle=True, share_idle=True, filter=filter_text))
    if end > midnight:
        frames.append(kubecost.allocation((midnight, end), aggregate=aggregate, step="1d",
                                          idle=True, share_idle=True, filter=filter_text))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

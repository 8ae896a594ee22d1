"""The SLO event archive on the engine's side: what an SLO's archive key is made of, the archived days a run
takes, and the `goreliable archive status|backfill` jobs (sources.archive holds the files).

Which days a run takes from the archive: the days before its source's data starts (retention, or a server that
started recently), for the window and the alerts' lookback; the compliance history reads every archived day of
its months. A day the archive holds and the source still holds is taken from the source, and the archive's
minutes of the newest such day are compared with it: a difference is a warning naming the day (the archive is
never trusted over the server, and never makes an otherwise good report fail).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis import counters
from goreliable_lib.errors import SourceError
from goreliable_lib.events.engine import SLOEvents, fetch_slo_events
from goreliable_lib.events.groups import expand_groups
from goreliable_lib.inputs.catalog import SLO, SLOObjective, select_objectives
from goreliable_lib.inputs.promql import widen_le
from goreliable_lib.sources.archive import ArchiveSource, complete_days, definition_key
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.sources.memo import Memo
from goreliable_lib.timeutil import DAY, MINUTE, empty_events, to_rfc3339, utc_days

#: The version of how events are computed from samples: part of every archive key, so days computed by an
#: older engine are never mixed with a newer one's.
EVENTS_VERSION = 2
#: How many days one backfill request covers (memory stays bounded whatever the range).
BACKFILL_CHUNK_DAYS = 7


def archive_definition(slo: SLO) -> dict[str, Any]:
    """What decides an SLO's events: its selectors as sent (an `le` bound in every spelling) and the engine."""
    definition: dict[str, Any] = {"total": widen_le(slo.total_selector).to_promql(), "events": EVENTS_VERSION}
    if slo.good_selector is not None:
        definition["good"] = widen_le(slo.good_selector).to_promql()
    else:
        definition["bad"] = widen_le(slo.bad_selector).to_promql()  # type: ignore[arg-type]
    return definition


def counted_objectives(slos: list[SLO], services: Any = "all") -> list[SLOObjective]:
    """The catalog's objectives whose events are counted (thresholdMetric SLIs are values, not events), one per
    archive key (the objectives of one indicator share their events)."""
    found: dict[str, SLOObjective] = {}
    for objective in select_objectives(slos, services):
        if objective.threshold is None:
            found.setdefault(archive_key(objective), objective)
    return list(found.values())


def archive_key(slo: SLO) -> str:
    """The SLO's key in the archive (sources.archive.definition_key of `archive_definition`)."""
    return definition_key(archive_definition(slo))


@dataclass
class ArchivedDays:
    """The minutes a run took from the archive for one SLO, and what it says about them."""

    events: pd.DataFrame  # timestamp, good, total (only the days taken)
    days: list[pd.Timestamp] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """summary.json's `archive` block for these days."""
        return {"days": len(self.days), "first_day": f"{self.days[0]:%Y-%m-%d}" if self.days else None,
                "last_day": f"{self.days[-1]:%Y-%m-%d}" if self.days else None}


def read_days(archive: ArchiveSource | None, slo: SLO, days: Iterable[pd.Timestamp]) -> ArchivedDays:
    """The archived days of `days` (those it holds and that pass their checks)."""
    wanted = utc_days(days)
    if archive is None or not wanted:
        return ArchivedDays(empty_events())
    key = archive_key(slo)
    held = archive.days(key)
    have = sorted(set(held["day"]) & set(wanted))
    if not have:
        return ArchivedDays(empty_events())
    frame = archive.read(key, have)
    used = sorted(frame["day"].drop_duplicates())  # one per day: never a Python loop over the minutes
    events = frame[["timestamp", "good", "total"]].reset_index(drop=True)
    # the engine's unit (ns; Parquet gives us): merged and concatenated with the source's minutes without converting
    events["timestamp"] = events["timestamp"].dt.as_unit("ns")
    return ArchivedDays(events, used, list(frame.attrs.get("warnings", [])))


def compare_day(archived: pd.DataFrame, fetched: pd.DataFrame, day: pd.Timestamp) -> str | None:
    """A warning naming `day` when the archive's minutes of it differ from the source's, else None."""
    old, new = (f[(f["timestamp"] > day) & (f["timestamp"] <= day + DAY)].set_index("timestamp")
                for f in (archived, fetched))
    both = old.index.intersection(new.index)
    if both.empty:
        return None
    differs = ~(np.isclose(old.loc[both, "total"], new.loc[both, "total"], equal_nan=True)
                & np.isclose(old.loc[both, "good"], new.loc[both, "good"], equal_nan=True))
    if not differs.any():
        return None
    return (f"SLO archive: {day:%Y-%m-%d} differs from the source in {int(differs.sum())} of {len(both)} minutes "
            f"(archived total {old.loc[both, 'total'].sum():,.0f}, source {new.loc[both, 'total'].sum():,.0f}); "
            "the source's figures are used")


def merge(fetched: pd.DataFrame, archived: pd.DataFrame, prefer_until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per-minute events: the source's where it has data, the archive's for the minutes it has and the source
    does not (e.g. before its retention), and the archive's for every minute up to `prefer_until` (where the
    source's figures start from baselines: the minutes around its oldest sample, whose increments it cannot know)."""
    if archived.empty:
        return fetched
    combined = fetched.set_index("timestamp")[["good", "total"]]
    extra = archived.set_index("timestamp")[["good", "total"]]
    known = combined.index[combined["total"].notna()]
    if prefer_until is not None:
        known = known[known > prefer_until]
    use = extra.index[extra["total"].notna()].difference(known)
    combined = combined.reindex(combined.index.union(use))
    combined.loc[use, ["good", "total"]] = extra.loc[use].to_numpy()
    return combined.rename_axis("timestamp").reset_index()


# --------------------------------------------------------------------------------------------- jobs
def backfill(prometheus: PrometheusAPI, archive: ArchiveSource, slos: list[SLOObjective], start: pd.Timestamp,
             end: pd.Timestamp) -> list[dict[str, Any]]:
    """Fill the archive with the complete UTC days of (start, end] from a server that still holds them, a week at
    a time; one row per SLO and chunk: `slo`, `from`, `to`, `written`, `kept`, `replaced` (day counts). A grouped
    SLO is filled per group with series in (start, end] (`events.groups`), each under its own key."""
    rows = []
    once = Memo(prometheus)
    for slo in expand_groups(once, slos, {s.name: (start, end) for s in slos}):
        chunk_start = start.floor("D")
        while chunk_start < end:
            chunk_end = min(chunk_start + BACKFILL_CHUNK_DAYS * DAY, end)
            events = fetch_slo_events(once, slo, chunk_start, chunk_end, lookback=pd.Timedelta(0)).events
            outcome = archive.write(archive_key(slo), archive_definition(slo), slo.name, events, chunk_start,
                                    chunk_end)
            rows.append({"slo": slo.name, "from": to_rfc3339(chunk_start), "to": to_rfc3339(chunk_end),
                         **{k: len(v) for k, v in outcome.items()}})
            chunk_start = chunk_end
        once.clear()
    return rows


def archived_groups(archive: ArchiveSource, slo: SLOObjective) -> list[tuple[str, str]]:
    """(name, key) of each group of a grouped SLO the archive holds days of (the groups are the server's, so the
    archive's names are what is known of them without one); [(name, key)] of the SLO itself when not grouped."""
    if not slo.grouping:
        return [(slo.name, archive_key(slo))]
    group = re.compile(re.escape(slo.name) + r'\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\}')  # quoted values may hold anything
    return [(match.group(0), key) for key, names in definitions_by_key(archive).items()
            for match in group.finditer(names) if match.start() == 0 or names[match.start() - 2:match.start()] == ", "]


def status(archive: ArchiveSource, slos: list[SLOObjective], end: pd.Timestamp) -> list[dict[str, Any]]:
    """Per catalog SLO (per archived group of a grouped SLO): its key, first and last archived day, the days
    missing between them and before `end`, and the partial days."""
    rows = []
    for name, key in [pair for slo in slos for pair in archived_groups(archive, slo)]:
        held = archive.days(key)
        days = sorted(held["day"])
        partial = sorted(held.loc[~held["complete"].astype(bool), "day"])
        expected = complete_days(days[0], end) if days else []
        missing = sorted(set(expected) - set(days))
        rows.append({"slo": name, "key": key, "days": len(days),
                     "first_day": f"{days[0]:%Y-%m-%d}" if days else None,
                     "last_day": f"{days[-1]:%Y-%m-%d}" if days else None,
                     "missing_days": [f"{d:%Y-%m-%d}" for d in missing],
                     "partial_days": [f"{d:%Y-%m-%d}" for d in partial]})
    return rows


def definitions_by_key(archive: ArchiveSource) -> Mapping[str, str]:
    """key -> the SLO names it was written for (keys of SLOs no longer in the catalog included)."""
    keys = archive.keys()
    return dict(zip(keys["key"], keys["names"], strict=True))


# --------------------------------------------------------------------------------------------- a run's use
@dataclass
class WithArchive:
    """An SLO's per-minute events completed from the archive, and what the archive gave and said."""

    events: pd.DataFrame  # the source's minutes, and the archive's where the source has none
    archived: ArchivedDays  # the days taken from the archive (before the source's data starts)
    history: pd.DataFrame  # every archived minute of the history's months before the run's own minutes
    warnings: list[str] = field(default_factory=list)


def known_from(fetched: SLOEvents, completed: WithArchive | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """(data_starts_at, covered_from) of an SLO's events (`SLOEvents`): where the source's data starts (retention,
    a new server) and after which minute its events are known, both moved back to the first day taken from the
    archive; (None, None) when the events are known back to the start of the fetch."""
    starts, covered = fetched.data_starts_at, fetched.covered_from
    taken = completed.archived.days if completed is not None else []
    if taken and covered is not None:
        starts = covered = min(covered, taken[0])
    return starts, covered


def reusable_until(archive: ArchiveSource | None, slo: SLO, first: pd.Timestamp,
                   end: pd.Timestamp) -> pd.Timestamp | None:
    """The newest day D such that every day from the one holding `first` to D is a complete archived day, with at
    least one whole day after D before `end`: a run may then ask its source only for (D, end] and take (first, D]
    from the archive (D itself is fetched too, and compared). None when the archive cannot spare a day."""
    if archive is None:
        return None
    try:
        held = archive.days(archive_key(slo))
    except SourceError:
        return None
    complete = set(held.loc[held["complete"].astype(bool), "day"])
    day, newest = first.floor("D"), None
    while day in complete and day + 2 * DAY <= end:
        newest, day = day, day + DAY
    return newest


def complete_from_archive(archive: ArchiveSource | None, slo: SLO, events: pd.DataFrame,
                          data_starts_at: pd.Timestamp | None, first: pd.Timestamp,
                          history_from: pd.Timestamp | None = None,
                          reused_until: pd.Timestamp | None = None,
                          baselines_until: pd.Timestamp | None = None) -> WithArchive:
    """Complete `events` (the source's minutes after `first`) from the archive: the days up to the one in which
    the source's data starts (`data_starts_at`; None = the source holds all of them), or up to `reused_until`
    (the source was asked only for the minutes after it, see `reusable_until`), fill the minutes the source has
    not; for the compliance history, the archived days from `history_from` to `first`. The newest archived day
    the source holds in full is compared with the source's. `baselines_until`: the last minute whose source
    figures rest on baselines (after its data start); the archive's minutes win up to it. Never fails: an
    unreadable archive is a warning."""
    empty = WithArchive(events, ArchivedDays(empty_events()), empty_events())
    if archive is None:
        return empty
    start_day = min(first, history_from or first).floor("D")
    last_missing = data_starts_at.floor("D") if data_starts_at is not None else None
    last_wanted = max(d for d in (last_missing, first.floor("D"), reused_until) if d is not None)
    wanted = list(pd.date_range(start_day, last_wanted, freq="D"))
    try:
        held = archive.days(archive_key(slo))
        newest_full = events["timestamp"].max().floor("D") - DAY if len(events) else None
        held_from = max(d for d in (last_missing, first.floor("D") if reused_until is None else reused_until - DAY)
                        if d is not None)
        overlap = [d for d in sorted(held["day"]) if newest_full is not None and d <= newest_full and d > held_from]
        taken = read_days(archive, slo, [*wanted, *overlap[-1:]])
    except SourceError as exc:
        reason = str(exc).splitlines()[0]
        return WithArchive(events, empty.archived, empty.history,
                           [f"{slo.name}: the SLO archive is not used ({reason})"])
    warnings = [f"{slo.name}: {w}" for w in taken.warnings]
    if overlap and overlap[-1] in taken.days and (mismatch := compare_day(taken.events, events, overlap[-1])):
        warnings.append(f"{slo.name}: {mismatch}")
    fill_until = max(d for d in ((last_missing + DAY) if last_missing is not None else None, first, reused_until,
                                 baselines_until) if d is not None)
    minutes = taken.events["timestamp"]
    in_window = taken.events[(minutes > first) & (minutes <= fill_until)].reset_index(drop=True)
    held_by_source = events.loc[events["total"].notna(), "timestamp"]
    if baselines_until is not None:
        held_by_source = held_by_source[held_by_source > baselines_until]
    used = in_window[~in_window["timestamp"].isin(held_by_source) & in_window["total"].notna()]  # the archive's
    window_days = sorted((used["timestamp"] - MINUTE).dt.floor("D").drop_duplicates())
    history = taken.events[minutes <= first].reset_index(drop=True)
    return WithArchive(merge(events, in_window, baselines_until), ArchivedDays(in_window, window_days), history,
                       warnings)


def keep_in_archive(archive: ArchiveSource | None, slo: SLO, events: pd.DataFrame, start: pd.Timestamp,
                    end: pd.Timestamp) -> list[str]:
    """Write the complete UTC days of (start, end] the run computed; a failure is a warning, never fatal."""
    if archive is None:
        return []
    try:
        archive.write(archive_key(slo), archive_definition(slo), slo.name, events, start, end)
    except SourceError as exc:
        return [f"{slo.name}: the SLO archive could not be written ({exc}); the report is complete without it"]
    return []


def with_archive(archive: ArchiveSource | None, slo: SLO, fetched: SLOEvents, first: pd.Timestamp, end: pd.Timestamp, *,
                 history_from: pd.Timestamp | None = None, reused_until: pd.Timestamp | None = None) -> WithArchive:
    """An SLO computation's archive step (the SLO report and the postmortem): the engine's result
    (`events.engine.SLOEvents` over (first, end], or over (reused_until, end] when the archive's days before it
    were reused) completed from the archive, and the complete days it computed kept in it."""
    completed = complete_from_archive(archive, slo, fetched.events, fetched.data_starts_at, first,
                                      history_from=history_from, reused_until=reused_until,
                                      baselines_until=baselines_until(fetched))
    completed.warnings.extend(keep_in_archive(archive, slo, fetched.events, reused_until or first, end))
    return completed


def baselines_until(fetched: SLOEvents) -> pd.Timestamp | None:
    """The last minute of an engine result (`SLOEvents`) whose events rest on baselines: the
    source's oldest sample plus the engine's baseline margin (None when the source held the whole range)."""
    if fetched.data_starts_at is None:
        return None
    window = counters.scrape_window(fetched.scrape_interval_seconds)
    return (fetched.data_starts_at + counters.baseline_margin(window)).ceil("min")

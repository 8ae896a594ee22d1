"""The SLO review (notebooks/slo_review.ipynb): over a long period (the last 12 calendar months by default), per
catalog SLO its budget-significant episodes, how each alerting rule set would have done against them (the
backtest) and what other objectives would have meant (the what-if); `analysis.backtest` holds the rules.

```python
data = slo_review.fetch(run.connect(), run.params)   # per SLO its exact per-minute events: archive + server
review = slo_review.build(data, run.params)          # pure: analysis.backtest.review_slo per SLO
```
Fetches, per ratio objective (thresholdMetric SLOs count no events and are left out, which the first screen says;
a grouped SLO is one objective per group the server lists over the period, `events.groups`, named
`slo{label="value"}` as the SLO report names them, more than `max_groups` groups refused before any event):
the SLO event archive's complete days from the first one the review needs (`backtest.events_needed_from`: the
period's start less the rules' lookback, the 30-day budget and the what-if windows) read once, and the server
asked for the minutes after them (`events.archive.reusable_until`, as the SLO report does: the same request,
so a snapshot made by the SLO report replays the review). When the archive does not hold the first day needed,
the server is asked for the minutes from that one up to the archive's first complete day too: its data (from its
oldest sample, `data_starts_at`) starts the review's, and where it holds none the archive's first day does (said
on the first screen); an SLO without any archived day asks the server for the whole range.

The Prometheus view (`events.prometheus_view`): for every SLO and every rule set `events.rules` can export, each
alert expression is sent as a range query at a one-minute step over the minutes the server holds the rule set's
whole lookback (from its oldest sample, `events.engine.server_data_start` when the archive gave the first days,
plus `RuleSet.lookback`) to the period's end; `build` compares it with the exact backtest on the same minutes
(`compare_views`). A failed query is a warning naming it and that view is not evaluated; the rest stands.

The period covered is (start, end] of the `period` parameter, starting later when the data does: its figures are
over the minutes known. Rule sets: `default` (the SRE workbook's rules), `catalog` (per SLO, the burn-rate
alerting its catalog declares, `catalog_rule_set`; the first screen names the SLOs declaring none), and the
candidate sets of the `candidates` file (a YAML mapping name -> rules, `analysis.backtest.parse_rule_sets`);
`rule_sets` names which of them run (`all`: every one). Correction windows of the catalog (`goreliable/v1
Correction`) apply to the events before the review, as in the SLO report. The what-if evaluates each SLO's own
objective and the `objectives` asked for, over rolling 28 and 30 days, the calendar month and the calendar quarter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.analysis import backtest, correction_windows
from goreliable_lib.analysis.runs import gap_periods
from goreliable_lib.errors import BadInputError, SourceError
from goreliable_lib.events import rules
from goreliable_lib.events.archive import archive_key, known_from, reusable_until, with_archive
from goreliable_lib.events.engine import fetch_slo_events, server_data_start
from goreliable_lib.events.groups import MAX_GROUPS, expand_groups
from goreliable_lib.events.prometheus_view import (
    REASONS,
    UNEXPLAINED,
    agreement,
    disagreements,
    exact_firing,
    prometheus_firing,
)
from goreliable_lib.inputs.catalog import Catalog, SLOObjective, read_catalog, select_objectives
from goreliable_lib.inputs.corrections import Correction, catalog_corrections
from goreliable_lib.inputs.yamlfile import read_yaml
from goreliable_lib.paths import resolve
from goreliable_lib.plots import slo_review as review_plots
from goreliable_lib.plots.format import format_time, md, plural
from goreliable_lib.reports.base import (
    CATALOG_PARAM,
    Param,
    ReportSpec,
    Window,
    check_names,
    check_optional_file,
    common_params,
    file_stem,
    max_groups_param,
    read_file_param,
)
from goreliable_lib.sources.connect import Sources
from goreliable_lib.sources.memo import Memo
from goreliable_lib.timeutil import DAY, MINUTE, parse_time, to_rfc3339

#: The rule-set names the report knows besides the candidates.
DEFAULT, CATALOG = "default", "catalog"
ALL = "all"
_MONTHS = re.compile(r"^(\d{1,2})M$")
_DAYS = re.compile(r"^(\d{1,4})d$")
_SPAN = re.compile(r"^(\d{4})-(\d{2})\.\.(\d{4})-(\d{2})$")
#: The Prometheus view's rows (`compare_views`).
VIEW_COLUMNS = ["slo", "rule_set", "start", "end", "severity", "minutes_compared", "minutes_exact",
                "minutes_prometheus", "disagreements"]
#: The longest period a review takes (the archive's Parquet holds years; a review page reads best within three).
MAX_MONTHS = 36


# --------------------------------------------------------------------------------------------- data and fetch
def period_bounds(period: str, end: pd.Timestamp, *, field_name: str = "period") -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period (start, end] asked for, in UTC: `12M` the last 12 calendar months, the month holding `end` (to
    date) the last of them, or, when `end` falls within a month's first day, the 12 whole months before it (ending
    at its start); `2026-01..2026-11` those months whole (ending at `end` at the latest); `90d` the 90 days
    before `end`. BadInputError naming the field."""
    text = str(period).strip()
    end = pd.Timestamp(end).floor("min")
    if match := _MONTHS.match(text):
        months = int(match.group(1))
        if not 1 <= months <= MAX_MONTHS:
            raise BadInputError(f"{field_name}: {text!r}: between 1M and {MAX_MONTHS}M")
        month = (end - MINUTE).tz_convert("UTC").tz_localize(None).to_period("M")
        month_start = month.start_time.tz_localize("UTC")
        if end - month_start < DAY:  # run on a month's first day (the quarterly CronJob): the months just ended
            month, end = month - 1, month_start
        return (month - (months - 1)).start_time.tz_localize("UTC"), end
    if match := _DAYS.match(text):
        days = int(match.group(1))
        if not 1 <= days <= MAX_MONTHS * 31:
            raise BadInputError(f"{field_name}: {text!r}: between 1d and {MAX_MONTHS * 31}d")
        return end - days * DAY, end
    if match := _SPAN.match(text):
        first, last = (pd.Period(f"{y}-{m}", "M") for y, m in (match.group(1, 2), match.group(3, 4)))
        if not (1 <= first.month <= 12 and 1 <= last.month <= 12) or last < first:
            raise BadInputError(f"{field_name}: {text!r}: the first month must not come after the last")
        if (last - first).n + 1 > MAX_MONTHS:
            raise BadInputError(f"{field_name}: {text!r}: at most {MAX_MONTHS} months")
        start = first.start_time.tz_localize("UTC")
        stop = min((last + 1).start_time.tz_localize("UTC"), end)
        if stop <= start:
            raise BadInputError(f"{field_name}: {text!r} starts after the report's end {to_rfc3339(end)}")
        return start, stop
    raise BadInputError(f"{field_name}: {period!r} is not a period: use 12M (the last 12 calendar months), "
                        "2026-01..2026-11 (months) or 90d (days)")


def read_candidates(path: str | None) -> list[backtest.RuleSet]:
    """The candidate rule sets of the `candidates` file (none: no file)."""
    if not path:
        return []
    return backtest.parse_rule_sets(read_yaml(resolve(Path(path)), what="candidate rule sets", shown=str(path)),
                                    field=str(path))


def catalog_rule_set(objective: SLOObjective) -> backtest.RuleSet | None:
    """The `catalog` rule set of one SLO: the burn-rate alerting its catalog declares (Pyrra, Sloth, OpenSLO
    `alertPolicies`: `SLO.alerting`); None when it declares none the kit reads, or declares its alerts disabled."""
    alerting = objective.slo.alerting
    return backtest.declared_rule_set(alerting) if alerting else None


def chosen_rule_sets(names: Any, candidates: Sequence[backtest.RuleSet]) -> tuple[list[backtest.RuleSet], bool]:
    """The rule sets `rule_sets` names, in the order default, candidates (`all`: every one), and whether `catalog`
    (each SLO's declared alerting, `catalog_rule_set`) was asked for. BadInputError for a name that is none of
    them."""
    known = {DEFAULT: backtest.DEFAULT_RULE_SET, **{c.name: c for c in candidates}}
    wanted = [DEFAULT, CATALOG, *known] if names in (None, ALL) else list(names)
    unknown = [n for n in wanted if n not in known and n != CATALOG]
    if unknown:
        raise BadInputError(f"rule_sets: {', '.join(map(repr, unknown))} is not a rule set (known: "
                            f"{', '.join([DEFAULT, CATALOG, *(c.name for c in candidates)])}; candidates come from the "
                            "`candidates` file)")
    chosen = [known[n] for n in dict.fromkeys(wanted) if n in known]
    return chosen, CATALOG in wanted


@dataclass
class PrometheusView:
    """One rule set of one SLO as the server evaluates it (`events.prometheus_view.prometheus_firing`) over the
    minutes (start, end], or why it was not evaluated (`firing` None, `reason`)."""

    rule_set: backtest.RuleSet
    start: pd.Timestamp
    end: pd.Timestamp
    firing: dict[str, pd.Series] | None = None
    reason: str | None = None


@dataclass
class SLOEventsFetched:
    """One SLO's events for the review: completed from the archive, where they are known from, what each
    source held, and the Prometheus view of its rule sets."""

    objective: SLOObjective
    events: pd.DataFrame  # the server's minutes and the archive's, over (first, end]
    first: pd.Timestamp  # the first minute the events were asked from (exclusive)
    data_from: pd.Timestamp | None  # after this minute the events are known (None: from `first`)
    server_ranges: list[tuple[pd.Timestamp, pd.Timestamp]]  # the server was asked for these (from, to]
    server_start: pd.Timestamp | None = None  # the server's oldest sample (None: before `first`)
    resets: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([], tz="UTC"))  # the server's
    births: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([], tz="UTC"))  # new series, too
    warnings: list[str] = field(default_factory=list)
    views: list[PrometheusView] = field(default_factory=list)

    def server_minutes(self) -> pd.DataFrame:
        """The events of the minutes the server was asked for."""
        stamps = self.events["timestamp"]
        inside = np.zeros(len(stamps), dtype=bool)
        for low, high in self.server_ranges:
            inside |= ((stamps > low) & (stamps <= high)).to_numpy()
        return self.events[inside]


@dataclass
class ReviewData:
    """What the review fetched: the catalog, the period asked for, the rule sets and per SLO its events."""

    catalog: Catalog
    start: pd.Timestamp
    end: pd.Timestamp
    period: str
    rule_sets: list[backtest.RuleSet]
    catalog_asked: bool  # the `catalog` rule set was asked for (each SLO's own: `catalog_rule_set`)
    objectives: list[float]
    slos: dict[str, SLOEventsFetched] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # thresholdMetric SLOs (no events)
    corrections: list[Correction] = field(default_factory=list)

    def rule_sets_of(self, objective: SLOObjective) -> list[backtest.RuleSet]:
        """The rule sets evaluated for one SLO: those asked for, and its declared alerting when `catalog` was."""
        declared = catalog_rule_set(objective) if self.catalog_asked else None
        return [*self.rule_sets, *filter(None, [declared])]

    def covered_start(self, fetched: SLOEventsFetched) -> pd.Timestamp:
        """The start of the period one SLO's data covers: the period's, or later where its data starts later."""
        start = max(self.start, fetched.data_from) if fetched.data_from is not None else self.start
        return min(start.ceil("min"), self.end - MINUTE)


def _first_archived_day(sources: Sources, objective: SLOObjective, after: pd.Timestamp) -> pd.Timestamp | None:
    """The first complete archived day of an SLO at or after `after`'s day (None: none, or no archive)."""
    if sources.archive is None:
        return None
    try:
        held = sources.archive.days(archive_key(objective))
    except SourceError:
        return None
    days = sorted(d for d in held.loc[held["complete"].astype(bool), "day"] if d >= after.floor("D"))
    return days[0] if days else None


def _sampled(events: pd.DataFrame) -> bool:
    return bool(events["total"].notna().any())


def fetch_events(sources: Sources, prometheus: Memo, objective: SLOObjective, needed: pd.Timestamp,
                 end: pd.Timestamp) -> SLOEventsFetched:
    """One SLO's per-minute events over (needed, end]: the archive's complete days read once, the server asked for
    the minutes after them and, when the archive starts after `needed`, for the minutes before its first day too
    (see the module docstring); and where the server's data starts."""
    first, early = needed, None
    reuse = reusable_until(sources.archive, objective, first, end)
    if reuse is None and (archived := _first_archived_day(sources, objective, first)) is not None:
        reuse = reusable_until(sources.archive, objective, archived, end)
        if reuse is not None:  # the archive starts late: the server may hold the days before its first one
            first = archived
            early = fetch_slo_events(prometheus, objective, needed, archived, lookback=pd.Timedelta(0))
    server_from = reuse or first
    fetched = fetch_slo_events(prometheus, objective, server_from, end, lookback=pd.Timedelta(0))
    completed = with_archive(sources.archive, objective, fetched, first, end, reused_until=reuse)
    _, covered = known_from(fetched, completed)
    data_from: pd.Timestamp | None = max(first, covered) if covered is not None else first
    events, ranges, found = completed.events, [(server_from, end)], [fetched]
    if early is not None and _sampled(early.events):  # the server's days before the archive's first
        events = pd.concat([early.events, events], ignore_index=True)
        data_from = early.covered_from
        ranges.insert(0, (needed, first))
        found.insert(0, early)
        server_start = early.data_starts_at
    elif fetched.data_starts_at is not None or server_from <= needed:
        server_start = fetched.data_starts_at
    else:  # the archive gave the first days: ask where the server's own data starts
        server_start = server_data_start(prometheus, objective, needed, server_from)
    if data_from is not None and data_from <= needed:
        data_from = None
    resets, births = (pd.DatetimeIndex(pd.concat([getattr(f, facts)["timestamp"] for f in found]).sort_values())
                      for facts in ("resets", "new_series"))
    return SLOEventsFetched(objective, events, needed, data_from, ranges, server_start, resets, births,
                            list(completed.warnings))


def fetch_views(prometheus: Memo, data: ReviewData, fetched: SLOEventsFetched) -> list[PrometheusView]:
    """The Prometheus view of each rule set of one SLO (`events.prometheus_view.prometheus_firing`): over the
    minutes of its period at which the server holds the rule set's longest window and `for` (`RuleSet.lookback`)
    from its oldest sample on. A rule set `events.rules` cannot express, a server without any sample of the SLO
    and a failed range query (a warning naming it) leave the view not evaluated, with the reason."""
    objective, views = fetched.objective, []
    held = _sampled(fetched.server_minutes())
    for rule_set in data.rule_sets_of(objective):
        start = data.covered_start(fetched)
        if fetched.server_start is not None:
            start = max(start, (fetched.server_start + rule_set.lookback).ceil("min"))
        view = PrometheusView(rule_set, start, data.end)
        views.append(view)
        try:
            rules.expressible(objective)
        except BadInputError as exc:
            view.reason = f"not exported as Prometheus rules: {exc}"
            continue
        if not held:
            view.reason = "the server holds no sample of the SLO in the period"
        elif start >= data.end:
            view.reason = (f"the server's data (from {format_time(fetched.server_start)}) is shorter than the rule "
                           f"set's longest window and for ({backtest.window_text(rule_set.lookback)})")
        else:
            try:
                view.firing = prometheus_firing(prometheus, objective, rule_set, start, data.end)
            except SourceError as exc:
                view.reason = f"unavailable: {str(exc).splitlines()[0]}"
                fetched.warnings.append(f"{objective.name}: the Prometheus view of rule set {rule_set.name} is "
                                        f"unavailable: {exc}")
    return views


def fetch(sources: Sources, params: Mapping[str, Any]) -> ReviewData:
    """Every request of the review, through one `Memo` of `sources.prometheus` (`params`: catalog, period, services,
    rule_sets, candidates, objectives, max_groups, end): a grouped SLO's groups first (`events.groups`), then per
    SLO (per group) its events and the Prometheus view of its rule sets."""
    catalog = read_catalog(params.get("catalog", CATALOG_PARAM.default))
    end = parse_time(params.get("end", "now"), sources.now(), field="end").floor("min")
    start, stop = period_bounds(params.get("period") or "12M", end)
    rule_sets, catalog_asked = chosen_rule_sets(params.get("rule_sets"), read_candidates(params.get("candidates")))
    targets = backtest.parse_objectives(params.get("objectives") or [])
    data = ReviewData(catalog, start, stop, str(params.get("period") or "12M"), rule_sets, catalog_asked, targets,
                      corrections=catalog_corrections(catalog))
    needed = backtest.events_needed_from(start, rule_sets)
    prometheus = Memo(sources.prometheus)
    counted = []
    for objective in select_objectives(catalog.slos, params.get("services")):
        if objective.threshold is not None:
            data.left_out.append(objective.name)
        else:
            counted.append(objective)
    counted = expand_groups(prometheus, counted, {o.name: (needed, stop) for o in counted},
                            int(params.get("max_groups") or MAX_GROUPS))
    for objective in counted:
        fetched = data.slos[objective.name] = fetch_events(sources, prometheus, objective, needed, stop)
        fetched.views = fetch_views(prometheus, data, fetched)
    return data


# --------------------------------------------------------------------------------------------- the report
@dataclass
class SLOReviewReport:
    """Everything the review's notebook shows: per SLO its `backtest.SLOReview` over the period it covers."""

    data: ReviewData
    reviews: list[backtest.SLOReview]
    covered: dict[str, tuple[pd.Timestamp, pd.Timestamp]]  # per SLO: the period its data covers
    days: dict[str, dict[str, int]]  # per SLO: days with data in the period, from the archive, from the server
    title: str = "SLO review"
    warnings: list[str] = field(default_factory=list)
    without_alerting: list[str] = field(default_factory=list)  # SLOs whose catalog declares no alerting the kit reads
    views: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VIEW_COLUMNS))  # `compare_views`
    views_not_evaluated: list[dict[str, Any]] = field(default_factory=list)  # {slo, rule_set, reason}

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self.start, self.data.end

    @property
    def start(self) -> pd.Timestamp:
        """The start of the period covered (the latest SLO's, when the data starts after the period asked for)."""
        return min((start for start, _ in self.covered.values()), default=self.data.start)

    @property
    def days_with_data(self) -> int:
        """Days of the period on which some SLO has a sampled minute."""
        return max((d["days"] for d in self.days.values()), default=0)

    def review(self, slo: str) -> backtest.SLOReview:
        return next(r for r in self.reviews if r.slo == slo)

    def rows(self) -> list[tuple[str, str]]:
        """(rule set, severity) in the order the rule sets were asked for."""
        return [(rs.name, severity) for rs in self.data.rule_sets for severity in rs.severities]

    def backtest_table(self) -> pd.DataFrame:
        """The rule sets ranked per SLO and severity (recall, then precision, then the fewest alerts)."""
        frames = [r.backtest for r in self.reviews if len(r.backtest)]
        return review_plots.ranking_frame(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=[*backtest.SCORE_COLUMNS, "slo"]))

    def episodes_table(self) -> pd.DataFrame:
        frames = [r.episodes[["slo", "start", "end", "minutes", "bad_events", "budget_consumed", "ongoing"]]
                  for r in self.reviews if len(r.episodes)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["slo", "start", "end", "minutes", "bad_events", "budget_consumed", "ongoing"])

    def alerts_table(self) -> pd.DataFrame:
        frames = [r.alerts[["slo", "rule_set", "severity", "start", "end", "ongoing", "matching"]]
                  for r in self.reviews if len(r.alerts)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["slo", "rule_set", "severity", "start", "end", "ongoing", "matching"])

    def what_if_table(self) -> pd.DataFrame:
        frames = [r.what_if for r in self.reviews if len(r.what_if)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=backtest.WHAT_IF_COLUMNS)

    def prometheus_view_table(self) -> pd.DataFrame:
        """Per SLO, rule set and severity: the minutes compared (from `start`), those each view fires, and the
        disagreeing ones by reason (one column each)."""
        counts = pd.DataFrame([dict(d) for d in self.views["disagreements"]],
                              columns=[*REASONS, UNEXPLAINED], index=self.views.index).fillna(0).astype(int)
        return pd.concat([self.views.drop(columns=["disagreements", "end"]), counts], axis=1)

    def prometheus_view_text(self) -> str:
        """The first screen's sentence on the Prometheus view: how many minutes agree, and why the others do not."""
        if not len(self.views):
            reasons = sorted({f"{md(n['rule_set'])}: {md(str(n['reason']))}" for n in self.views_not_evaluated})
            return ("**Prometheus' view**: not evaluated" + (f" ({'; '.join(reasons[:3])}"
                                                             f"{'; ...' if len(reasons) > 3 else ''})" if reasons
                                                             else "") + ".")
        compared = int(self.views["minutes_compared"].sum())
        counts = {reason: sum(int(d[reason]) for d in self.views["disagreements"]) for reason in (*REASONS,
                                                                                                   UNEXPLAINED)}
        others = sum(counts.values())
        text = (f"**Prometheus' view**: Prometheus' rate()-based rules agree with the exact backtest on "
                f"{compared - others:,} of {compared:,} minutes (each SLO, rule set and severity over the days the "
                f"server holds)")
        if others:
            words = {"edge": "at an alert's edge (rate() extrapolates to its window's edges)",
                     "new_series": "after a new series was born",
                     "reset": "after a counter reset", "gap": "after a scrape gap", UNEXPLAINED: "unexplained"}
            text += f"; the {others:,} others are " + ", ".join(f"{n:,} {words[r]}" for r, n in counts.items() if n)
        text += "."
        if self.views_not_evaluated:
            text += (f" Not evaluated: {plural(len(self.views_not_evaluated), 'SLO rule set')} "
                     f"({', '.join(sorted({md(n['rule_set']) for n in self.views_not_evaluated}))}: see the table's "
                     "notes).")
        return text

    def views_not_evaluated_markdown(self) -> str:
        """The rule sets the Prometheus view left out, per SLO, and why."""
        return "\n".join(f"- {md(n['slo'])}, `{md(n['rule_set'])}`: {md(str(n['reason']))}"
                         for n in self.views_not_evaluated)

    def what_if_markdown(self, slo: str) -> str:
        """One SLO's what-if in sentences, its own objective first."""
        review = self.review(slo)
        lines = [f"**What if** ({md(slo)}, objective {review_plots.target_text(review.objective)}):"]
        lines += [f"- {review_plots.what_if_sentence(row)}" for row in review.what_if.to_dict("records")]
        return "\n".join(lines)

    def timeline(self, slo: str) -> go.Figure:
        review = self.review(slo)
        return review_plots.review_timeline(review.episodes, review.alerts, review.start, review.end, self.rows(),
                                            title=f"{slo}: episodes and alert periods")

    def figure_name(self, slo: str) -> str:
        return f"{file_stem(slo)}_timeline"

    def headline(self) -> str:
        """The first screen: what the review covers, what it found, how Prometheus' own evaluation compares, where
        its data comes from, the episode definition."""
        asked, covered_from = self.data.start, self.start
        lines = [f"# {md(self.title)}", "",
                 f"**Period**: {format_time(covered_from)} to {format_time(self.data.end)} "
                 f"({plural(self.days_with_data, 'day')} with data)"
                 + (f"; `{md(self.data.period)}` asked from {format_time(asked)}, but the data starts later"
                    if covered_from > asked else "") + ".",
                 f"**SLOs**: {len(self.reviews)}"
                 + (f" (left out, no events to count: {md(', '.join(self.data.left_out))})"
                    if self.data.left_out else "") + "."]
        episodes = self.episodes_table()
        lines.append(f"**Found**: {plural(len(episodes), 'episode')} across "
                     f"{plural(episodes['slo'].nunique() if len(episodes) else 0, 'SLO')}.")
        lines.append(self.prometheus_view_text())
        archive = max((d["archive"] for d in self.days.values()), default=0)
        server = max((d["server"] for d in self.days.values()), default=0)
        lines.append(f"**Data**: the SLO event archive gave {plural(archive, 'day')}, the server "
                     f"{plural(server, 'day')} (exact per-minute events; a day in both counts once, the server's).")
        lines.append(f"**Rule sets**: {', '.join(f'`{md(rs.name)}`' for rs in self.data.rule_sets)}.")
        if self.without_alerting:
            lines.append("**No alerting declared** (Pyrra `alerting`, Sloth `page_alert`/`ticket_alert`, OpenSLO "
                         "`alertPolicies` with a burn-rate condition) for "
                         f"{', '.join(md(n) for n in self.without_alerting)}: the `catalog` rule set is "
                         + ("evaluated for the other SLOs only." if len(self.without_alerting) < len(self.reviews)
                            else "not evaluated (no SLO of the catalog declares any)."))
        lines.append(f"**Episode**: a run of minutes burning faster than {backtest.BURN_THRESHOLD:g}x the objective's "
                     f"pace, pauses under {int(backtest.JOIN_GAP / MINUTE)} min joined, kept when it spends at least "
                     f"{backtest.MIN_BUDGET_SHARE:.0%} of the 30-day error budget (defined without any alert rule).")
        if self.data.corrections:
            lines.append(f"**Corrections**: {plural(len(self.data.corrections), 'correction window')} of the catalog "
                         "applied (their minutes count no events).")
        return "\n\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """The slo-review block of summary.json (DESIGN.md `period`, `episodes`, `backtest`, `what_if`)."""
        blocks: dict[str, list[dict[str, Any]]] = {"episodes": [], "backtest": [], "what_if": []}
        for review in self.reviews:
            for key, entries in review.summary().items():
                blocks[key].extend(entries)
        return {"period": {"start": to_rfc3339(self.start), "end": to_rfc3339(self.data.end),
                           "days_with_data": self.days_with_data, "asked": self.data.period,
                           "asked_start": to_rfc3339(self.data.start)},
                **blocks,
                "rule_sets": [{"name": rs.name, "rules": [
                    {"severity": r.severity, "long": r.long_window, "short": r.short_window, "factor": r.burn_rate,
                     "for_seconds": int(r.for_.total_seconds())} for r in rs.rules]} for rs in self.data.rule_sets],
                "not_evaluated": [CATALOG] if self.data.catalog_asked and len(self.without_alerting) == len(
                    self.reviews) else [],
                "episode_definition": {"burn_threshold": backtest.BURN_THRESHOLD,
                                       "join_gap_seconds": int(backtest.JOIN_GAP.total_seconds()),
                                       "min_budget_share": backtest.MIN_BUDGET_SHARE},
                "prometheus_view": [
                    {"slo": row["slo"], "rule_set": row["rule_set"], "severity": row["severity"],
                     "start": to_rfc3339(row["start"]), "end": to_rfc3339(row["end"]),
                     **{k: int(row[k]) for k in ("minutes_compared", "minutes_exact", "minutes_prometheus")},
                     "disagreements": {k: int(v) for k, v in row["disagreements"].items()}}
                    for row in self.views.to_dict("records")],
                "prometheus_view_not_evaluated": list(self.views_not_evaluated),
                "slos": [{"name": r.slo, "objective": r.objective, "start": to_rfc3339(r.start),
                          "end": to_rfc3339(r.end), **self.days[r.slo]} for r in self.reviews],
                "warnings": list(self.warnings)}


# --------------------------------------------------------------------------------------------- build
def _days(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> set[pd.Timestamp]:
    """The UTC days of (start, end] with a sampled minute."""
    minutes = events.loc[(events["timestamp"] > start) & (events["timestamp"] <= end) & events["total"].notna(),
                         "timestamp"]
    return set((minutes - MINUTE).dt.floor("D"))


def compare_views(fetched: SLOEventsFetched) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """One SLO's Prometheus views beside the exact backtest on the same (uncorrected: Prometheus does not know the
    corrections) events and minutes: per rule set and severity, `events.prometheus_view.agreement`'s row with
    `slo`, `rule_set`, `start`, `end`; and the rule sets not evaluated, with the reason."""
    objective, events = fetched.objective, fetched.events
    minutes = pd.date_range(fetched.first + MINUTE, events["timestamp"].max(), freq="min") if len(events) else \
        pd.DatetimeIndex([], tz="UTC")
    total = events.drop_duplicates("timestamp").set_index("timestamp")["total"].reindex(minutes)
    gaps = gap_periods(total, not_before=fetched.data_from)  # where rate() has no sample (the archive's days too)
    frames, not_evaluated = [], []
    for view in fetched.views:
        if view.firing is None:
            not_evaluated.append({"slo": objective.name, "rule_set": view.rule_set.name, "reason": view.reason})
            continue
        exact = exact_firing(events, objective.objective, view.rule_set, view.start, view.end, fetched.data_from)
        differ = disagreements(exact, view.firing, view.rule_set, resets=fetched.resets, gaps=gaps,
                                 births=fetched.births)
        frames.append(agreement(exact, view.firing, differ).assign(
            slo=objective.name, rule_set=view.rule_set.name, start=view.start, end=view.end))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=VIEW_COLUMNS))[VIEW_COLUMNS], \
        not_evaluated


def build(data: ReviewData, params: Mapping[str, Any]) -> SLOReviewReport:
    """The review from what `fetch` returned (pure): per SLO, its events corrected, `backtest.review_slo` over the
    part of the period its data covers, and its Prometheus views beside the exact backtest (`compare_views`)."""
    reviews, covered, days, warnings, without_alerting = [], {}, {}, [], []
    view_frames, views_not_evaluated = [], []
    for name, fetched in data.slos.items():
        objective = fetched.objective
        corrected = correction_windows.apply_corrections(
            fetched.events, [c for c in data.corrections if c.applies_to(objective)])
        start = data.covered_start(fetched)
        covered[name] = (start, data.end)
        if data.catalog_asked and catalog_rule_set(objective) is None:
            without_alerting.append(name)
        reviews.append(backtest.review_slo(corrected.events, slo=name, objective=objective.objective, start=start,
                                           end=data.end, rule_sets=data.rule_sets_of(objective),
                                           objectives=list(dict.fromkeys([objective.objective, *data.objectives])),
                                           known_from=fetched.data_from))
        all_days = _days(fetched.events, start, data.end)
        server_days = _days(fetched.server_minutes(), start, data.end)
        days[name] = {"days": len(all_days), "archive": len(all_days - server_days), "server": len(server_days)}
        warnings.extend(fetched.warnings)
        if not all_days:
            warnings.append(f"{name}: no events in the period")
        compared, not_evaluated = compare_views(fetched)
        view_frames.append(compared)
        views_not_evaluated.extend(not_evaluated)
    if data.start < min((s for s, _ in covered.values()), default=data.start):
        warnings.append(f"The period asked for starts {format_time(data.start)}; the data (archive and server) "
                        f"starts later: the review covers what is known.")
    views = pd.concat([f for f in view_frames if len(f)], ignore_index=True) if any(len(f) for f in view_frames) \
        else pd.DataFrame(columns=VIEW_COLUMNS)
    return SLOReviewReport(data, reviews, covered, days, title=params.get("title") or SPEC.title, warnings=warnings,
                           without_alerting=without_alerting, views=views, views_not_evaluated=views_not_evaluated)


# --------------------------------------------------------------------------------------------- check
def check_period(value: Any, field_name: str) -> str:
    """`12M`, `2026-01..2026-11` or `90d`."""
    if not isinstance(value, str):
        raise BadInputError(f"{field_name}: expected text like 12M, 2026-01..2026-11 or 90d, got {value!r}")
    period_bounds(value, pd.Timestamp("2026-11-23T06:00:00Z"), field_name=field_name)
    return value.strip()


def check_objectives(value: Any, field_name: str) -> list[float]:
    """What-if targets: a list of ratios or percentages (`[0.9995, "99.9%"]`, or comma-separated text); empty:
    each SLO's own objective only."""
    if value is None or value == "" or value == []:
        return []
    items = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
    return backtest.parse_objectives(items, field=field_name)


def check(values: dict[str, Any]) -> None:
    """The catalog parses, the services exist, the candidates file parses and the rule sets named exist (exit 2
    before any kernel)."""
    catalog = read_file_param("catalog", read_catalog, values["catalog"])
    select_objectives(catalog.slos, values.get("services"))
    candidates = read_file_param("candidates", read_candidates, values.get("candidates"))
    chosen_rule_sets(values.get("rule_sets"), candidates)


# --------------------------------------------------------------------------------------------- window and index
def review_window(params: Mapping[str, Any], now: pd.Timestamp) -> Window:
    """The period asked for, on the clock `now`."""
    end = parse_time(params.get("end", "now"), now=now, field="end").floor("min")
    return period_bounds(params.get("period") or "12M", end)


def index_headline(summary: Mapping[str, Any]) -> str:
    """`6 SLOs, 4 episodes; default page: recall 100%, precision 80%`."""
    episodes = summary.get("episodes") if isinstance(summary.get("episodes"), list) else []
    rows = [r for r in summary.get("backtest") or [] if isinstance(r, Mapping)
            and r.get("rule_set") == DEFAULT and r.get("severity") == "page"]
    recalled = [r["recall"] for r in rows if isinstance(r.get("recall"), int | float)]
    precise = [r["precision"] for r in rows if isinstance(r.get("precision"), int | float)]
    text = f"{len(summary.get('slos') or [])} SLOs, {plural(len(episodes), 'episode')}"
    if recalled or precise:
        text += (f"; default page: recall {review_plots.share_text(min(recalled) if recalled else None)}, "
                 f"precision {review_plots.share_text(min(precise) if precise else None)}")
    return text


# --------------------------------------------------------------------------------------------- spec
SPEC = ReportSpec(
    "slo-review", "notebooks/slo_review.ipynb", "SLO review", (
        *common_params("SLO review"),
        CATALOG_PARAM,
        Param("period", "period", "12M", "the period reviewed: 12M (the last 12 calendar months, this one to date), "
              "2026-01..2026-11 (months), or 90d; it starts later when the archive and the server hold less",
              check_period),
        Param("services", "names", "all", "services or SLO names to include (all, or a list)", check_names),
        max_groups_param("period"),
        Param("rule_sets", "names", ALL, "rule sets to backtest: all, or a list of default, catalog and the names "
              "of the candidates file", check_names),
        Param("candidates", "file", None, "a YAML file of candidate rule sets: name -> list of {severity, long, "
              "short, factor, for} (docs/slo-review.md), or none", check_optional_file),
        Param("objectives", "list", [], "what-if targets besides each SLO's own objective, e.g. [0.9995, '99.9%']",
              check_objectives),
    ), "params/slo-review.yaml", check=check, window=review_window, index_headline=index_headline,
    columns=review_plots.TABLE_COLUMNS, suite_position=None)

__all__ = ["SPEC", "SLOReviewReport", "ReviewData", "build", "check", "fetch", "period_bounds"]

"""Every sentence of the SLO report's pages, in one place (pure): the first screen's lines, the warnings, each SLO's
section. The report (`reports.slo`) decides what to say; this module says it, so one wording serves the page, the
warnings in summary.json and the postmortem's gaps alike, and claims no more than the figures hold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.analysis.counters import WindowData
from goreliable_lib.inputs.catalog import Catalog, SLOObjective
from goreliable_lib.inputs.corrections import Correction
from goreliable_lib.inputs.openslo import DEFAULT_WINDOW
from goreliable_lib.plots.format import md, percent, rate
from goreliable_lib.plots.slo import STATUS_TEXT
from goreliable_lib.timeutil import MINUTE, span_text

DECISION_TEXT = {"features": "FEATURE WORK", "caution": "CAUTION", "reliability": "RELIABILITY WORK",
                 "freeze": "FREEZE", "no_data": "NO DECISION (no data)"}


# --------------------------------------------------------------------------------------------- times
def when_text(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """`2026-11-08 03:10 - 03:39 UTC`, or with both dates when the span crosses midnight."""
    if start.normalize() == end.normalize():
        return f"{start:%Y-%m-%d %H:%M} - {end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC"


# --------------------------------------------------------------------------------------------- warnings
def gap_warning(start: pd.Timestamp, end: pd.Timestamp, minutes: int, who: str, *, carried: bool = True,
                restarts: int = 0) -> str:
    """The first screen's line for one scrape gap (first and last missing minute), claiming no more than holds:
    events are carried into the first sample after the gap only when there is one, and a counter that restarted
    during the gap lost what it counted between its last scrape and the restart."""
    text = f"scrape gap {when_text(start, end)} ({minutes:,} min without samples) in the data of {who}: "
    if not carried:
        return text + ("no sample after it in the window, so the events it held are not in the totals yet; "
                       "burn rates inside it are unknown")
    if restarts:
        return text + (f"the counters carry its events into the first sample after it, except {restarts:,} "
                       f"counter(s) that restarted during it (what they counted between their last scrape and "
                       "the restart is lost, as in Prometheus' increase()); burn rates inside it are unknown")
    return text + ("the counters carry its events into the first sample after it, so the totals stay exact; "
                   "burn rates inside it are unknown")


def partial_window_warning(name: str, facts: WindowData) -> str | None:
    """The first screen's line when the window starts before the data (retention, a new server), else None."""
    if not facts.partial:
        return None
    since = facts.data_starts_at if facts.data_starts_at is not None else facts.covered_from
    return (f"{name}: the server's data starts {since:%Y-%m-%d %H:%M} UTC, after the window's start "
            f"{facts.start:%Y-%m-%d %H:%M} UTC (retention, or a server or service that started later): "
            f"{span_text(facts.covered_span)} of the window's {span_text(facts.end - facts.start)} have data, so "
            f"its figures are partial (SLI, budget and burn rates over the covered part only; nothing is guessed for "
            f"the rest; an alert rule is evaluated only once its long window lies in the data)")


def coverage_warning(name: str, coverage: float) -> str:
    return f"{name}: coverage {coverage:.2%} of the window's minutes had data"


def no_data_warning(name: str) -> str:
    return f"{name}: no events in the window (no data, not 100%)"


def empty_slices_warning(name: str, without_events: int, slices: int, query: str) -> str:
    return f"{name}: {without_events} of {slices} slices have no value (no data: neither good nor bad): {query}"


def drifting_now_warning(model: str) -> str:
    return f"model drift detected now: {model}"


def large_correction_warning(name: str, correction: str, minutes: int, share: float, limit: float) -> str:
    """An SLO whose window a correction covers for more than `limit` of its minutes."""
    return (f"{name}: correction {correction} leaves out {minutes:,} min, {percent(share, 1)} of the window (more "
            f"than {percent(limit, 0)}): its figures stand for the rest of the window only")


def threshold_correction_warning(name: str, corrections: Sequence[str]) -> str:
    """A thresholdMetric objective a correction names: it counts values per slice, not events, and is not corrected."""
    return (f"{name}: correction {', '.join(corrections)} not applied (a thresholdMetric objective counts no "
            "events: its slices stand as measured)")


# --------------------------------------------------------------------------------------------- the first screen
def policy_heading(title: str, policy: dict[str, str]) -> list[str]:
    """The title, the error-budget policy's decision and its reason."""
    decision = DECISION_TEXT.get(policy["decision"], policy["decision"])
    return [f"# {md(title)}", "", f"## Error-budget policy: **{md(decision)}**", "", md(policy["reason"])]


def status_sentence(start: pd.Timestamp, end: pd.Timestamp, statuses: Sequence[str]) -> str:
    """`Window ... to ... UTC, 6 SLOs: 4 ok, **1 at risk**, ...` (the statuses that need a look in bold)."""
    counts = {s: sum(status == s for status in statuses) for s in STATUS_TEXT}
    return (f"Window {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, {len(statuses)} SLOs: "
            + ", ".join(f"**{counts[s]} {text}**" if counts[s] and s != "ok" else f"{counts[s]} {text}"
                        for s, text in STATUS_TEXT.items()) + ".")


def no_data_sentence(names: Sequence[str]) -> str:
    return (f"**No data** for {md(', '.join(names))}: no events in the window. Shown as *no data*, never as 100%, "
            "and left out of the policy decision.")


def cost_sentence(services_map: str, notes: dict[str, str | None], *, fetched: bool) -> str:
    """What the table's cost per million good requests is, and the rows without one and why (`notes`: row -> why
    it has none, None when it has one)."""
    text = (f"**Cost per million good requests**: the window's cost of the SLO's service ({md(services_map)}, idle "
            "shared) / its good events x 1,000,000.")
    if not fetched:
        return text + " Not available: no cost data (see the warnings)."
    reasons: dict[str, list[str]] = {}
    for name, note in notes.items():
        if note is not None:
            reasons.setdefault(note, []).append(name)
    if not reasons:
        return text
    return text + " Not shown for " + "; ".join(f"{md(', '.join(names))} ({md(note)})"
                                          for note, names in reasons.items()) + "."


def alert_sentence(alerts: pd.DataFrame) -> str:
    """`page: api-gateway-availability 2 periods from 2026-11-11 14:24 UTC (peak 167x); ticket: ...`."""
    parts = []
    for severity in ("page", "ticket"):
        own = alerts[alerts["severity"] == severity]
        per_slo = [f"{md(slo)} {len(rows)} period(s) from {rows['start'].min():%Y-%m-%d %H:%M} UTC "
                   f"(peak {rows['peak_burn_rate'].max():.0f}x)" for slo, rows in own.groupby("slo", sort=False)]
        parts.append(f"{severity}: " + ("; ".join(per_slo) if per_slo else "none"))
    return "**Alerts** that would have fired: " + ". ".join(parts) + "."


def drift_sentence(periods: pd.DataFrame, drifting_now: Sequence[str]) -> str:
    """The drift episodes in the window and the models drifting now."""
    episodes = "; ".join(f"{md(e.model)} {when_text(e.start, e.end)}" for e in periods.itertuples(index=False))
    now = [md(model) for model in drifting_now]
    return ("**Model drift**: " + (f"in the window {episodes}" if episodes else "none in the window") + "; "
            + (f"**drifting now: {', '.join(now)}**" if now else "no model drifts now") + ".")


def data_sentence(lowest_coverage: float, distinct_gaps: int, counter_resets: int) -> str:
    return (f"**Data**: lowest coverage {percent(lowest_coverage, 2)} of the window's minutes; {distinct_gaps} "
            f"distinct scrape gap(s); {counter_resets} counter resets handled (see Data quality).")


def catalog_sentence(catalog: Catalog, objectives: Sequence[SLOObjective], window: str, *, own_windows: bool) -> str:
    """`**Catalog** params/x.yaml (Pyrra ...): 7 objectives of 6 SLOs; window 30d for every SLO; ...`
    (`own_windows`: each SLO over its own timeWindow, the report's `window=catalog`)."""
    slos = len({o.slo_name for o in objectives})
    text = (f"**Catalog** `{catalog.path}` ({', '.join(catalog.source_formats)}): {len(objectives)} "
            f"objective{'s' if len(objectives) != 1 else ''} of {slos} SLO{'s' if slos != 1 else ''}")
    if own_windows:
        defaulted = sorted({o.slo_name for o in objectives if not o.window_given})
        text += "; each over its own timeWindow"
        if defaulted:
            text += f"; **no timeWindow** for {', '.join(defaulted)}: {DEFAULT_WINDOW} rolling, the kit's default"
    else:
        own = sorted({f"{o.slo_name} ({o.time_window.describe()})" for o in objectives
                      if o.window_given and o.time_window.describe() != f"{window} rolling"})
        text += f"; window {window} for every SLO"
        if own:
            text += f" (their own windows apply with window=catalog: {', '.join(own)})"
    sliced = [o.name for o in objectives if o.time_sliced]
    if sliced:
        text += f"; time slices for {', '.join(sliced)}"
    if grouped := group_counts(objectives):
        text += "; grouped SLOs (a row per group with series in the window): " + ", ".join(
            f"{md(name)} by {', '.join(labels)} ({count} group{'s' if count != 1 else ''})"
            for name, (labels, count) in grouped.items())
    referring = {o.slo_name: o.metric_source_refs for o in objectives if o.metric_source_refs}
    if referring:
        text += "; metric sources by reference (metricSourceRef): " + ", ".join(
            f"{md(name)} -> {md(', '.join(refs))}" for name, refs in referring.items())
    text += "."
    if catalog.notes:
        text += " Read past: " + "; ".join(catalog.notes) + "."
    return text


def group_counts(objectives: Sequence[SLOObjective]) -> dict[str, tuple[tuple[str, ...], int]]:
    """Per grouped SLO (by name): its grouping labels and how many groups it has among `objectives` (0 when the
    server listed none)."""
    counts: dict[str, tuple[tuple[str, ...], int]] = {}
    for objective in objectives:
        if objective.grouped_by is not None:
            labels, count = counts.get(objective.grouped_by, (objective.grouping, 0))
            counts[objective.grouped_by] = (labels, count + (1 if objective.group else 0))
    return counts


def corrections_sentence(applied: Sequence[tuple[Correction, Sequence[tuple[str, dict[str, Any]]]]]) -> str:
    """`**Corrections** ...`: each correction read, its window, reason and author, and the SLOs it left minutes out
    of (`applied`: per correction, (SLO, what it removed) for each SLO whose window it touched)."""
    parts = []
    for correction, hits in applied:
        where = "; ".join(f"{md(slo)} {entry['minutes']:,} min, {entry['total_events']:,.0f} events"
                          for slo, entry in hits) or "no minute of any window"
        parts.append(f"`{md(correction.name)}` ({md(correction.describe())}; {md(correction.reason)}, by "
                     f"{md(correction.author)}): {where}")
    return ("**Corrections** (minutes left out of good and total events alike; the raw figures are in each SLO's "
            "section): " + ". ".join(parts) + ".")


# --------------------------------------------------------------------------------------------- one SLO's section
def raw_and_corrected(result: analysis.SLOResult) -> str:
    """The corrected and the raw SLI and budget side by side, and what each correction removed ('' without)."""
    if not result.corrections:
        return ""
    raw_sli = result.sli if result.sli_raw is None else result.sli_raw
    raw_left = (result.error_budget_remaining if result.error_budget_remaining_raw is None
                else result.error_budget_remaining_raw)
    removed = "; ".join(f"`{md(c['name'])}` {c['minutes']:,} min ({c['total_events'] - c['good_events']:,.0f} bad "
                        f"of {c['total_events']:,.0f} events; {md(c['reason'])})" for c in result.corrections)
    return (f"\n\n| | SLI | error budget left |\n| --- | --- | --- |\n"
            f"| corrected | {percent(result.sli)} | {percent(result.error_budget_remaining, 1)} |\n"
            f"| raw (before corrections) | {percent(raw_sli)} | {percent(raw_left, 1)} |\n\n"
            f"Corrections left out: {removed}.")


def slo_markdown(result: analysis.SLOResult) -> str:
    """The heading and the numbers of one SLO's section."""
    status = STATUS_TEXT.get(result.status, result.status)
    head = f"## {md(result.name)} ({md(result.service)}): {status}"
    corrected = raw_and_corrected(result)
    if result.status == "no_data":
        return (f"{head}\n\nNo events between {result.start:%Y-%m-%d %H:%M} and {result.end:%Y-%m-%d %H:%M} UTC"
                + (" once the corrections are left out: the SLI is unknown (not 100%)." + corrected if corrected else
                   ": the SLI is unknown (not 100%). Check that the service exports the catalog's metrics."))
    rates = ", ".join(f"{w} {rate(v)}" for w, v in result.burn_rates.items())
    pages = int((result.alerts["severity"] == "page").sum())
    tickets = int((result.alerts["severity"] == "ticket").sum())
    if result.slices is not None:
        slices = result.slices
        minutes = f"{slices.window / MINUTE:g}-minute slices"
        rule = (f"good when at least {percent(slices.target, 1)} of its events are good"
                if slices.method == "Timeslices" and not math.isnan(result.total_events) else
                "the mean of the slices' good ratios" if slices.method == "RatioTimeslices"
                else "good when the value meets the threshold")
        counted = (f"{slices.bad:,.0f} bad of {slices.with_events:,} {minutes} ({rule})" if slices.method ==
                   "Timeslices" else f"{slices.with_events:,} {minutes} ({rule})")
        events = ("" if math.isnan(result.total_events) else
                  f"; {result.bad_events:,.0f} bad of {result.total_events:,.0f} events")
        return (f"{head}\n\nSLI **{percent(result.sli)}** against the {percent(result.objective, 1)} "
                f"objective ({slices.method}): {counted}, {slices.without_events:,} slices without events (not "
                f"counted){events}. **{percent(result.error_budget_remaining, 1)}** of the error budget left. "
                f"Burn rates now (in slices): {rates}. Alert periods: {pages} page, {tickets} ticket.{corrected}")
    return (f"{head}\n\nSLI **{percent(result.sli)}** against the {percent(result.objective, 1)} "
            f"objective: {result.bad_events:,.0f} bad of {result.total_events:,.0f} events. "
            f"**{percent(result.error_budget_remaining, 1)}** of the error budget left. "
            f"Burn rates now: {rates}. Alert periods: {pages} page, {tickets} ticket.{corrected}")

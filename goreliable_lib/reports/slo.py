"""Glue of the SLO report (notebooks/slo_report.ipynb): the headline, the per-SLO sections, the tables it exports and
its summary.json block. Numbers come from `slo_data.analyse_catalog` (which uses `analysis.slo`).

```python
run = reports.current_run("slo", parameters={...})
src = run.connect()
analysis = analyse_catalog(src.prometheus, slo_report.catalog_path(catalog), window=window, end=end, services=services)
report = slo_report.build_report(analysis, slo_report.fetch_drift(src.prometheus, analysis))
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.reports import slo_events as slo_data
from goreliable_lib.analysis.slo import ALERT_COLUMNS
from goreliable_lib.paths import resolve
from goreliable_lib.plots import slo as slo_plots
from goreliable_lib.reports.slo_events import SLOAnalysis

#: Drift is detected where the gauge is above this (analyse_catalog's default).
DRIFT_THRESHOLD = 0.5
DECISION_TEXT = {"features": "FEATURE WORK", "caution": "CAUTION", "reliability": "RELIABILITY WORK",
                 "freeze": "FREEZE", "no_data": "NO DECISION (no data)"}


def catalog_path(catalog: str | Path) -> Path:
    """The catalog file; a relative path starts at the project root (where params/ lives), as the runner checks."""
    return resolve(catalog)


def fetch_drift(prometheus: Any, analysis: SLOAnalysis) -> pd.DataFrame:
    """The drift gauge per model over the analysis' span (the same request analyse_catalog made, so a snapshot
    replays it): `timestamp`, `value`, `model`."""
    return slo_data.fetch_model_drift(prometheus, analysis.start, analysis.end)


def drift_periods(drift: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                  threshold: float = DRIFT_THRESHOLD) -> pd.DataFrame:
    """Episodes of detected drift per model: `model`, `start`, `end` = the first and last drift point of each run
    of consecutive points above `threshold` (each point is the gauge's max over the step before it), the same
    times as summary.json's `first_detected_at` / `last_detected_at`."""
    columns = ["model", "start", "end"]
    if drift.empty or slo_data.DRIFT_MODEL_LABEL not in drift.columns:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    drift = drift[(drift["timestamp"] > start) & (drift["timestamp"] <= end)]
    rows = []
    for model, points in drift.sort_values("timestamp").groupby(slo_data.DRIFT_MODEL_LABEL, sort=True):
        detected = (points["value"] > threshold).to_numpy()
        run_id = (detected != pd.Series(detected).shift(fill_value=False).to_numpy()).cumsum()
        for _, episode in points[detected].groupby(run_id[detected]):
            rows.append({"model": str(model), "start": episode["timestamp"].iloc[0],
                         "end": episode["timestamp"].iloc[-1]})
    return pd.DataFrame(rows, columns=columns)


def _gap_warnings(analysis: SLOAnalysis) -> list[str]:
    """One warning per distinct scrape gap, naming the SLOs whose data it hits."""
    hit: dict[tuple[pd.Timestamp, pd.Timestamp, int], list[str]] = {}
    for result in analysis.results:
        if result.status == "no_data":
            continue
        for gap in analysis.gaps(result.name).itertuples(index=False):
            hit.setdefault((gap.start, gap.end, int(gap.minutes)), []).append(result.name)
    names = [r.name for r in analysis.results if r.status != "no_data"]
    return [f"scrape gap {start:%Y-%m-%d %H:%M} - {end:%H:%M} UTC ({minutes} min without samples) in the data of "
            f"{'every SLO' if slos == names and len(names) > 1 else ', '.join(slos)}: the counters carry its events "
            "into the first sample after it, so the totals stay exact; burn rates inside it are unknown"
            for (start, end, minutes), slos in hit.items()]


@dataclass
class SLOReport:
    """Everything the SLO notebook shows."""

    analysis: SLOAnalysis
    drift: pd.DataFrame  # the drift gauge per model
    drift_periods: pd.DataFrame  # model, start, end
    warnings: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[Any]:
        """The per-SLO results (analysis.slo.SLOResult), in catalog order."""
        return self.analysis.results

    def summary_entries(self) -> list[dict[str, Any]]:
        """summary.json's `slos` entries."""
        return [r.summary() for r in self.results]

    def summary_table(self) -> pd.DataFrame:
        """One row per SLO: the numbers of the first screen (exported as slos.csv)."""
        rows = []
        for r in self.results:
            rows.append({"slo": r.name, "service": r.service, "objective": r.objective, "sli": r.sli,
                         "error_budget_remaining": r.error_budget_remaining,
                         **{f"burn_rate_{w}": v for w, v in r.burn_rates.items()},
                         "page_alerts": int((r.alerts["severity"] == "page").sum()),
                         "ticket_alerts": int((r.alerts["severity"] == "ticket").sum()),
                         "good_events": r.good_events, "total_events": r.total_events, "coverage": r.coverage,
                         "status": r.status})
        return pd.DataFrame(rows)

    def alerts_table(self) -> pd.DataFrame:
        """Every alert period of every SLO, oldest first, with an `slo` column."""
        frames = [r.alerts.assign(slo=r.name) for r in self.results if len(r.alerts)]
        if not frames:
            return pd.DataFrame(columns=["slo", *ALERT_COLUMNS])
        table = pd.concat(frames, ignore_index=True)
        table["peak_burn_rate"] = table["peak_burn_rate"].round(2)
        return table[["slo", *ALERT_COLUMNS]].sort_values(["start", "slo"], ignore_index=True)

    def coverage_by_day(self) -> pd.DataFrame:
        """`slo`, `day`, `coverage` for every SLO and UTC day of its window."""
        return pd.concat([r.daily[["day", "coverage"]].assign(slo=r.name) for r in self.results],
                         ignore_index=True)[["slo", "day", "coverage"]]

    def gaps_table(self) -> pd.DataFrame:
        """The scrape gaps inside each SLO's window: `slo`, `start`, `end`, `minutes`."""
        frames = [self.analysis.gaps(r.name).assign(slo=r.name) for r in self.results]
        return pd.concat(frames, ignore_index=True)[["slo", "start", "end", "minutes"]]

    def resets_table(self) -> pd.DataFrame:
        """Counter resets inside each SLO's window, one row per SLO and series: count, first, last."""
        frames = [self.analysis.resets(r.name).assign(slo=r.name) for r in self.results]
        resets = pd.concat(frames, ignore_index=True)
        if resets.empty:
            return pd.DataFrame(columns=["slo", "series", "resets", "first", "last"])
        return (resets.groupby(["slo", "series"], sort=False)["timestamp"]
                .agg(resets="size", first="min", last="max").reset_index())

    def summary(self) -> dict[str, Any]:
        """The slo block of summary.json (DESIGN.md `slos`, `policy`, `model_drift`), plus `warnings` and the
        `data_quality` rows."""
        return {**self.analysis.summary(), "warnings": list(self.warnings),
                "data_quality": self.analysis.data_quality().to_dict("records")}


def build_report(analysis: SLOAnalysis, drift: pd.DataFrame) -> SLOReport:
    """The report from the analysis and the drift gauge; its warnings (no data, low coverage, scrape gaps, drift
    now) go on the first screen and into summary.json."""
    warnings = [*analysis.warnings, *_gap_warnings(analysis)]
    return SLOReport(analysis, drift, drift_periods(drift, analysis.start, analysis.end), warnings)


# --------------------------------------------------------------------------------------------- narrative
def _when(start: pd.Timestamp, end: pd.Timestamp) -> str:
    same_day = start.normalize() == end.normalize()
    return f"{start:%Y-%m-%d %H:%M} - {end:%H:%M}" if same_day else f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M}"


def _alert_sentence(alerts: pd.DataFrame) -> str:
    """`page: api-gateway-availability 2 periods from 2026-11-11 14:24 UTC (peak 167x); ticket: ...`."""
    parts = []
    for severity in ("page", "ticket"):
        own = alerts[alerts["severity"] == severity]
        per_slo = [f"{slo} {len(rows)} period(s) from {rows['start'].min():%Y-%m-%d %H:%M} UTC "
                   f"(peak {rows['peak_burn_rate'].max():.0f}x)" for slo, rows in own.groupby("slo", sort=False)]
        parts.append(f"{severity}: " + ("; ".join(per_slo) if per_slo else "none"))
    return ". ".join(parts) + "."


def headline_markdown(report: SLOReport, title: str | None = None) -> str:
    """The first screen: the policy decision and its reason, the window, the statuses, the alerts that would have
    fired, model drift and what data was missing (Markdown). The warnings follow through `run.warn`."""
    analysis, policy = report.analysis, report.analysis.policy
    counts = {s: sum(r.status == s for r in report.results) for s in slo_plots.STATUS_TEXT}
    lines = [f"# {title or 'SLO report'}", "",
             f"## Error-budget policy: **{DECISION_TEXT.get(policy['decision'], policy['decision'])}**", "",
             policy["reason"], "",
             f"Window {analysis.start:%Y-%m-%d %H:%M} to {analysis.end:%Y-%m-%d %H:%M} UTC, {len(report.results)} "
             "SLOs: " + ", ".join(f"**{counts[s]} {text}**" if counts[s] and s != "ok" else f"{counts[s]} {text}"
                                  for s, text in slo_plots.STATUS_TEXT.items()) + "."]
    if no_data := [r.name for r in report.results if r.status == "no_data"]:
        lines += ["", f"**No data** for {', '.join(no_data)}: no events in the window. Shown as *no data*, never "
                      "as 100%, and left out of the policy decision."]
    lines += ["", "**Alerts** that would have fired: " + _alert_sentence(report.alerts_table())]
    drift = report.analysis.model_drift
    episodes = "; ".join(f"{e.model} {_when(e.start, e.end)} UTC" for e in report.drift_periods.itertuples(index=False))
    now = [d["model"] for d in drift if d["detected_now"]]
    lines += ["", "**Model drift**: " + (f"in the window {episodes}" if episodes else "none in the window") + "; "
              + (f"**drifting now: {', '.join(now)}**" if now else "no model drifts now") + "."]
    quality = analysis.data_quality()
    with_data = [r for r in report.results if r.status != "no_data"]
    lowest = min((r.coverage for r in with_data), default=math.nan)
    gaps, names = report.gaps_table(), [r.name for r in with_data]
    lines += ["", f"**Data**: lowest coverage {slo_plots.percent(lowest, 2)} of the window's minutes; "
              f"{len(gaps[gaps['slo'].isin(names)].drop_duplicates(['start', 'end']))} distinct scrape gap(s); "
              f"{int(quality['counter_resets'].sum())} counter resets handled (see Data quality)."]
    return "\n".join(lines)


def slo_markdown(result: Any) -> str:
    """The heading and the numbers of one SLO's section."""
    status = slo_plots.STATUS_TEXT.get(result.status, result.status)
    head = f"## {result.name} ({result.service}): {status}"
    if result.status == "no_data":
        return (f"{head}\n\nNo events between {result.start:%Y-%m-%d %H:%M} and {result.end:%Y-%m-%d %H:%M} UTC: "
                "the SLI is unknown (not 100%). Check that the service exports the catalog's metrics.")
    rates = ", ".join(f"{w} {slo_plots.rate(v)}" for w, v in result.burn_rates.items())
    pages = int((result.alerts["severity"] == "page").sum())
    tickets = int((result.alerts["severity"] == "ticket").sum())
    return (f"{head}\n\nSLI **{slo_plots.percent(result.sli)}** against the {slo_plots.percent(result.objective, 1)} "
            f"objective: {result.bad_events:,.0f} bad of {result.total_events:,.0f} events. "
            f"**{slo_plots.percent(result.error_budget_remaining, 1)}** of the error budget left. "
            f"Burn rates now: {rates}. Alert periods: {pages} page, {tickets} ticket.")


def slo_figures(report: SLOReport, result: Any) -> dict[str, go.Figure]:
    """The charts of one SLO's section, by figure name (the alert timeline only when an alert would have fired)."""
    thresholds = report.analysis.policy_thresholds
    lines = {f"features > {thresholds.features_above:.0%}": thresholds.features_above,
             f"reliability < {thresholds.reliability_below:.0%}": thresholds.reliability_below,
             f"alert < {thresholds.alert_below:.0%}": thresholds.alert_below}
    figures = {
        f"{result.name}_sli": slo_plots.sli_over_time(result.daily, result.objective, title="SLI per day"),
        f"{result.name}_burndown": slo_plots.budget_burndown(result.burndown, result.start, result.end,
                                                             thresholds=lines, title="Error budget remaining"),
        f"{result.name}_burn_rates": slo_plots.burn_rates(result.burn_rates, title="Burn rates at the window's end"),
    }
    if len(result.alerts):  # no empty chart: the section's text already says "0 page, 0 ticket"
        figures[f"{result.name}_alerts"] = slo_plots.alert_timeline(result.alerts, result.start, result.end,
                                                                    title="When the alerts would have fired")
    return figures


def drift_figure(report: SLOReport) -> go.Figure:
    """The drift timeline of every model the gauge names."""
    models = [d["model"] for d in report.analysis.model_drift]
    now = [d["model"] for d in report.analysis.model_drift if d["detected_now"]]
    return slo_plots.drift_timeline(report.drift_periods, models, report.analysis.start, report.analysis.end,
                                    detected_now=now, title="Model drift (model_drift_detected)")


def drift_table(report: SLOReport) -> pd.DataFrame:
    """Drift status per model (summary.json `model_drift`)."""
    columns = ["model", "detected_in_window", "detected_now", "first_detected_at", "last_detected_at",
               "samples_detected", "last_sample_at"]
    return pd.DataFrame(report.analysis.model_drift, columns=columns)

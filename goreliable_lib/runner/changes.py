"""What changed since the last run: two summary.json mappings of one report -> the changes an SRE reads (pure).

A change is `{kind, subject, before, after, text}` (summary.json `changes`): what moved, what it is about, its value
in the previous run and in this one, and one line saying it (`api-gateway-availability: ok → at_risk (error budget
62.0% → 18.0%, below 50% and 20%)`). Rules, per report:

- slo: per objective (`slos[].name`), in this run's order: `slo_status` when the status changed (ok, at_risk,
  breached, no_data; its text carries the two budgets and the thresholds crossed); else `error_budget` when the
  budget crossed a threshold of the policy (50%, 20%, 10% by default; the catalog's policy when given) downward or
  upward: below 50% means leaving `features` (50% itself is `caution`), below 20% and 10% mean strictly below, as
  in analysis.slo.budget_policy. One change per objective: a drop from 60% to 5% says `below 50%, 20% and 10%`.
  `alert_fired` per objective and severity for alert periods starting after the previous run's window end (its
  objective's window, else the report's): the first start, how many times (periods of the severity's rules that
  overlap or touch are one time: one incident fires 1h/5m and 6h/30m), the peak burn rate, still firing or not.
  `slo_added` / `slo_removed` for objectives in one run only; `policy_decision` when the decision changed (first).
- cost: `budget_status` when a budget's status changed (a budget new in this run only when over or at risk);
  `team_projection` when a team's projected month moved by more than `PROJECTION_SHARE` (10%) of the previous
  projection and by at least `PROJECTION_FLOOR` (one currency unit: cents on an idle team are not news); a team
  without a projection before counts from 0; `cost_anomaly` for an anomaly (scope, day) the previous run did not
  list (before: the usual cost, after: the day's cost).
- dr: for each drill the previous run did not list: `drill_failed` (status `fail` or `aborted`; before: the
  status of the drill before it), `dr_target_failed` per component and metric (RTO, RPO) failing its target that
  the component's previous drill passed (before/after: the two figures, seconds); `dr_regression` for an entry of
  `regressions` the previous run did not list (worse than its trend; not repeated when `dr_target_failed` already
  says it); `drill_missing` for a quarter newly in `missing_quarters` (it ended without a drill).
- postmortem (and any report without rules here): not compared, `previous_run` null. A postmortem describes one
  incident; a run of another incident is not a change of this one, and a re-run of the same incident is a
  correction, not news.

Which run is the previous one (`find_previous_run`): the newest `ok` run of the same report, older than this one
(run ids sort by time), with the same parameters except `IGNORED_PARAMETERS` (`end`, `title`, `notify`: they move
the window, name the page or say whom to tell, not what is measured; a parameter missing from an older summary takes
the report's default) and the same kind of source (`demo`, `live`, `snapshot`: demo data is never compared with
production; a moved endpoint is still the same platform). None: a first run, `previous_run` null and no change.
A failed run is not compared (its figures are partial). `since_last_run_markdown` / `since_last_run_html` draw the
"Since the last run" block (at most `MAX_LINES` lines, then `and M more`) from a summary holding `changes`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import BudgetPolicy
from goreliable_lib.plots.format import format_day, format_seconds, format_time, md, money, percent, rate
from goreliable_lib.reports.registry import REPORT_NAMES, get_report

Change = dict[str, Any]

#: A team's projected month must move by more than this share of the previous projection to be a change.
PROJECTION_SHARE = 0.10
#: ... and by at least this much money (the allocation's currency): a few cents on a tiny team are not news.
PROJECTION_FLOOR = 1.0
#: Parameters that do not change what a run measures: runs differing only in them are compared.
IGNORED_PARAMETERS = frozenset({"end", "title", "notify"})
#: Lines of the "Since the last run" block before `and M more`.
MAX_LINES = 5
ARROW = "→"

FIRST_RUN_TEXT = "First run of this report with these parameters and this source: nothing to compare with."
FAILED_TEXT = "The run failed: its figures are partial and are not compared with the last run."
NOT_COMPARED = {"postmortem": "A postmortem describes one incident: it is not compared with earlier runs."}
#: Every `kind` of change, by report (docs/summary.md, docs/schema/common.json).
KINDS = {
    "slo": ("policy_decision", "slo_status", "error_budget", "alert_fired", "slo_added", "slo_removed"),
    "cost": ("budget_status", "team_projection", "cost_anomaly"),
    "dr": ("drill_failed", "dr_target_failed", "dr_regression", "drill_missing"),
}


def change(kind: str, subject: str, before: Any, after: Any, text: str) -> Change:
    """One entry of summary.json `changes`."""
    return {"kind": kind, "subject": subject, "before": before, "after": after, "text": text}


# ---- which run is the previous one ---------------------------------------------------------------------------

def _defaults(report: str) -> dict[str, Any]:
    """The report's parameter defaults (for a parameter an older summary does not hold); none for a report this
    version does not know."""
    if report not in REPORT_NAMES:
        return {}
    return {p.name: p.default for p in get_report(report).params}


def compared_parameters(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that must match for two runs to be compared: all but `IGNORED_PARAMETERS`, a missing one
    taking the report's default."""
    given = summary.get("parameters") if isinstance(summary.get("parameters"), Mapping) else {}
    merged = {**_defaults(str(summary.get("report"))), **given}
    return {k: v for k, v in merged.items() if k not in IGNORED_PARAMETERS}


def _source_kind(summary: Mapping[str, Any]) -> Any:
    source = summary.get("source")
    return source.get("kind") if isinstance(source, Mapping) else None


def parameter_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What keeps two runs of one report from being compared automatically, in words (`window: 30d → 1M`,
    `source: demo → live`); empty when they are comparable."""
    a, b = compared_parameters(before), compared_parameters(after)
    differences = [f"{k}: {a.get(k)!r} {ARROW} {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if _source_kind(before) != _source_kind(after):
        differences.append(f"source: {_source_kind(before)} {ARROW} {_source_kind(after)}")
    return differences


def could_be_previous(summary: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether `other` (a summary with `run_id`) may be the previous run of `summary`: an `ok` run of the same
    report, older (when `summary` has a run id), with the same compared parameters and source kind."""
    run_id, other_id = summary.get("run_id"), other.get("run_id")
    return (other.get("report") == summary.get("report") and other.get("status") == "ok"
            and isinstance(other_id, str) and not (isinstance(run_id, str) and other_id >= run_id)
            and not parameter_differences(other, summary))


def find_previous_run(summary: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest of `candidates` that `could_be_previous` of `summary`; None when there is none."""
    found = [other for other in candidates if could_be_previous(summary, other)]
    return max(found, key=lambda other: str(other["run_id"])) if found else None


def since_previous(summary: Mapping[str, Any], previous: Mapping[str, Any] | None,
                   policy: BudgetPolicy | None = None) -> dict[str, Any]:
    """summary.json's `previous_run` and `changes` for `summary` against `previous` (from `find_previous_run`):
    null and [] for a first run, a failed run, or a report that is not compared."""
    if previous is None or summary.get("status") != "ok" or not is_compared(summary.get("report")):
        return {"previous_run": None, "changes": []}
    return {"previous_run": previous.get("run_id"), "changes": compare(previous, summary, policy=policy)}


# ---- comparing ----------------------------------------------------------------------------------------------

def compare(before: Mapping[str, Any], after: Mapping[str, Any], *,
            policy: BudgetPolicy | None = None) -> list[Change]:
    """The changes from `before` to `after`, two summaries of one report (BadInputError for two reports); [] for a
    report without rules (the postmortem). `policy`: the error-budget thresholds (the seed's by default)."""
    report = after.get("report")
    if before.get("report") != report:
        raise BadInputError(f"runs of two different reports ({before.get('report')!r} and {report!r}): "
                            "changes are between two runs of one report")
    if report == "slo":
        return slo_changes(before, after, policy or policy_of(after))
    rules = COMPARERS.get(str(report))
    return rules(before, after) if rules is not None else []


def _list(summary: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    value = summary.get(field)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _budget(value: Any) -> str:
    return percent(_number(value), 1)


# ---- slo ------------------------------------------------------------------------------------------------------

def policy_of(summary: Mapping[str, Any]) -> BudgetPolicy:
    """The error-budget thresholds an SLO run was decided with (its `policy.thresholds`), else the seed's."""
    thresholds = (summary.get("policy") or {}).get("thresholds")
    return BudgetPolicy(**thresholds) if isinstance(thresholds, Mapping) else BudgetPolicy()


def _thresholds(policy: BudgetPolicy) -> list[tuple[float, bool]]:
    """(threshold, inclusive): a budget is below it when < it, or <= it for `features_above` (50% is caution)."""
    return [(policy.features_above, True), (policy.reliability_below, False), (policy.alert_below, False)]


def _below(value: float, threshold: float, inclusive: bool) -> bool:
    return value <= threshold if inclusive else value < threshold


def crossings(before: float | None, after: float | None, policy: BudgetPolicy) -> str:
    """The policy thresholds a budget crossed, in words: `below 50% and 20%`, `back above 20%`; "" for none."""
    if before is None or after is None:
        return ""
    down = [t for t, inc in _thresholds(policy) if not _below(before, t, inc) and _below(after, t, inc)]
    up = [t for t, inc in _thresholds(policy) if _below(before, t, inc) and not _below(after, t, inc)]
    crossed, words = (down, "below") if down else (sorted(up, reverse=True), "back above")
    if not crossed:
        return ""
    names = [f"{t:.0%}" for t in crossed]
    return f"{words} " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


def alert_episodes(periods: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Alert periods of one severity grouped into episodes: periods that overlap or touch (the 1h/5m and 6h/30m
    rules of one incident) are one episode; in order of start."""
    episodes: list[list[Mapping[str, Any]]] = []
    end = ""
    for period in sorted(periods, key=lambda p: str(p.get("start"))):
        if episodes and str(period.get("start")) <= end:
            episodes[-1].append(period)
        else:
            episodes.append([period])
            end = ""
        end = max(end, str(period.get("end")))
    return episodes


def _new_alerts(name: str, slo: Mapping[str, Any], since: Any) -> list[Change]:
    """`alert_fired` per severity for the alert periods of `slo` starting after `since` (RFC3339)."""
    if not isinstance(since, str):
        return []
    periods = [p for p in _list(slo, "alerts") if isinstance(p.get("start"), str) and p["start"] > since]
    changes = []
    for severity in sorted({str(p.get("severity")) for p in periods}):
        episodes = alert_episodes([p for p in periods if str(p.get("severity")) == severity])
        first = episodes[0][0]["start"]
        peak = max((_number(p.get("peak_burn_rate")) or 0.0) for episode in episodes for p in episode)
        firing = ", still firing" if any(p.get("ongoing") for episode in episodes for p in episode) else ""
        times = f"{len(episodes)} times, first " if len(episodes) > 1 else ""
        changes.append(change("alert_fired", name, None, first,
                              f"{name}: {severity} alert fired ({times}{format_time(first)}, peak burn rate "
                              f"{rate(peak)}{firing})"))
    return changes


def slo_changes(before: Mapping[str, Any], after: Mapping[str, Any], policy: BudgetPolicy) -> list[Change]:
    """The SLO report's changes (rules in the module docstring)."""
    changes = []
    old_policy, new_policy = before.get("policy") or {}, after.get("policy") or {}
    if isinstance(old_policy, Mapping) and isinstance(new_policy, Mapping) \
            and old_policy.get("decision") != new_policy.get("decision"):
        driver = (f"{new_policy.get('slo')} has {_budget(new_policy.get('error_budget_remaining'))} left"
                  if new_policy.get("slo") else "no SLO had events")
        changes.append(change("policy_decision", "error-budget policy", old_policy.get("decision"),
                              new_policy.get("decision"), f"error-budget policy: {old_policy.get('decision')} "
                              f"{ARROW} {new_policy.get('decision')} ({driver})"))
    old = {str(s.get("name")): s for s in _list(before, "slos")}
    new = {str(s.get("name")): s for s in _list(after, "slos")}
    report_end = (before.get("window") or {}).get("end") if isinstance(before.get("window"), Mapping) else None
    for name, slo in new.items():
        prior = old.get(name)
        remaining = _number(slo.get("error_budget_remaining"))
        if prior is None:
            changes.append(change("slo_added", name, None, slo.get("status"),
                                  f"{name}: new SLO, {slo.get('status')} (error budget {_budget(remaining)})"))
            changes += _new_alerts(name, slo, report_end)
            continue
        was = _number(prior.get("error_budget_remaining"))
        crossed = crossings(was, remaining, policy)
        budgets = f"error budget {_budget(was)} {ARROW} {_budget(remaining)}" + (f", {crossed}" if crossed else "")
        if prior.get("status") != slo.get("status"):
            changes.append(change("slo_status", name, prior.get("status"), slo.get("status"),
                                  f"{name}: {prior.get('status')} {ARROW} {slo.get('status')} ({budgets})"))
        elif crossed:
            changes.append(change("error_budget", name, was, remaining, f"{name}: {budgets}"))
        window = prior.get("window")
        since = window.get("end") if isinstance(window, Mapping) and window.get("end") else report_end
        changes += _new_alerts(name, slo, since)
    for name, prior in old.items():
        if name not in new:
            changes.append(change("slo_removed", name, prior.get("status"), None,
                                  f"{name}: no longer in the report (was {prior.get('status')})"))
    return changes


# ---- cost -----------------------------------------------------------------------------------------------------

def _month(summary: Mapping[str, Any]) -> str:
    window = summary.get("window")
    end = window.get("end") if isinstance(window, Mapping) else None
    return end[:7] if isinstance(end, str) else "?"


def cost_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """The cost report's changes (rules in the module docstring)."""
    changes = []
    old_budgets = {str(b.get("scope")): b for b in _list(before, "budgets")}
    for budget in _list(after, "budgets"):
        scope, status = str(budget.get("scope")), budget.get("status")
        prior = old_budgets.get(scope)
        was = prior.get("status") if prior is not None else None
        if status == was or (prior is None and status not in ("over", "at_risk")):
            continue
        projected = (f"projected {money(_number(prior.get('projected')))} {ARROW} "
                     if prior is not None else "projected ") + money(_number(budget.get("projected")))
        changes.append(change("budget_status", scope, was, status,
                              f"budget {scope}: {was or 'new'} {ARROW} {status} ({projected} against "
                              f"{money(_number(budget.get('limit')))} a month)"))
    old_teams = {str(t.get("team")): _number(t.get("projected_monthly")) for t in _list(before, "teams")}
    months = f", {_month(before)} {ARROW} {_month(after)}" if _month(before) != _month(after) else ""
    for team in _list(after, "teams"):
        name, now = str(team.get("team")), _number(team.get("projected_monthly"))
        was = old_teams.get(name) or 0.0
        if now is None or abs(now - was) < PROJECTION_FLOOR or (was and abs(now - was) <= PROJECTION_SHARE * was):
            continue
        share = f"{(now - was) / was:+.1%}" if was else "from nothing"
        changes.append(change("team_projection", name, old_teams.get(name), now,
                              f"team {name}: projected month {money(was)} {ARROW} {money(now)} ({share}{months})"))
    seen = {(str(a.get("scope")), str(a.get("day"))) for a in _list(before, "anomalies")}
    for anomaly in _list(after, "anomalies"):
        scope, day = str(anomaly.get("scope")), str(anomaly.get("day"))
        if (scope, day) in seen:
            continue
        cost, usual = _number(anomaly.get("cost")), _number(anomaly.get("expected"))
        changes.append(change("cost_anomaly", f"{scope} {day}", usual, cost,
                              f"{scope}: cost anomaly on {format_day(day)}, {money(cost)} against a usual "
                              f"{money(usual)}"))
    return changes


# ---- dr ---------------------------------------------------------------------------------------------------------

_METRICS = (("rto", "RTO"), ("rpo", "RPO"))


def _previous_component(drills: list[Mapping[str, Any]], index: int, component: str) -> Mapping[str, Any] | None:
    """The component in the last drill before drills[index] that was not aborted and holds it."""
    for drill in reversed(drills[:index]):
        if drill.get("status") == "aborted":
            continue
        for item in _list(drill, "components"):
            if item.get("component") == component:
                return item
    return None


def dr_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """The DR report's changes (rules in the module docstring)."""
    changes = []
    known = {str(d.get("drill_id")) for d in _list(before, "drills")}
    history = {str(d.get("drill_id")): d for d in [*_list(before, "drills"), *_list(after, "drills")]}
    drills = sorted(history.values(), key=lambda d: (str(d.get("started_at")), str(d.get("drill_id"))))
    said: set[tuple[str, str, str]] = set()
    for index, drill in enumerate(drills):
        drill_id = str(drill.get("drill_id"))
        if drill_id in known:
            continue
        status = drill.get("status")
        if status in ("fail", "aborted"):
            previous = drills[index - 1].get("status") if index else None
            verb = "failed" if status == "fail" else "was aborted"
            reason = str(drill.get("reason") or "")
            said_why = f"{reason}; " if reason and reason != "drill aborted" else ""
            changes.append(change("drill_failed", drill_id, previous, status,
                                  f"drill {drill_id} {verb} ({said_why}previous drill: {previous or 'none'})"))
        if status == "aborted":
            continue
        for item in _list(drill, "components"):
            component = str(item.get("component"))
            prior = _previous_component(drills, index, component)
            for metric, label in _METRICS:
                if item.get(f"{metric}_passed") is not False or prior is None or prior.get(f"{metric}_passed") \
                        is not True:
                    continue
                said.add((drill_id, component, metric))
                was, now = _number(prior.get(f"{metric}_seconds")), _number(item.get(f"{metric}_seconds"))
                changes.append(change("dr_target_failed", f"{component} {label}", was, now,
                                      f"{component} {label}: {format_seconds(was)} {ARROW} {format_seconds(now)}, "
                                      f"target {format_seconds(_number(item.get(f'{metric}_target_seconds')))} "
                                      f"(drill {drill_id})"))
    listed = {(str(r.get("drill_id")), str(r.get("component")), str(r.get("metric")))
              for r in _list(before, "regressions")}
    for regression in _list(after, "regressions"):
        key = (str(regression.get("drill_id")), str(regression.get("component")), str(regression.get("metric")))
        if key in listed or key in said:
            continue
        label = key[2].upper()
        was, now = _number(regression.get("previous_seconds")), _number(regression.get("value_seconds"))
        target = _number(regression.get("target_seconds"))
        breach = f", above its {format_seconds(target)} target" if regression.get("target_breach") else ""
        changes.append(change("dr_regression", f"{key[1]} {label}", was, now,
                              f"{key[1]} {label}: {format_seconds(was)} {ARROW} {format_seconds(now)} (drill {key[0]}"
                              f"; trailing median {format_seconds(_number(regression.get('trailing_median_seconds')))}"
                              f"{breach})"))
    missing_before = set(before.get("missing_quarters") or [])
    for quarter in after.get("missing_quarters") or []:
        if quarter not in missing_before:
            changes.append(change("drill_missing", str(quarter), None, quarter,
                                  f"no DR drill in {quarter}: the quarter ended without one"))
    return changes


#: The reports compared, by name (the SLO report takes the policy too: `compare`).
COMPARERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], list[Change]]] = {
    "cost": cost_changes, "dr": dr_changes}


def is_compared(report: Any) -> bool:
    """Whether runs of `report` are compared (it has rules here)."""
    return report == "slo" or report in COMPARERS


def not_compared_text(report: Any) -> str:
    """Why runs of `report` are not compared, in words."""
    return NOT_COMPARED.get(str(report), f"The {report} report is not compared with earlier runs.")


# ---- the "Since the last run" block ---------------------------------------------------------------------------

def run_time(run_id: Any) -> str:
    """When a run started, from its id (`20261123T060000Z-3f9a` -> `2026-11-23 06:00 UTC`); the id otherwise."""
    text = str(run_id)
    stamp = text.partition("-")[0]
    if len(stamp) == 16 and stamp[8] == "T" and stamp.endswith("Z"):
        return format_time(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z")
    return text


def since_last_run(summary: Mapping[str, Any], limit: int = MAX_LINES) -> tuple[str, list[str], int]:
    """The block's headline, its first `limit` lines and how many more there are, from a summary's `changes`
    and `previous_run`."""
    if summary.get("status") != "ok":
        return FAILED_TEXT, [], 0
    if not is_compared(summary.get("report")):
        return not_compared_text(summary.get("report")), [], 0
    previous = summary.get("previous_run")
    if not previous:
        return FIRST_RUN_TEXT, [], 0
    changes = [c for c in summary.get("changes") or [] if isinstance(c, Mapping)]
    against = f"{previous} ({run_time(previous)})"
    if not changes:
        return f"no change against {against}.", [], 0
    lines = [str(c.get("text")) for c in changes]
    noun = "change" if len(lines) == 1 else "changes"
    return f"{len(lines)} {noun} against {against}:", lines[:limit], max(0, len(lines) - limit)


def since_last_run_markdown(summary: Mapping[str, Any], limit: int = MAX_LINES) -> str:
    """The "Since the last run" block as Markdown (a first screen's cell): a headline, a bullet per change, at
    most `limit`, then `and M more`."""
    headline, lines, more = since_last_run(summary, limit)
    parts = [f"**Since the last run**: {md(headline)}"]
    if lines:
        parts.append("\n".join(f"- {md(line)}" for line in lines))
    if more:
        parts.append(f"and {more} more (summary.json `changes`)")
    return "\n\n".join(parts)


def since_last_run_html(summary: Mapping[str, Any], limit: int = MAX_LINES) -> str:
    """The "Since the last run" block as HTML (the index's card, an e-mail): the same as the Markdown."""
    headline, lines, more = since_last_run(summary, limit)
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return ('<div class="gr-since"><p><b>Since the last run</b>: ' + html.escape(headline) + "</p>"
            + (f"<ul>{items}</ul>" if items else "")
            + (f'<p class="meta">and {more} more (summary.json <code>changes</code>)</p>' if more else "") + "</div>")

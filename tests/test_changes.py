"""What changed since the last run (runner/changes.py, runner/previous.py) and `goreliable report diff`.

The runs compared are the demo's own summaries (tests/data/changes/, README there) with the figures a change is
about set by hand; every expected value below is read off those files or the hand-set figure, not computed by the
code under test. The previous run is looked up in real published trees: a local folder and a moto S3 server on
127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import moto_endpoint
from summary_schema import schema_errors, undescribed_keys

from goreliable_lib import cli
from goreliable_lib.runner import changes as ch
from goreliable_lib.runner.previous import compare_with_previous, published_summaries
from goreliable_lib.runner.publish import LocalWriter, S3Writer

moto_endpoint = moto_endpoint  # the fixture, re-exported for pytest
DATA = Path(__file__).parent / "data" / "changes"
BUCKET = "goreliable-changes"
Summary = dict[str, Any]


def demo(report: str) -> Summary:
    """A fresh copy of the demo run's summary of `report`."""
    return json.loads((DATA / f"{report}.json").read_text(encoding="utf-8"))


def slo(summary: Summary, name: str) -> Summary:
    return next(s for s in summary["slos"] if s["name"] == name)


def budget(summary: Summary, scope: str) -> Summary:
    return next(b for b in summary["budgets"] if b["scope"] == scope)


def team(summary: Summary, name: str) -> Summary:
    return next(t for t in summary["teams"] if t["team"] == name)


def set_budget(summary: Summary, name: str, remaining: float | None, status: str = "ok") -> None:
    slo(summary, name).update(error_budget_remaining=remaining, status=status)


def quads(changes: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    return [(c["kind"], c["subject"], c["before"], c["after"]) for c in changes]


AVAILABILITY, LATENCY, NOTIFY = "api-gateway-availability", "api-gateway-latency", "notification-delivery"
NS_PROD = "namespace:go-reliable-production"
Edit = Callable[[Summary], None]


def _nothing(_: Summary) -> None:
    return None


def _drop(summary: Summary, field: str, which: Callable[[Summary], bool]) -> None:
    summary[field] = [x for x in summary[field] if not which(x)]


def _window_end(summary: Summary, end: str, *, slo_name: str | None = None) -> None:
    """The previous run's window ended at `end` (the report's, and every objective's or one objective's)."""
    if slo_name is None:
        summary["window"]["end"] = end
        for item in summary["slos"]:
            item["window"]["end"] = end
    else:
        slo(summary, slo_name)["window"]["end"] = end


# (id, report, edit of the previous run, edit of this run, expected (kind, subject, before, after))
CASES: list[tuple[str, str, Edit, Edit, list[tuple[str, str, Any, Any]]]] = [
    ("slo unchanged", "slo", _nothing, _nothing, []),
    # status ok -> at_risk: its text gives the budgets; 62% -> 8% crosses 50%, 20% and 10%: one change, not two
    ("slo status", "slo", lambda b: set_budget(b, AVAILABILITY, 0.62),
     lambda a: set_budget(a, AVAILABILITY, 0.08, "at_risk"),
     [("slo_status", AVAILABILITY, "ok", "at_risk")]),
    ("slo to no data", "slo", _nothing, lambda a: set_budget(a, NOTIFY, None, "no_data"),
     [("slo_status", NOTIFY, "ok", "no_data")]),
    # 25% -> 18%: below 20%, still above the 10% alert threshold: the status stays ok
    ("budget below 20%", "slo", lambda b: set_budget(b, AVAILABILITY, 0.25),
     lambda a: set_budget(a, AVAILABILITY, 0.18), [("error_budget", AVAILABILITY, 0.25, 0.18)]),
    # 50% itself is `caution` (analysis.slo: caution from 20% to 50% inclusive): reaching it leaves `features`
    ("budget reaches 50%", "slo", lambda b: set_budget(b, LATENCY, 0.55), lambda a: set_budget(a, LATENCY, 0.50),
     [("error_budget", LATENCY, 0.55, 0.50)]),
    ("budget inside caution", "slo", lambda b: set_budget(b, LATENCY, 0.50), lambda a: set_budget(a, LATENCY, 0.45),
     []),
    # 20% itself is still `caution`: reaching it from above is no crossing
    ("budget reaches 20%", "slo", lambda b: set_budget(b, LATENCY, 0.25), lambda a: set_budget(a, LATENCY, 0.20),
     []),
    # the demo's 32.0% (0.31998806880129094) against 15% before: back above 20%
    ("budget back above 20%", "slo", lambda b: set_budget(b, AVAILABILITY, 0.15), _nothing,
     [("error_budget", AVAILABILITY, 0.15, 0.31998806880129094)]),
    ("policy decision", "slo", lambda b: b["policy"].update(decision="features"), _nothing,
     [("policy_decision", "error-budget policy", "features", "caution")]),
    # the previous run ended 2026-11-10: the demo's alerts of 2026-11-11 (api-gateway-availability: page 1h/5m and
    # 6h/30m, overlapping: fired once; ticket 3d/6h and 1d/2h overlapping: once) and 2026-11-12 (notification-delivery,
    # seven 1h/5m periods, none touching the next: seven times) are new; llm-latency's of 2026-11-04 are not
    ("alerts since", "slo", lambda b: _window_end(b, "2026-11-10T00:00:00Z"), _nothing,
     [("alert_fired", AVAILABILITY, None, "2026-11-11T14:24:00Z"),
      ("alert_fired", AVAILABILITY, None, "2026-11-11T14:28:00Z"),
      ("alert_fired", NOTIFY, None, "2026-11-12T02:28:00Z")]),
    # an objective's own window wins over the report's: notification-delivery's ended 03:00, after five periods
    ("alerts since the objective's window", "slo",
     lambda b: _window_end(b, "2026-11-12T03:00:00Z", slo_name=NOTIFY), _nothing,
     [("alert_fired", NOTIFY, None, "2026-11-12T03:02:00Z")]),
    ("slo added and removed", "slo", lambda b: b["slos"].remove(slo(b, "llm-latency")),
     lambda a: a["slos"].remove(slo(a, "order-success-rate")),
     [("slo_added", "llm-latency", None, "ok"), ("slo_removed", "order-success-rate", "ok", None)]),
    ("cost unchanged", "cost", _nothing, _nothing, []),
    ("budget at risk to over", "cost", lambda b: budget(b, NS_PROD).update(status="at_risk", projected=480.0),
     _nothing, [("budget_status", NS_PROD, "at_risk", "over")]),
    ("budget back to ok", "cost", lambda b: budget(b, "team:ml-platform").update(status="at_risk"), _nothing,
     [("budget_status", "team:ml-platform", "at_risk", "ok")]),
    # a budget new in this run counts when over or at risk (team:app-platform: at_risk), not when ok (ml-platform)
    ("new budgets", "cost", lambda b: _drop(b, "budgets", lambda x: x["scope"] in ("team:app-platform",
                                                                                  "team:ml-platform")), _nothing,
     [("budget_status", "team:app-platform", None, "at_risk")]),
    # ml-platform 1000.00 -> 1167.73 (+16.8% > 10%); observability 200.00 -> 212.01 (+6.0%): not a change
    ("team projection", "cost", lambda b: (team(b, "ml-platform").update(projected_monthly=1000.0),
                                           team(b, "observability").update(projected_monthly=200.0)), _nothing,
     [("team_projection", "ml-platform", 1000.0, 1167.7277510504068)]),
    # exactly 10% is not more than 10%
    ("team projection at 10%", "cost", lambda b: team(b, "platform").update(projected_monthly=500.0),
     lambda a: team(a, "platform").update(projected_monthly=550.0), []),
    # +80% of 50 cents is below the one-unit floor
    ("team projection below the floor", "cost", lambda b: team(b, "__unallocated__").update(projected_monthly=0.5),
     lambda a: team(a, "__unallocated__").update(projected_monthly=0.9), []),
    ("team new", "cost", lambda b: b["teams"].remove(team(b, "platform")), _nothing,
     [("team_projection", "platform", None, 118.90746588683577)]),
    # the previous run listed the anomalies of 2026-11-04 only: 2026-11-05's two are new (before: the usual cost)
    ("new anomalies", "cost", lambda b: _drop(b, "anomalies", lambda x: x["day"] != "2026-11-04"), _nothing,
     [("cost_anomaly", "namespace:go-reliable-production 2026-11-05", 16.179858162257688, 41.515225851688385),
      ("cost_anomaly", "team:app-platform 2026-11-05", 16.179858162257688, 41.515225851688385)]),
    ("dr unchanged", "dr", _nothing, _nothing, []),
]


def _before_drills(summary: Summary, last: str) -> None:
    """The DR run made after drill `last`: the later drills and their regressions not there yet."""
    ids = [d["drill_id"] for d in summary["drills"]]
    kept = set(ids[:ids.index(last) + 1])
    summary["drills"][:] = [d for d in summary["drills"] if d["drill_id"] in kept]
    summary["regressions"][:] = [r for r in summary["regressions"] if r["drill_id"] in kept]


CASES += [
    # the previous run saw drills up to 2026-02-12 (pass). New: 2026-05-14 (fail; model-artifacts RTO 318 s over its
    # 300 s target, 135 s and passed on 2026-02-12), 2026-08-13 (fail; postgresql RPO 412 s over 300 s, 56 s and
    # passed on 2026-05-14), 2026-11-12 (pass: nothing). Their `regressions` say the same: not repeated.
    ("drills since", "dr", lambda b: _before_drills(b, "2026-02-12-cluster-replacement"), _nothing,
     [("drill_failed", "2026-05-14-cluster-replacement", "pass", "fail"),
      ("dr_target_failed", "model-artifacts RTO", 135.0, 318.0),
      ("drill_failed", "2026-08-13-cluster-replacement", "fail", "fail"),
      ("dr_target_failed", "postgresql RPO", 56.0, 412.0)]),
    # an aborted drill is a failed drill; its components (never recovered) are not judged against targets
    ("aborted drill", "dr", lambda b: b["drills"].remove(
        next(d for d in b["drills"] if d["drill_id"] == "2025-10-02-cluster-replacement")), _nothing,
     [("drill_failed", "2025-10-02-cluster-replacement", "fail", "aborted")]),
    # a regression listed now of a drill seen before (the trend moved): previous 56 s -> 412 s
    ("new regression", "dr", lambda b: b["regressions"].pop(), _nothing,
     [("dr_regression", "postgresql RPO", 56.0, 412.0)]),
    # a quarter that ended without a drill (constructed: 2026-Q4 as if it had ended)
    ("missing drill", "dr", _nothing, lambda a: a["missing_quarters"].append("2026-Q4"),
     [("drill_missing", "2026-Q4", None, "2026-Q4")]),
]


@pytest.mark.parametrize(("report", "edit_before", "edit_after", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_changes_between_two_runs(report: str, edit_before: Edit, edit_after: Edit,
                                  expected: list[tuple[str, str, Any, Any]]) -> None:
    before, after = demo(report), demo(report)
    edit_before(before)
    edit_after(after)
    found = ch.compare(before, after)
    assert quads(found) == expected
    assert {c["kind"] for c in found} <= set(ch.KINDS[report])
    assert all(c["text"] and "\n" not in c["text"] for c in found)
    # the two summary.json fields validate and are described
    written = {**after, "previous_run": before["run_id"], "changes": found}
    assert schema_errors(written) == []
    assert undescribed_keys(written, report) == []


def test_texts_an_sre_reads() -> None:
    before, after = demo("slo"), demo("slo")
    set_budget(before, AVAILABILITY, 0.62)
    set_budget(after, AVAILABILITY, 0.08, "at_risk")
    set_budget(before, LATENCY, 0.15)
    after["policy"].update(decision="reliability", slo=AVAILABILITY, error_budget_remaining=0.08)
    _window_end(before, "2026-11-12T03:00:00Z")
    texts = [c["text"] for c in ch.compare(before, after)]
    assert texts == [
        "error-budget policy: caution → reliability (api-gateway-availability has 8.0% left)",
        "api-gateway-availability: ok → at_risk (error budget 62.0% → 8.0%, below 50%, 20% and 10%)",
        # 15% was already above 10%: 20% and 50% are crossed
        "api-gateway-latency: error budget 15.0% → 52.9%, back above 50% and 20%",
        # 03:02-03:24 and 03:25-03:31: two times, peak max(14.93, 14.87)
        "notification-delivery: page alert fired (2 times, first 2026-11-12 03:02 UTC, peak burn rate 14.93x)",
    ]
    cost_before, cost_after = demo("cost"), demo("cost")
    budget(cost_before, NS_PROD).update(status="at_risk", projected=480.0)
    team(cost_before, "ml-platform").update(projected_monthly=1000.0)
    cost_before["window"]["end"] = "2026-10-31T06:00:00Z"
    cost_before["anomalies"] = cost_before["anomalies"][1:]
    assert [c["text"] for c in ch.compare(cost_before, cost_after)] == [
        "budget namespace:go-reliable-production: at_risk → over (projected $480.00 → $523.47 against $500.00 a "
        "month)",
        "team ml-platform: projected month $1,000.00 → $1,167.73 (+16.8%, 2026-10 → 2026-11)",
        "namespace:go-reliable-production: cost anomaly on 2026-11-04, $41.64 against a usual $16.24",
    ]
    dr_before = demo("dr")
    _before_drills(dr_before, "2026-05-14-cluster-replacement")
    dr_before["drills"].remove(next(d for d in dr_before["drills"] if d["quarter"] == "2025-Q4"))
    assert [c["text"] for c in ch.compare(dr_before, demo("dr"))] == [
        "drill 2025-10-02-cluster-replacement was aborted (previous drill: fail)",
        "drill 2026-08-13-cluster-replacement failed (failed: postgresql; previous drill: fail)",
        # 56 s on 2026-05-14, 412 s now; the target 300 s
        "postgresql RPO: 56 s → 6 min 52 s, target 5 min 00 s (drill 2026-08-13-cluster-replacement)",
    ]
    dr_before = demo("dr")
    dr_before["regressions"].pop()
    assert [c["text"] for c in ch.compare(dr_before, demo("dr"))] == [
        "postgresql RPO: 56 s → 6 min 52 s (drill 2026-08-13-cluster-replacement; trailing median 1 min 04 s, "
        "above its 5 min 00 s target)"]


def test_two_different_reports_are_refused() -> None:
    with pytest.raises(ch.BadInputError, match="two different reports"):
        ch.compare(demo("slo"), demo("cost"))


def test_the_catalogs_policy_thresholds() -> None:
    """A catalog whose policy says 30% / 15% / 5%: 25% -> 18% crosses none of them, 18% -> 12% crosses 15%."""
    policy = ch.BudgetPolicy(features_above=0.30, reliability_below=0.15, alert_below=0.05)
    before, after = demo("slo"), demo("slo")
    set_budget(before, AVAILABILITY, 0.25)
    set_budget(after, AVAILABILITY, 0.18)
    assert ch.compare(before, after, policy=policy) == []
    set_budget(before, AVAILABILITY, 0.18)
    set_budget(after, AVAILABILITY, 0.12)
    assert [c["text"] for c in ch.compare(before, after, policy=policy)] == [
        "api-gateway-availability: error budget 18.0% → 12.0%, below 15%"]


def test_postmortems_and_failed_runs_are_not_compared() -> None:
    postmortem = {"report": "postmortem", "status": "ok", "run_id": "20261123T060000Z-0002"}
    assert ch.compare({**postmortem, "run_id": "20261122T060000Z-0001"}, postmortem) == []
    assert ch.since_previous(postmortem, {**postmortem, "run_id": "20261122T060000Z-0001"}) == \
        {"previous_run": None, "changes": []}
    assert ch.since_last_run(postmortem)[0] == ch.NOT_COMPARED["postmortem"]
    review = {"report": "slo-review", "status": "ok", "run_id": "20261123T060000Z-0002"}  # a report without rules
    assert ch.since_previous(review, {**review, "run_id": "20261122T060000Z-0001"}) == \
        {"previous_run": None, "changes": []}
    assert ch.since_last_run(review)[0] == "The slo-review report is not compared with earlier runs."
    failed = {**demo("slo"), "status": "failed", "error": {"type": "RuntimeError", "message": "x"}}
    assert ch.since_previous(failed, demo("slo")) == {"previous_run": None, "changes": []}
    assert ch.since_last_run(failed) == (ch.FAILED_TEXT, [], 0)


# ---- the "Since the last run" block ---------------------------------------------------------------------------
def _with_changes(count: int) -> Summary:
    summary = demo("slo")
    summary["previous_run"] = "20261116T060000Z-00aa"
    summary["changes"] = [ch.change("slo_status", f"slo-{i}", "ok", "at_risk", f"slo-{i}: ok → at_risk <b>")
                          for i in range(count)]
    return summary


def test_block_first_run_no_change_and_more() -> None:
    first = {**demo("slo"), "previous_run": None, "changes": []}
    assert ch.since_last_run_markdown(first) == f"**Since the last run**: {ch.FIRST_RUN_TEXT}"
    assert "nothing to compare with" in ch.since_last_run_html(first)
    unchanged = _with_changes(0)
    assert ch.since_last_run(unchanged) == (
        "no change against 20261116T060000Z-00aa (2026-11-16 06:00 UTC).", [], 0)
    markdown = ch.since_last_run_markdown(_with_changes(7), limit=5)
    assert markdown.count("\n- ") == 5 and "and 2 more" in markdown and "7 changes against" in markdown
    assert r"\<b\>" in markdown  # text is escaped, never markup
    page = ch.since_last_run_html(_with_changes(7), limit=5)
    assert page.count("<li>") == 5 and "&lt;b&gt;" in page and "<b>Since" in page and "and 2 more" in page
    exact = ch.since_last_run_html(_with_changes(5), limit=5)
    assert exact.count("<li>") == 5 and "more" not in exact


# ---- the previous run in a published tree ----------------------------------------------------------------------
CURRENT = "20261123T060000Z-0009"


def _run(run_id: str, **changes: Any) -> Summary:
    summary = demo("slo")
    summary["run_id"] = run_id
    for key, value in changes.items():
        summary[key] = value
    return summary


def _publish_local(root: Path, summary: Summary, folder: str | None = None) -> None:
    run = root / summary["report"] / (folder or summary["run_id"])
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def _tree() -> list[tuple[Summary, str | None]]:
    """Runs of several kinds around the one to compare; only 20261116T060000Z-0004 qualifies as its previous."""
    params = demo("slo")["parameters"]
    older = _run("20261109T060000Z-0001")
    chosen = _run("20261116T060000Z-0004", parameters={k: v for k, v in {**params, "end": "2026-11-16T06:00:00Z",
                                                        "title": "Weekly SLOs"}.items() if k != "services"})
    set_budget(chosen, AVAILABILITY, 0.62)  # its budget 62%: this run's 32% crosses 50%
    failed = _run("20261117T060000Z-0005", status="failed", error={"type": "RuntimeError", "message": "boom"})
    other_window = _run("20261118T060000Z-0006", parameters={**params, "window": "1M"})
    live = _run("20261119T060000Z-0007", source={**demo("slo")["source"], "kind": "live"})
    newer = _run("20261130T060000Z-000a")
    cost = {**demo("cost"), "run_id": "20261120T060000Z-0008"}
    return [(older, None), (chosen, None), (failed, None), (other_window, None), (live, None), (newer, None),
            (cost, None), (_run("20261121T060000Z-000b"), ".tmp-20261121T060000Z-000b")]


def test_previous_run_in_a_local_tree(tmp_path: Path) -> None:
    for summary, folder in _tree():
        _publish_local(tmp_path, summary, folder)
    (tmp_path / "slo" / "20261122T060000Z-000c").mkdir()  # a folder without its summary.json
    (tmp_path / "slo" / "latest").symlink_to("20261130T060000Z-000a")
    writer = LocalWriter(tmp_path)
    assert [s["run_id"] for s in published_summaries(writer, "slo")] == [  # newest first
        "20261130T060000Z-000a", "20261119T060000Z-0007", "20261118T060000Z-0006", "20261117T060000Z-0005",
        "20261116T060000Z-0004", "20261109T060000Z-0001"]
    published = [summary for summary, folder in _tree() if folder is None]
    assert ch.find_previous_run(_run(CURRENT), published)["run_id"] == "20261116T060000Z-0004"
    assert ch.find_previous_run(_run(CURRENT), published[2:]) is None  # failed, other window, live, newer, cost
    result = compare_with_previous(_run(CURRENT), writer)
    assert result.warning is None
    assert result.previous_run == "20261116T060000Z-0004"
    assert quads(result.changes) == [("error_budget", AVAILABILITY, 0.62, 0.31998806880129094)]
    assert result.fields() == {"previous_run": "20261116T060000Z-0004", "changes": result.changes}


def test_first_run(tmp_path: Path) -> None:
    _publish_local(tmp_path, {**demo("cost"), "run_id": "20261120T060000Z-0008"})
    result = compare_with_previous(_run(CURRENT), LocalWriter(tmp_path))
    assert result.fields() == {"previous_run": None, "changes": []}
    summary = {**_run(CURRENT), **result.fields()}
    assert ch.since_last_run(summary)[0] == ch.FIRST_RUN_TEXT
    assert schema_errors(summary) == []


def test_parameter_differences() -> None:
    params = demo("slo")["parameters"]
    same = _run("20261116T060000Z-0004", parameters={**params, "end": "2026-11-16T06:00:00Z", "title": "x",
                                                     "notify": "always"})
    assert ch.parameter_differences(same, _run(CURRENT)) == []
    # an older summary without `services`: the report's default (`all`) stands in
    assert ch.parameter_differences(_run("x", parameters={k: v for k, v in params.items() if k != "services"}),
                                    _run(CURRENT)) == []
    assert ch.parameter_differences(_run("x", parameters={**params, "services": ["api-gateway"]}), _run(CURRENT)) \
        == ["services: ['api-gateway'] → 'all'"]
    assert ch.parameter_differences(_run("x", source={"kind": "live", "endpoints": {}}), _run(CURRENT)) == \
        ["source: live → demo"]


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-test-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "moto-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_previous_run_on_s3(s3: Any) -> None:
    for summary, folder in _tree():
        if folder is None:
            s3.put_object(Bucket=BUCKET, Key=f"team/{summary['report']}/{summary['run_id']}/summary.json",
                          Body=json.dumps(summary).encode())
    s3.put_object(Bucket=BUCKET, Key="team/slo/20261122T060000Z-000c/report.html", Body=b"<html>")  # no summary
    writer = S3Writer(f"s3://{BUCKET}/team")
    result = compare_with_previous(_run(CURRENT), writer)
    assert result.previous_run == "20261116T060000Z-0004"
    assert quads(result.changes) == [("error_budget", AVAILABILITY, 0.62, 0.31998806880129094)]
    missing = compare_with_previous(_run(CURRENT), S3Writer("s3://no-such-bucket-for-changes/x"))
    assert missing.fields() == {"previous_run": None, "changes": []}
    assert missing.warning and "could not be listed" in missing.warning and "NoSuchBucket" in missing.warning


# ---- goreliable report diff ------------------------------------------------------------------------------------
@pytest.fixture
def runs(tmp_path: Path) -> Path:
    before, after = _run("20261116T060000Z-0004"), _run(CURRENT)
    set_budget(before, AVAILABILITY, 0.62)
    for summary in (before, after, {**demo("cost"), "run_id": "20261120T060000Z-0008"},
                    _run("20261117T060000Z-0005", status="failed", error={"type": "RuntimeError", "message": "b"})):
        _publish_local(tmp_path, summary)
    (tmp_path / "slo" / "20261110T060000Z-0003").mkdir()
    return tmp_path


def test_diff_text_and_json(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = runs / "slo" / "20261116T060000Z-0004", runs / "slo" / CURRENT
    assert cli.main(["report", "diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("from slo/20261116T060000Z-0004 (2026-11-16 06:00 UTC), window 2026-10-24 06:00 UTC")
    assert out[1].startswith(f"to slo/{CURRENT} (2026-11-23 06:00 UTC)")
    assert out[2:] == ["1 change:", "- api-gateway-availability: error budget 62.0% → 32.0%, below 50%"]
    assert cli.main(["report", "diff", "slo/20261116T060000Z-0004", f"slo/{CURRENT}", "--out", str(runs),
                     "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(data) == ["changes", "compared", "differences", "report", "run_a", "run_b"]
    assert data["report"] == "slo" and data["compared"] is True and data["differences"] == []
    assert data["run_a"] == {"run_id": "20261116T060000Z-0004", "generated_at": demo("slo")["generated_at"],
                             "window": {"start": "2026-10-24T06:00:00Z", "end": "2026-11-23T06:00:00Z"}}
    assert quads(data["changes"]) == [("error_budget", AVAILABILITY, 0.62, 0.31998806880129094)]
    # the same run twice, and runs of other parameters: compared, with a note
    assert cli.main(["report", "diff", str(b), str(b)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "No change."
    other = _run("20261124T060000Z-000d", parameters={**demo("slo")["parameters"], "window": "1M"})
    _publish_local(runs, other)
    assert cli.main(["report", "diff", str(b), "slo/20261124T060000Z-000d", "--out", str(runs)]) == 0
    assert "note: not the same parameters or source, compared anyway: window: '30d' → '1M'" in \
        capsys.readouterr().out


def test_diff_of_postmortems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for run_id in ("20261122T060000Z-0001", "20261123T060000Z-0002"):
        _publish_local(tmp_path, {"report": "postmortem", "status": "ok", "run_id": run_id,
                                  "window": {"start": "2026-11-11T14:00:00Z", "end": "2026-11-11T16:00:00Z"}})
    args = ["report", "diff", "postmortem/20261122T060000Z-0001", "postmortem/20261123T060000Z-0002", "--out",
            str(tmp_path)]
    assert cli.main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ch.NOT_COMPARED["postmortem"]
    assert cli.main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["compared"] is False and data["changes"] == []


@pytest.mark.parametrize(("run_a", "run_b", "message"), [
    ("slo/20261116T060000Z-0004", "cost/20261120T060000Z-0008", "RUN_A is a slo run, RUN_B a cost run"),
    ("slo/20261116T060000Z-0004", "slo/20261101T060000Z-ffff", "slo/20261101T060000Z-ffff: no run folder"),
    ("slo/20261116T060000Z-0004", "slo/20261110T060000Z-0003", "no summary.json"),
    ("slo/20261117T060000Z-0005", f"slo/{CURRENT}", "RUN_A (slo/20261117T060000Z-0005) is a failed run"),
    ("/no/such/run", f"slo/{CURRENT}", "/no/such/run: no such run folder"),
])
def test_diff_bad_input(runs: Path, capsys: pytest.CaptureFixture[str], run_a: str, run_b: str,
                        message: str) -> None:
    assert cli.main(["report", "diff", run_a, run_b, "--out", str(runs)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err

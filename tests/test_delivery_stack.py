"""Delivery end to end (issue 26): weekly SLO runs through `goreliable report run` on a real Prometheus, sent to
real receivers on 127.0.0.1 (an HTTP server for Slack and the generic webhook, aiosmtpd with STARTTLS and login),
and the postmortem's report.pdf read back with poppler.

The world (goreliable_lib.devstack.sim.scale): one `checkout` service scraped every minute for 44 days ending
2026-11-23 06:00, 400 requests a second, 0.5% of them `500`; from 2026-11-05 06:00 (18 days before the end) the
`503` series is born and adds 0.2% errors for good. Over a rolling 30 days the error ratio therefore climbs
week after week (the new errors fill a growing part of the window), and with the objective 99.33% the error
budget left at the three Mondays is about 21%, 14% and 7.5% (computed below from the world's ground truth, not
from the report): the budget drops through 20% and then 10%. The 3d/6h ticket alert (burn > 1: 0.7% errors
against a 0.67% budget) starts about 2.5 days after the 503s, before the first Monday, and never stops: it is no
new alert in the later runs.

Expected under `on-change`: the first run has no previous run (nothing sent, "no change since the last run"); the
second sends the crossing of 20% (`error_budget`) and the policy moving from `caution` to `reliability`; the third
the crossing of 10% (`slo_status` ok -> at_risk); a fourth run at the third's end has the same figures and sends
nothing.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from test_notify import (  # noqa: F401  (the certificate fixture: 127.0.0.1's, trusted through SSL_CERT_FILE)
    USER,
    Inbox,
    Login,
    Receiver,
    assert_valid_slack,
    by_kind,
    certificate_fixture,
    closed_port,
    free_port,
    self_signed_certificate,
    slack_text,
)
from test_report_pdf import keep_pages_as_png, page_texts

from goreliable_lib.devstack.sim.scale import ScaleConfig, ScaleWorld
from goreliable_lib.devstack.stack.backends import build_world, start_server

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
END = pd.Timestamp("2026-11-23T06:00:00Z")
DAYS = 44
#: The 503s start 18 days before the end (ScaleWorld._at: a share of the history, on a minute, plus 17.431 s).
WORLD = ScaleConfig(pods=2, routes=2, scrape_interval_seconds=60, days=DAYS, end=END, requests_per_second=400,
                    restarts=1, gaps=0, first_error_at=(DAYS - 18) / DAYS)
OBJECTIVE = 0.9933
SLO_NAME = "checkout-availability"
#: Three consecutive Mondays; the fourth run repeats the third's end.
ENDS = [END - pd.Timedelta(days=14), END - pd.Timedelta(days=7), END, END]

# Sentinels: a secret in the webhook URL path, in the Slack URL path and in the SMTP password.
HOOK_SENTINEL = "S3NT1NEL-h00k-9c41e7"
SLACK_SENTINEL = "S3NT1NEL-sl4ck-2b86d0"
PASSWORD_SENTINEL = "S3NT1NEL-pa55-70f3aa"
SENTINELS = (HOOK_SENTINEL, SLACK_SENTINEL, PASSWORD_SENTINEL)
RECIPIENTS = "sre@example.org, Checkout Owners <checkout@example.org>"


def budget_left(world: ScaleWorld, end: pd.Timestamp) -> float:
    """The ground truth's error budget left over the 30 days ending at `end`: 1 - (bad / total) / (1 - objective)."""
    good, total = world.events(end - pd.Timedelta(days=30), end)
    return 1 - (1 - good / total) / (1 - OBJECTIVE)


@pytest.fixture(scope="module")
def world() -> ScaleWorld:
    return ScaleWorld(WORLD)


@pytest.fixture(scope="module")
def prometheus(world: ScaleWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 holding the world (its TSDB built once per machine into the stack's cache)."""
    server = start_server("prometheus", build_world("prometheus", world), tmp_path_factory.mktemp("prometheus"),
                          stop_at_exit=True)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def smtp(certificate: tuple[Path, Any]) -> Iterator[tuple[Inbox, int]]:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS, then a login with the sentinel password."""
    _, context = certificate
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="127.0.0.1",
                            tls_context=context, require_starttls=True, authenticator=Login(USER, PASSWORD_SENTINEL),
                            auth_require_tls=True)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Run:
    exit_code: int
    folder: Path | None
    summary: dict[str, Any]
    stderr: str


def run_slo(prometheus: str, out: Path, end: pd.Timestamp, notify_env: dict[str, str], *extra: str) -> Run:
    """`python -m goreliable_lib report run slo` at `end` on the world's catalog, with the destinations in its
    environment (nothing else of the caller's GORELIABLE_*)."""
    catalog = out / "slos.yaml"
    if not catalog.exists():
        out.mkdir(parents=True, exist_ok=True)
        catalog.write_text(ScaleWorld(WORLD).openslo_catalog(SLO_NAME, objective=OBJECTIVE))
    env = {key: value for key, value in os.environ.items() if not key.startswith("GORELIABLE_")}
    env.update({"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": prometheus, "GORELIABLE_CONFIG": os.devnull,
                "GORELIABLE_NOW": end.isoformat(), "GORELIABLE_ARCHIVE_URI": str(out / "archive"), **notify_env})
    command = [sys.executable, "-m", "goreliable_lib", "report", "run", "slo", "-p", f"catalog={catalog}",
               "-p", f"end={end.isoformat()}", *extra, "--out", str(out / "reports")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    lines = result.stdout.strip().splitlines()
    folder = Path(lines[-1]) if lines and Path(lines[-1]).is_dir() else None
    summary = json.loads((folder / "summary.json").read_text()) if folder else {}
    return Run(result.returncode, folder, summary, result.stderr)


def parsed(message: dict[str, Any]) -> email.message.EmailMessage:
    return email.message_from_bytes(message["content"], policy=email.policy.default)


# ---- the world's budget, from its ground truth -------------------------------------------------------------

def test_the_world_drops_through_20_and_10_percent(world: ScaleWorld) -> None:
    first, second, third = (budget_left(world, end) for end in ENDS[:3])
    assert 0.20 < first < 0.25 and 0.10 < second < 0.20 and 0.0 < third < 0.10, (first, second, third)


# ---- four weekly runs ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def weekly(prometheus: str, smtp: tuple[Inbox, int], certificate: tuple[Path, Any],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    inbox, port = smtp
    cert, _ = certificate
    receiver = Receiver(lambda n: (200, {}, 0.0))
    out = tmp_path_factory.mktemp("weekly")
    notify_env = {"GORELIABLE_NOTIFY_SLACK_URL": receiver.url(f"/services/T0/B0/{SLACK_SENTINEL}"),
                  "GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url(f"/hook/{HOOK_SENTINEL}?token={HOOK_SENTINEL}"),
                  "GORELIABLE_SMTP_URL": f"smtp://{USER}:{PASSWORD_SENTINEL}@127.0.0.1:{port}",
                  "GORELIABLE_NOTIFY_EMAIL_TO": RECIPIENTS,
                  "GORELIABLE_NOTIFY_EMAIL_FROM": "GoReliable <reports@example.org>",
                  "SSL_CERT_FILE": str(cert)}
    runs, received = [], []
    try:
        for end in ENDS:
            runs.append(run_slo(prometheus, out, end, notify_env))
            # what each run sent: (slack bodies, webhook bodies, mails), counted as they arrive
            received.append((receiver.bodies("/services/"), receiver.bodies("/hook/"), list(inbox.messages)))
        yield {"out": out, "runs": runs, "received": received}
    finally:
        receiver.close()


def sent_by(received: list[tuple[list, list, list]], index: int) -> tuple[list, list, list]:
    """What run `index` alone sent (the receivers' lists grow run after run)."""
    before = received[index - 1] if index else ([], [], [])
    now = received[index]
    return tuple(now[k][len(before[k]):] for k in range(3))  # type: ignore[return-value]


def test_every_run_is_published_ok(weekly: dict[str, Any]) -> None:
    for run in weekly["runs"]:
        assert run.exit_code == 0, run.stderr[-2000:]
        assert run.summary["status"] == "ok"
        [slo] = run.summary["slos"]
        assert slo["name"] == SLO_NAME


def test_the_budgets_are_the_ground_truth(weekly: dict[str, Any], world: ScaleWorld) -> None:
    for run, end in zip(weekly["runs"], ENDS, strict=True):
        [slo] = run.summary["slos"]
        assert slo["error_budget_remaining"] == pytest.approx(budget_left(world, end), abs=1e-6)


def test_the_first_run_has_nothing_to_compare_and_sends_nothing(weekly: dict[str, Any]) -> None:
    first = weekly["runs"][0]
    assert first.summary["previous_run"] is None and first.summary["changes"] == []
    assert by_kind(first.summary["notifications"]) == {
        kind: {"kind": kind, "outcome": "skipped", "reason": f"{kind}: rule on-change: no change since the last run"}
        for kind in ("slack", "webhook", "email")}
    assert sent_by(weekly["received"], 0) == ([], [], [])


def test_the_second_run_sends_the_crossing_of_20_percent(weekly: dict[str, Any], world: ScaleWorld) -> None:
    first, second = weekly["runs"][:2]
    assert second.summary["previous_run"] == first.summary["run_id"]
    was, now = budget_left(world, ENDS[0]), budget_left(world, ENDS[1])
    changes = second.summary["changes"]
    assert [(c["kind"], c["subject"], c["before"], c["after"]) for c in changes] == [
        ("policy_decision", "error-budget policy", "caution", "reliability"),
        ("error_budget", SLO_NAME, pytest.approx(was, abs=1e-6), pytest.approx(now, abs=1e-6))]
    assert changes[1]["text"] == f"{SLO_NAME}: error budget {was:.1%} → {now:.1%}, below 20%"
    assert changes[0]["text"] == f"error-budget policy: caution → reliability ({SLO_NAME} has {now:.1%} left)"
    # the messages list the platform's alerts (`error_budget`, `budget_status`) first
    assert_sent(weekly, 1, [changes[1], changes[0]])


def test_the_third_run_sends_the_crossing_of_10_percent(weekly: dict[str, Any], world: ScaleWorld) -> None:
    second, third = weekly["runs"][1:3]
    assert third.summary["previous_run"] == second.summary["run_id"]
    was, now = budget_left(world, ENDS[1]), budget_left(world, ENDS[2])
    changes = third.summary["changes"]
    assert [(c["kind"], c["subject"], c["before"], c["after"]) for c in changes] == [
        ("slo_status", SLO_NAME, "ok", "at_risk")]
    assert changes[0]["text"] == f"{SLO_NAME}: ok → at_risk (error budget {was:.1%} → {now:.1%}, below 10%)"
    assert third.summary["policy"]["decision"] == "reliability"  # still reliability: no policy change
    assert_sent(weekly, 2, changes)


def test_the_unchanged_run_sends_nothing(weekly: dict[str, Any]) -> None:
    third, fourth = weekly["runs"][2:]
    assert fourth.summary["previous_run"] == third.summary["run_id"] and fourth.summary["changes"] == []
    assert fourth.summary["slos"][0]["error_budget_remaining"] == third.summary["slos"][0]["error_budget_remaining"]
    assert {e["outcome"] for e in fourth.summary["notifications"]} == {"skipped"}
    assert len(fourth.summary["notifications"]) == 3
    assert sent_by(weekly["received"], 3) == ([], [], [])
    slack, hooks, mails = weekly["received"][-1]
    assert (len(slack), len(hooks), len(mails)) == (2, 2, 2)  # runs 2 and 3, once each


def assert_sent(weekly: dict[str, Any], index: int, changes: list[dict[str, Any]]) -> None:
    """Run `index` sent exactly one Slack message, one webhook POST and one mail, each holding its changes (in
    the order given: the messages' order)."""
    run = weekly["runs"][index]
    entries = by_kind(run.summary["notifications"])
    assert entries["slack"] == {"kind": "slack", "outcome": "sent", "reason": "slack: sent (HTTP 200)"}
    assert entries["webhook"] == {"kind": "webhook", "outcome": "sent", "reason": "webhook: sent (HTTP 200)"}
    assert entries["email"]["outcome"] == "sent"
    assert entries["email"]["reason"].startswith("email: sent to 2 recipients"), entries["email"]
    [slack], [hook], [mail] = sent_by(weekly["received"], index)

    assert_valid_slack(slack)
    text = slack_text(slack)
    positions = [text.index(change["text"]) for change in changes]
    assert positions == sorted(positions)
    assert run.summary["run_id"] in text

    assert hook["schema"] == "goreliable.notification/v1"
    assert (hook["report"], hook["run_id"], hook["status"]) == ("slo", run.summary["run_id"], "ok")
    assert hook["previous_run"] == run.summary["previous_run"] and hook["changes"] == changes
    assert hook["link"] == f"{run.folder}/report.html" and hook["error"] is None

    assert mail["tls"] and mail["authenticated"]
    assert mail["to"] == ["sre@example.org", "checkout@example.org"]
    message = parsed(mail)
    body = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    positions = [body.index(change["text"]) for change in changes]
    assert positions == sorted(positions)
    for change in changes:
        assert change["text"].replace(">", "&gt;") in page


def test_no_sentinel_in_any_file_or_stderr(weekly: dict[str, Any]) -> None:
    files = [path for path in weekly["out"].rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"summary.json", "report.ipynb", "report.html", "index.html"} <= names
    assert any(path.name.startswith(".notifications") for path in files), sorted(names)
    assert any("data" in path.parts for path in files)
    for path in files:
        content = path.read_bytes()
        for sentinel in SENTINELS:
            assert sentinel.encode() not in content, (sentinel, path)
    for run in weekly["runs"]:
        for sentinel in SENTINELS:
            assert sentinel not in run.stderr


# ---- failure paths ----------------------------------------------------------------------------------------------

def test_a_failing_webhook_and_a_refused_smtp_port_leave_the_run_published(prometheus: str, tmp_path: Path) -> None:
    receiver = Receiver(lambda n: (500, {}, 0.0))
    try:
        run = run_slo(prometheus, tmp_path, END, {
            "GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url(f"/hook/{HOOK_SENTINEL}"),
            "GORELIABLE_SMTP_URL": f"smtp://{USER}:{PASSWORD_SENTINEL}@127.0.0.1:{closed_port()}",
            "GORELIABLE_NOTIFY_EMAIL_TO": RECIPIENTS, "GORELIABLE_NOTIFY_EMAIL_FROM": "reports@example.org"},
            "-p", "notify=always")
        attempts = len(receiver.requests)
    finally:
        receiver.close()
    assert run.exit_code == 0, run.stderr[-2000:]
    assert run.summary["status"] == "ok" and run.folder is not None
    assert run.folder.parent == tmp_path / "reports" / "slo"
    assert (run.folder / "report.html").is_file()
    assert (tmp_path / "reports" / "slo" / "latest").resolve() == run.folder.resolve()
    assert run.summary["run_id"] in (tmp_path / "reports" / "index.html").read_text()
    entries = by_kind(run.summary["notifications"])
    assert set(entries) == {"webhook", "email"}
    assert entries["webhook"] == {"kind": "webhook", "outcome": "failed",
                                  "reason": "webhook: HTTP 500 from the receiver (gave up after 4 attempts)"}
    assert attempts == 4
    assert entries["email"] == {"kind": "email", "outcome": "failed",
                                "reason": "email: connection refused (gave up after 4 attempts)"}
    assert "HTTP 500" in run.stderr and "connection refused" in run.stderr  # the log says so too
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        content = path.read_bytes()
        assert HOOK_SENTINEL.encode() not in content and PASSWORD_SENTINEL.encode() not in content, path
    assert HOOK_SENTINEL not in run.stderr and PASSWORD_SENTINEL not in run.stderr


# ---- the postmortem's report.pdf, written by the runner -------------------------------------------------------

@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed (make system-deps)")
def test_the_postmortem_run_writes_its_pdf_with_the_headline_figures(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GORELIABLE_")}
    env.update({"GORELIABLE_PROFILE": "demo", "GORELIABLE_CONFIG": os.devnull, "GORELIABLE_PROJECT_ROOT": str(ROOT)})
    command = [sys.executable, "-m", "goreliable_lib", "report", "run", "postmortem",
               "-f", str(ROOT / "params" / "postmortem-demo.yaml"), "--out", str(tmp_path / "reports")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = Path(result.stdout.strip().splitlines()[-1])
    summary = json.loads((folder / "summary.json").read_text())
    pdf = folder / "report.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF-")
    texts = page_texts(pdf)
    text = " ".join(" ".join(texts).split())
    run_id = summary["run_id"]
    for number in range(1, len(texts) + 1):
        assert f"run {run_id} · Page {number} of {len(texts)}" in texts[number - 1]
    for slo in summary["slos"]:  # as the page writes them: thousands with commas, budget consumed in percent
        assert f"{slo['bad_events']:,.0f} of {slo['total_events']:,.0f}" in text, slo["name"]
        assert f"{slo['budget_consumed'] * 100:.2f}%" in text, slo["name"]
    assert f"${summary['cost_impact']['cost']:,.2f}" in text
    pngs = keep_pages_as_png(pdf, "postmortem-runner", dpi=50)
    assert len(pngs) == len(texts) and all(p.stat().st_size > 3_000 for p in pngs)

"""Notifications (runner/notify.py) against real receivers on 127.0.0.1: an HTTP server for Slack and the generic
webhook, an SMTP server (aiosmtpd) with STARTTLS, TLS and login. Slack payloads are checked against Slack's published
block limits, written out here from Slack's reference (not from the module's constants)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from goreliable_lib.config import load_notify_settings, load_settings, secret_values
from goreliable_lib.errors import BadInputError
from goreliable_lib.runner.notify import (
    Decision,
    build_notice,
    decide,
    notify_run,
    slack_payload,
)
from goreliable_lib.runner.scrub import scrub_text

# Sentinels: distinctive values that must appear in no outcome, log line or file.
HOOK_SENTINEL = "sntl-Wh00k-7f3a9c"
SLACK_SENTINEL = "sntl-SlAck-41b2e8"
PASSWORD_SENTINEL = "sntl-Pa55-d0e1c4"
USER = "reports"

SUMMARY: dict[str, Any] = {
    "report": "cost", "run_id": "20261123T060000Z-3f9a", "status": "ok", "generated_at": "2026-11-23T06:00:00Z",
    "parameters": {"title": "Monthly cost by team"},
    "window": {"start": "2026-10-24T06:00:00Z", "end": "2026-11-23T06:00:00Z"},
    "previous_run": "20261116T060000Z-1a2b", "total_cost": 1234.5, "idle_cost": 88.25, "warnings": [],
}
CHANGES: list[dict[str, Any]] = [
    {"kind": "slo_status", "subject": "api-gateway-availability", "before": "ok", "after": "at_risk",
     "text": "api-gateway-availability: ok -> at risk"},
    {"kind": "budget_status", "subject": "go-reliable-production", "before": "ok", "after": "over",
     "text": "go-reliable-production: projected $512.40/month, over its $500 budget"},
    {"kind": "error_budget", "subject": "order-success-rate", "before": 0.14, "after": 0.08,
     "text": "order-success-rate: error budget 14.0% -> 8.0%, below 10%"},
]
HEADLINE = "Total $1,234.50 · go-reliable-production projected $512.40/month (budget $500)"
LINK = "https://reports.example.org/cost/20261123T060000Z-3f9a/report.html"


# --- Slack's published limits -----------------------------------------------------------------------------------
# docs.slack.dev/reference/block-kit/blocks: "up to 50 blocks in each message"; header-block: plain_text, at most
# 150 characters; section-block: text 1..3000 characters, at most 10 fields of at most 2000; context-block: at most
# 10 elements; actions-block: at most 25 elements; button-element: text at most 75, url at most 3000 characters.
# The message `text` is truncated past 40,000 characters (api.slack.com changelog 2018-04), and messages whose
# blocks hold ~13,000 characters are refused as `msg_blocks_too_long` (slackapi/bolt-js#2509).

def text_objects(block: dict[str, Any]) -> list[dict[str, Any]]:
    found = [block["text"]] if "text" in block else []
    found += block.get("fields", [])
    found += [e for e in block.get("elements", []) if e.get("type") in {"mrkdwn", "plain_text"}]
    found += [e["text"] for e in block.get("elements", []) if e.get("type") == "button"]
    return found


def assert_valid_slack(payload: dict[str, Any]) -> None:
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    assert isinstance(payload["text"], str) and 0 < len(payload["text"]) <= 40000
    for block in blocks:
        kind = block["type"]
        assert kind in {"header", "section", "context", "actions", "divider"}, kind
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and 1 <= len(block["text"]["text"]) <= 150
        if kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in {"mrkdwn", "plain_text"}
                assert 1 <= len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(1 <= len(e["text"]) <= 3000 for e in block["elements"] if "text" in e)
        if kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for element in block["elements"]:
                assert element["type"] == "button"
                assert element["text"]["type"] == "plain_text" and 1 <= len(element["text"]["text"]) <= 75
                assert len(element["url"]) <= 3000
        for obj in text_objects(block):
            if obj["type"] == "mrkdwn":  # Slack's escaping: no raw control characters of mrkdwn
                assert "<" not in obj["text"] and ">" not in obj["text"], obj["text"][:80]
    assert sum(len(o["text"]) for b in blocks for o in text_objects(b)) < 13000


def slack_text(payload: dict[str, Any]) -> str:
    return "\n".join(o["text"] for b in payload["blocks"] for o in text_objects(b))


# --- receivers ----------------------------------------------------------------------------------------------------

class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST as `plan(n)` says: (status, headers, delay seconds)."""

    def __init__(self, plan: Callable[[int], tuple[int, dict[str, str], float]]) -> None:
        self.plan = plan
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"path": self.path, "body": body, "type": self.headers["Content-Type"]})
                status, headers, delay = receiver.plan(len(receiver.requests))
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    text = b"ok" if status == 200 else b"invalid_blocks" if status == 400 else b"error"
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:  # the client gave up (a slow receiver)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def bodies(self, prefix: str) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests if r["path"].startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(plan: Callable[[int], tuple[int, dict[str, str], float]] = lambda n: (200, {}, 0.0)) -> Receiver:
        made.append(Receiver(plan))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    return free_port()


class Inbox:
    """aiosmtpd handler: every message received, with whether the session was encrypted and logged in."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  (aiosmtpd's name)
        encrypted = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "content": envelope.content,
                              "tls": encrypted, "authenticated": bool(session.authenticated)})
        return "250 Message accepted"


class Login:
    """aiosmtpd authenticator accepting one user and password; counts the attempts."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password, self.calls = user.encode(), password.encode(), 0

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        self.calls += 1
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (self.user,
                                                                                                self.password)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1 and its key (cryptography when installed, else the openssl CLI)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


@pytest.fixture(scope="module", name="certificate")
def certificate_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 (a client trusts it through SSL_CERT_FILE) and the server's context."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture()
def smtp_factory() -> Iterator[Callable[..., tuple[Inbox, int, Login | None]]]:
    """Start an SMTP server: `starttls`/`tls` with the test certificate, a login when `password` is given."""
    controllers: list[Controller] = []

    def make(*, context: ssl.SSLContext | None = None, implicit_tls: bool = False,
             password: str | None = None) -> tuple[Inbox, int, Login | None]:
        inbox, port = Inbox(), free_port()
        login = Login(USER, password) if password is not None else None
        options: dict[str, Any] = {}
        if context is not None and implicit_tls:
            options["ssl_context"] = context
        elif context is not None:
            options.update(tls_context=context, require_starttls=True)
        if login is not None:
            # aiosmtpd hides AUTH on an implicit-TLS connection when auth_require_tls is set (it only knows STARTTLS)
            options.update(authenticator=login, auth_require_tls=context is not None and not implicit_tls)
        controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="127.0.0.1", **options)
        controller.start()
        controllers.append(controller)
        return inbox, port, login

    yield make
    for controller in controllers:
        controller.stop()


def parsed(message: dict[str, Any]) -> email.message.EmailMessage:
    return email.message_from_bytes(message["content"], policy=email.policy.default)


def run(environ: dict[str, str], tmp_path: Path, *, summary: dict[str, Any] | None = None,
        changes: list[dict[str, Any]] | None = None, rule: str = "on-change", **options: Any) -> list[dict[str, str]]:
    base = {"GORELIABLE_CONFIG": str(tmp_path / "no-config.yaml")}
    (tmp_path / "no-config.yaml").write_text("")
    options.setdefault("pdf", None)
    options.setdefault("link", LINK)
    return notify_run(SUMMARY if summary is None else summary, CHANGES if changes is None else changes, rule,
                      headline=HEADLINE, environ={**base, **environ}, state_file=tmp_path / "notifications.json",
                      **options)


def by_kind(entries: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    assert len({e["kind"] for e in entries}) == len(entries)
    return {e["kind"]: e for e in entries}


# --- rules ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "status", "changes", "send"), [
    ("on-change", "ok", CHANGES, True),
    ("on-change", "ok", [], False),
    ("on-change", "failed", [], True),     # a failed run is news under on-change
    ("always", "ok", [], True),
    ("on-failure", "ok", CHANGES, False),  # changes alone do not count under on-failure
    ("on-failure", "failed", [], True),
    ("never", "failed", CHANGES, False),
])
def test_rules(rule: str, status: str, changes: list[dict[str, Any]], send: bool) -> None:
    assert decide(rule, status, changes).send is send


def test_rule_reasons_and_unknown_rule() -> None:
    assert decide("on-change", "ok", []) == Decision(False, "rule on-change: no change since the last run")
    assert decide("on-change", "ok", CHANGES).reason == "3 changes since the last run"
    with pytest.raises(BadInputError, match="notify: 'sometimes' is not one of on-change, always"):
        decide("sometimes", "ok", [])


def test_nothing_configured_nothing_returned(tmp_path: Path) -> None:
    assert run({}, tmp_path) == []
    assert not (tmp_path / "notifications.json").exists()


def test_on_change_without_changes_sends_nothing(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory()
    entries = run({"GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url("/hook"),
                   "GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/slack")}, tmp_path, changes=[])
    assert entries == [
        {"kind": "slack", "outcome": "skipped", "reason": "slack: rule on-change: no change since the last run"},
        {"kind": "webhook", "outcome": "skipped", "reason": "webhook: rule on-change: no change since the last run"},
    ]
    assert receiver.requests == []


def test_never_and_on_failure_send_nothing_for_an_ok_run(tmp_path: Path,
                                                         receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory()
    env = {"GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url("/hook")}
    assert run(env, tmp_path, rule="never")[0] == {"kind": "webhook", "outcome": "skipped",
                                                   "reason": "webhook: rule never"}
    assert run(env, tmp_path, rule="on-failure")[0]["reason"] == "webhook: rule on-failure: the run did not fail"
    assert receiver.requests == []


def test_an_slo_newly_at_risk_is_the_platform_alert_and_comes_first() -> None:
    # the budget falling below 10% changes the status to at_risk: the changes module writes `slo_status`, never
    # `error_budget`, for that crossing; it must still lead the message like the other platform alert
    policy = {"kind": "policy_decision", "subject": "error-budget policy", "before": "caution", "after": "reliability",
              "text": "error-budget policy: caution -> reliability"}
    recovered = {"kind": "slo_status", "subject": "a", "before": "at_risk", "after": "ok", "text": "a: at_risk -> ok"}
    at_risk = {"kind": "slo_status", "subject": "b", "before": "ok", "after": "at_risk",
               "text": "b: ok -> at_risk (error budget 12.0% -> 7.0%, below 10%)"}
    crossed = {"kind": "error_budget", "subject": "c", "before": 0.3, "after": 0.15, "text": "c: below 20%"}
    notice = build_notice(SUMMARY, [policy, recovered, at_risk, crossed], headline=HEADLINE, link=LINK)
    assert [c["subject"] for c in notice.changes] == ["b", "c", "error-budget policy", "a"]


# --- Slack and the generic webhook -------------------------------------------------------------------------------

def test_slack_and_webhook_receive_the_run(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory()
    entries = run({"GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/services/T0/B0/slack"),
                   "GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url("/hook")}, tmp_path)
    assert entries == [{"kind": "slack", "outcome": "sent", "reason": "slack: sent (HTTP 200)"},
                       {"kind": "webhook", "outcome": "sent", "reason": "webhook: sent (HTTP 200)"}]
    assert all(r["type"].startswith("application/json") for r in receiver.requests)

    [slack] = receiver.bodies("/services/")
    assert_valid_slack(slack)
    assert slack["blocks"][0]["text"]["text"] == "Monthly cost by team: 3 changes since the last run"
    text = slack_text(slack)
    assert "go-reliable-production projected $512.40/month (budget $500)" in text
    # all three carry the platform's two alerts (an SLO newly at risk is its budget below 10%): the order given
    assert text.index("api-gateway-availability") < text.index("go-reliable-production: projected") < text.index(
        "order-success-rate")
    [button] = [b for b in slack["blocks"] if b["type"] == "actions"][0]["elements"]
    assert button["url"] == LINK

    [hook] = receiver.bodies("/hook")
    assert hook["schema"] == "goreliable.notification/v1"
    assert (hook["report"], hook["run_id"], hook["status"], hook["link"]) == ("cost", "20261123T060000Z-3f9a", "ok",
                                                                               LINK)
    assert hook["headline"] == HEADLINE and hook["previous_run"] == "20261116T060000Z-1a2b"
    assert sorted(hook["changes"], key=lambda c: c["kind"]) == sorted(CHANGES, key=lambda c: c["kind"])
    assert hook["figures"] == {"total_cost": 1234.5, "idle_cost": 88.25}  # the summary's top-level numbers
    assert hook["error"] is None


def test_slack_message_with_200_changes_stays_within_the_limits(tmp_path: Path,
                                                                receiver_factory: Callable[..., Receiver]) -> None:
    changes = [{"kind": "cost_projection", "subject": f"team-{i:03d}", "before": 100.0, "after": 130.0 + i,
                "text": f"team-{i:03d}: projected month $100.00 -> ${130 + i:.2f} " + "x" * (i % 7) * 60}
               for i in range(200)]
    receiver = receiver_factory()
    entries = run({"GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/slack")}, tmp_path, changes=changes)
    assert entries[0]["outcome"] == "sent"
    [payload] = receiver.bodies("/slack")
    assert_valid_slack(payload)
    text = slack_text(payload)
    shown = [f"team-{i:03d}" for i in range(200) if f"team-{i:03d}:" in text]
    assert shown == [f"team-{i:03d}" for i in range(len(shown))] and 0 < len(shown) < 200
    assert f"and {200 - len(shown)} more changes: see the report" in text


def test_slack_limits_hold_for_oversized_texts() -> None:
    long = "<b>&" + "word " * 4000
    summary = {**SUMMARY, "status": "failed", "parameters": {"title": long},
               "error": {"type": "PrometheusError", "message": long}}
    changes = [{"kind": "slo_status", "subject": long, "before": long, "after": long, "text": long}] * 60
    payload = slack_payload(build_notice(summary, changes, headline=long, link="https://x.example/" + "a" * 4000))
    assert_valid_slack(payload)
    assert "&lt;b&gt;&amp;" in slack_text(payload)  # escaped, never sent as markup
    assert not any(b["type"] == "actions" for b in payload["blocks"])  # a URL over 3000 characters is no button


def test_a_failed_run_notifies_with_its_error(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory()
    failed = {**SUMMARY, "status": "failed",
              "error": {"type": "PrometheusError", "message": "query timed out in expression evaluation"}}
    entries = run({"GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/slack"),
                   "GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url("/hook")}, tmp_path, summary=failed, changes=[],
                  rule="on-failure")
    assert [e["outcome"] for e in entries] == ["sent", "sent"]
    [slack] = receiver.bodies("/slack")
    assert slack["blocks"][0]["text"]["text"] == "Monthly cost by team: the run failed"
    assert "PrometheusError: query timed out in expression evaluation" in slack_text(slack)
    [hook] = receiver.bodies("/hook")
    assert hook["status"] == "failed" and hook["error"] == failed["error"]


# --- failures: each leaves an outcome, never raises ---------------------------------------------------------------

def test_http_500_is_retried_then_failed(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(lambda n: (500, {}, 0.0))
    started = time.monotonic()
    entries = run({"GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url("/hook")}, tmp_path)
    assert entries == [{"kind": "webhook", "outcome": "failed",
                        "reason": "webhook: HTTP 500 from the receiver (gave up after 4 attempts)"}]
    assert len(receiver.requests) == 4  # 1 + NOTIFY_RETRIES
    assert time.monotonic() - started >= 0.5 + 1 + 2  # the policy's backoff between the attempts
    assert not (tmp_path / "notifications.json").exists()  # nothing sent: nothing recorded


def test_429_with_retry_after_is_honoured(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(lambda n: (429, {"Retry-After": "1"}, 0.0) if n == 1 else (200, {}, 0.0))
    started = time.monotonic()
    entries = run({"GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/slack")}, tmp_path)
    assert entries[0] == {"kind": "slack", "outcome": "sent", "reason": "slack: sent (HTTP 200)"}
    assert len(receiver.requests) == 2 and time.monotonic() - started >= 1.0


def test_a_4xx_answer_is_final_and_says_what_the_receiver_said(tmp_path: Path,
                                                               receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(lambda n: (400, {}, 0.0))
    entries = run({"GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/slack")}, tmp_path)
    assert entries[0]["reason"] == "slack: HTTP 400 from the receiver: invalid_blocks"
    assert len(receiver.requests) == 1


def test_refused_connections_fail_with_a_clear_reason(tmp_path: Path) -> None:
    port = closed_port()
    entries = run({"GORELIABLE_NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                   "GORELIABLE_SMTP_URL": f"smtp://127.0.0.1:{port}",
                   "GORELIABLE_NOTIFY_EMAIL_TO": "sre@example.org",
                   "GORELIABLE_NOTIFY_EMAIL_FROM": "reports@example.org"}, tmp_path)
    assert by_kind(entries) == {
        "webhook": {"kind": "webhook", "outcome": "failed",
                    "reason": "webhook: connection refused (gave up after 4 attempts)"},
        "email": {"kind": "email", "outcome": "failed",
                  "reason": "email: connection refused (gave up after 4 attempts)"},
    }


def test_a_slow_receiver_is_bounded_by_the_timeout(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(lambda n: (200, {}, 5.0))
    started = time.monotonic()
    entries = run({"GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url("/hook")}, tmp_path, timeout_seconds=1.0)
    elapsed = time.monotonic() - started
    assert entries[0]["outcome"] == "failed"
    assert entries[0]["reason"] == ("webhook: no answer within 1 s (timeout) (not retried: a receiver that timed "
                                    "out is not waited for again)")
    assert len(receiver.requests) == 1 and elapsed < 2.5


def test_the_budget_bounds_the_retries(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(lambda n: (503, {}, 0.0))
    started = time.monotonic()
    entries = run({"GORELIABLE_NOTIFY_WEBHOOK_URL": receiver.url("/hook")}, tmp_path, budget_seconds=2.0)
    elapsed = time.monotonic() - started
    # attempt 1 at 0 s; a retry needs the longest backoff (2 s) + 1 s left: none fits a 2 s budget
    assert entries[0]["reason"] == "webhook: HTTP 503 from the receiver (not retried: the 2 s notification budget " \
                                   "is spent)"
    assert len(receiver.requests) == 1 and elapsed < 2.0


def test_a_silent_smtp_server_is_bounded_by_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        entries = run({"GORELIABLE_SMTP_URL": f"smtp://127.0.0.1:{silent.getsockname()[1]}",
                       "GORELIABLE_NOTIFY_EMAIL_TO": "sre@example.org",
                       "GORELIABLE_NOTIFY_EMAIL_FROM": "reports@example.org"}, tmp_path, timeout_seconds=1.0)
        elapsed = time.monotonic() - started
    assert entries == [{"kind": "email", "outcome": "failed",
                        "reason": "email: no answer within 1 s (timeout) (not retried: a receiver that timed out is "
                                  "not waited for again)"}]
    assert elapsed < 2.5


def test_bad_settings_fail_every_configured_destination_without_the_value(tmp_path: Path) -> None:
    entries = run({"GORELIABLE_NOTIFY_WEBHOOK_URL": f"ftp://127.0.0.1/{HOOK_SENTINEL}"}, tmp_path)
    assert entries == [{"kind": "webhook", "outcome": "failed",
                        "reason": "webhook: not sent: GORELIABLE_NOTIFY_WEBHOOK_URL: is not an http:// or https:// "
                                  "URL with a host (the value is not shown: it is a secret)"}]


# --- e-mail ---------------------------------------------------------------------------------------------------------

def email_env(port: int, *, scheme: str = "smtp", password: str | None = None) -> dict[str, str]:
    login = f"{USER}:{password}@" if password is not None else ""
    return {"GORELIABLE_SMTP_URL": f"{scheme}://{login}127.0.0.1:{port}",
            "GORELIABLE_NOTIFY_EMAIL_TO": "sre@example.org, Cost Owners <finops@example.org>",
            "GORELIABLE_NOTIFY_EMAIL_FROM": "GoReliable <reports@example.org>"}


PDF_BYTES = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def test_email_over_starttls_with_login_and_the_pdf_attached(tmp_path: Path, certificate: tuple[Path, Any],
                                                             smtp_factory: Callable[..., Any]) -> None:
    cert, context = certificate
    inbox, port, login = smtp_factory(context=context, password=PASSWORD_SENTINEL)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(PDF_BYTES)
    entries = run({**email_env(port, password=PASSWORD_SENTINEL), "SSL_CERT_FILE": str(cert)}, tmp_path, pdf=pdf)
    assert entries == [{"kind": "email", "outcome": "sent",
                        "reason": "email: sent to 2 recipients; report.pdf attached"}]
    [received] = inbox.messages
    assert received["tls"] and received["authenticated"]
    assert received["from"] == "reports@example.org"
    assert received["to"] == ["sre@example.org", "finops@example.org"]
    message = parsed(received)
    assert message["Subject"] == "[GoReliable] Monthly cost by team: 3 changes since the last run"
    assert message.get_content_type() == "multipart/mixed"
    types = [part.get_content_type() for part in message.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    text = message.get_body(("plain",)).get_content()
    html_part = message.get_body(("html",)).get_content()
    for change in CHANGES:
        assert change["text"] in text
    assert "order-success-rate: error budget 14.0% -&gt; 8.0%, below 10%" in html_part  # escaped in HTML
    assert f'<a href="{LINK}">Open the report</a>' in html_part
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "report.pdf" and attachment.get_content() == PDF_BYTES


def test_email_over_tls_smtps(tmp_path: Path, certificate: tuple[Path, Any], smtp_factory: Callable[..., Any]) -> None:
    cert, context = certificate
    inbox, port, _ = smtp_factory(context=context, implicit_tls=True, password=PASSWORD_SENTINEL)
    entries = run({**email_env(port, scheme="smtps", password=PASSWORD_SENTINEL), "SSL_CERT_FILE": str(cert)},
                  tmp_path)
    assert entries[0] == {"kind": "email", "outcome": "sent", "reason": "email: sent to 2 recipients"}
    assert inbox.messages[0]["tls"] and inbox.messages[0]["authenticated"]


def test_an_untrusted_certificate_is_refused(tmp_path: Path, certificate: tuple[Path, Any],
                                             smtp_factory: Callable[..., Any]) -> None:
    _, context = certificate
    inbox, port, _ = smtp_factory(context=context, implicit_tls=True)
    entries = run(email_env(port, scheme="smtps"), tmp_path)  # no SSL_CERT_FILE: the system's CAs
    assert entries[0]["outcome"] == "failed"
    assert entries[0]["reason"].startswith("email: the server's TLS certificate is not trusted (")
    assert inbox.messages == []


def test_a_pdf_over_the_limit_is_linked(tmp_path: Path, smtp_factory: Callable[..., Any]) -> None:
    inbox, port, _ = smtp_factory()  # a plain relay: no TLS offered, no login asked
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(PDF_BYTES)
    entries = run(email_env(port), tmp_path, pdf=pdf, pdf_limit_bytes=len(PDF_BYTES) - 1)
    link_to_pdf = LINK.replace("report.html", "report.pdf")
    assert entries[0]["outcome"] == "sent" and entries[0]["reason"].startswith(
        "email: sent to 2 recipients; report.pdf linked (0.0 MB is over the 0 MB limit)")
    message = parsed(inbox.messages[0])
    assert [p.get_content_type() for p in message.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    assert link_to_pdf in message.get_body(("plain",)).get_content()
    assert not inbox.messages[0]["tls"]


def test_bad_smtp_credentials_fail_once(tmp_path: Path, certificate: tuple[Path, Any],
                                        smtp_factory: Callable[..., Any]) -> None:
    cert, context = certificate
    inbox, port, login = smtp_factory(context=context, password="the-right-one-9")
    started = time.monotonic()
    entries = run({**email_env(port, password=PASSWORD_SENTINEL), "SSL_CERT_FILE": str(cert)}, tmp_path)
    assert entries == [{"kind": "email", "outcome": "failed", "reason": "email: SMTP authentication failed (535)"}]
    assert inbox.messages == []
    assert login is not None and 1 <= login.calls <= 2  # smtplib's one login() (PLAIN, then LOGIN): not retried
    assert time.monotonic() - started < 0.5  # no backoff: bad credentials are final


def test_the_password_is_never_sent_in_clear(tmp_path: Path, smtp_factory: Callable[..., Any]) -> None:
    inbox, port, login = smtp_factory(password=PASSWORD_SENTINEL)  # a relay offering login without STARTTLS
    entries = run(email_env(port, password=PASSWORD_SENTINEL), tmp_path)
    assert entries[0]["outcome"] == "failed"
    assert entries[0]["reason"].startswith("email: the server offers no STARTTLS, and the password is never sent")
    assert login is not None and login.calls == 0 and inbox.messages == []


# --- idempotency ----------------------------------------------------------------------------------------------------

def test_a_run_is_notified_once(tmp_path: Path, receiver_factory: Callable[..., Receiver],
                                smtp_factory: Callable[..., Any]) -> None:
    receiver = receiver_factory()
    inbox, port, _ = smtp_factory()
    env = {"GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/slack"), **email_env(port)}
    first = run(env, tmp_path)
    assert [e["outcome"] for e in first] == ["sent", "sent"]
    again = run(env, tmp_path)  # the same run published again
    assert [e["outcome"] for e in again] == ["skipped", "skipped"]
    assert all(e["reason"].startswith(f"{e['kind']}: already sent for this run (at ") for e in again)
    assert len(receiver.requests) == 1 and len(inbox.messages) == 1
    next_run = run(env, tmp_path, summary={**SUMMARY, "run_id": "20261130T060000Z-77aa"})
    assert [e["outcome"] for e in next_run] == ["sent", "sent"]
    state = json.loads((tmp_path / "notifications.json").read_text())
    assert sorted(state["sent"]) == ["cost/20261123T060000Z-3f9a", "cost/20261130T060000Z-77aa"]
    assert sorted(state["sent"]["cost/20261123T060000Z-3f9a"]) == ["email", "slack"]


def test_a_failed_destination_is_tried_again_the_others_not(tmp_path: Path,
                                                            receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(lambda n: (200, {}, 0.0))
    down = receiver_factory(lambda n: (400, {}, 0.0) if n == 1 else (200, {}, 0.0))
    env = {"GORELIABLE_NOTIFY_SLACK_URL": receiver.url("/slack"), "GORELIABLE_NOTIFY_WEBHOOK_URL": down.url("/h")}
    assert [e["outcome"] for e in run(env, tmp_path)] == ["sent", "failed"]
    assert [e["outcome"] for e in run(env, tmp_path)] == ["skipped", "sent"]
    assert len(receiver.requests) == 1 and len(down.requests) == 2


# --- secrets ---------------------------------------------------------------------------------------------------------

def test_secrets_appear_in_no_outcome_log_or_file(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                  receiver_factory: Callable[..., Receiver],
                                                  certificate: tuple[Path, Any],
                                                  smtp_factory: Callable[..., Any]) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="goreliable_lib")
    cert, context = certificate
    ok = receiver_factory()
    failing = receiver_factory(lambda n: (500, {}, 0.0))
    _, port, _ = smtp_factory(context=context, password="another-password-1")  # refuses the sentinel password
    closed = closed_port()
    outcomes = []
    for number, (slack, hook) in enumerate([
        (ok.url(f"/services/{SLACK_SENTINEL}"), ok.url(f"/hook/{HOOK_SENTINEL}?token={HOOK_SENTINEL}")),
        (failing.url(f"/services/{SLACK_SENTINEL}"), failing.url(f"/hook/{HOOK_SENTINEL}")),
        (f"http://127.0.0.1:{closed}/{SLACK_SENTINEL}", f"http://{USER}:{PASSWORD_SENTINEL}@127.0.0.1:{closed}/h"),
    ]):
        env = {"GORELIABLE_NOTIFY_SLACK_URL": slack, "GORELIABLE_NOTIFY_WEBHOOK_URL": hook,
               **email_env(port, password=PASSWORD_SENTINEL), "SSL_CERT_FILE": str(cert)}
        outcomes += run(env, tmp_path, summary={**SUMMARY, "run_id": f"20261123T06000{number}Z-3f9a"})
    assert {e["outcome"] for e in outcomes} == {"sent", "failed"}
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    for sentinel in (SLACK_SENTINEL, HOOK_SENTINEL, PASSWORD_SENTINEL):
        assert sentinel not in json.dumps(outcomes)
        assert sentinel not in caplog.text
        assert sentinel not in written
    assert "http" not in json.dumps(outcomes)  # no URL of any kind in an outcome
    assert "example.org" not in json.dumps(outcomes)  # nor an address


# --- settings --------------------------------------------------------------------------------------------------------

def test_settings_validate_without_showing_secrets(tmp_path: Path) -> None:
    base = {"GORELIABLE_CONFIG": str(tmp_path / "c.yaml")}
    (tmp_path / "c.yaml").write_text("GORELIABLE_NOTIFY_EMAIL_TO: sre@example.org\n"
                                     "GORELIABLE_NOTIFY_EMAIL_FROM: reports@example.org\n")
    settings = load_notify_settings({**base, "GORELIABLE_SMTP_URL": f"smtps://{USER}:p%40{PASSWORD_SENTINEL}@relay"})
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.security) == ("relay", 465, "tls")
    assert settings.smtp.password == f"p@{PASSWORD_SENTINEL}"  # percent-decoded
    assert settings.email_to == ("sre@example.org",)  # from the config file
    assert PASSWORD_SENTINEL not in repr(settings)
    for value, message in [
        (f"smtp://{USER}:{PASSWORD_SENTINEL}@relay:port", "is not a URL, or its port is not a number"),
        (f"imap://{USER}:{PASSWORD_SENTINEL}@relay:25", "expected smtp://"),
        (f"smtp://{PASSWORD_SENTINEL}@relay:25", "a login needs both user and password"),
        (f"smtp://relay:25/{PASSWORD_SENTINEL}", "takes no path or query"),
    ]:
        with pytest.raises(BadInputError, match=message) as caught:
            load_notify_settings({**base, "GORELIABLE_SMTP_URL": value})
        assert PASSWORD_SENTINEL not in str(caught.value)
    with pytest.raises(BadInputError, match="GORELIABLE_SMTP_URL: not set; e-mail needs"):
        load_notify_settings(base)  # recipients without a relay
    with pytest.raises(BadInputError, match="'nobody' is not an e-mail address"):
        load_notify_settings({**base, "GORELIABLE_NOTIFY_EMAIL_TO": "nobody"})


def test_the_notification_urls_are_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"GORELIABLE_NOTIFY_SLACK_URL: https://hooks.example/{SLACK_SENTINEL}\n")
    with pytest.raises(BadInputError, match="GORELIABLE_NOTIFY_SLACK_URL: secrets come from the environment only"):
        load_settings({"GORELIABLE_CONFIG": str(config)})
    env = {"GORELIABLE_NOTIFY_WEBHOOK_URL": f"https://hooks.example/hook/{HOOK_SENTINEL}?t=1",
           "GORELIABLE_SMTP_URL": f"smtp://{USER}:{PASSWORD_SENTINEL}@relay:587"}
    secrets = secret_values(env)
    assert PASSWORD_SENTINEL in secrets and f"/hook/{HOOK_SENTINEL}" in secrets
    # what an HTTP library says of a failed request names the path without the host: masked too
    said = f"Max retries exceeded with url: /hook/{HOOK_SENTINEL}?t=1; login {PASSWORD_SENTINEL} refused"
    assert HOOK_SENTINEL not in scrub_text(said, secrets) and PASSWORD_SENTINEL not in scrub_text(said, secrets)

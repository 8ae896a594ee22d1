"""Notifications of a run (the runner's side: the CLI's process, once the run folder is final): Slack, a generic
JSON webhook and e-mail through the user's own SMTP relay. docs/notifications.md is the user's guide.

Rules (the report's `notify` parameter, `decide`):
- `on-change` (the default): send when the run has `changes` against the last good run, or when it failed;
- `always`: every run; `on-failure`: failed runs only; `never`: nothing.
A failed run's message carries its error (summary.json `error`, already masked by the runner).

Destinations come from the environment only (config.load_notify_settings; the URLs and the SMTP password are
secrets): `GORELIABLE_NOTIFY_SLACK_URL`, `GORELIABLE_NOTIFY_WEBHOOK_URL`, `GORELIABLE_SMTP_URL` with
`GORELIABLE_NOTIFY_EMAIL_TO` and `GORELIABLE_NOTIFY_EMAIL_FROM`. A destination that is not configured has no entry.

Sending never fails the report and never delays it beyond a bound: the destinations are sent to at once, each
through the kit's one retry policy (sources/http.py: 429, 5xx, refused connections retried with backoff; a timeout
not retried; for SMTP, 4xx answers and refused connections retried) under one deadline (`BUDGET_SECONDS` for the
whole run) and a timeout per attempt. Every outcome comes back as a summary.json `notifications` entry
{`kind`, `outcome` (`sent`|`failed`|`skipped`), `reason`}; a reason names the destination kind and what happened
(HTTP status, refused, timeout, SMTP code), never a URL, a password or an address.

A run is notified once per destination: what was sent is recorded in a state file (`state_file`, keyed by report,
run id and destination kind), so publishing the same run again skips with "already sent". A failed attempt is not
recorded: the next publication of that run tries again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import fcntl
import html
import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests

from goreliable_lib.config import NotifySettings, SmtpRelay, load_notify_settings
from goreliable_lib.errors import BadInputError
from goreliable_lib.reports.base import DEFAULT_NOTIFY_RULE, check_notify
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.scrub import scrub_text, secret_values
from goreliable_lib.sources.http import (
    RETRY_AFTER_STATUSES,
    RETRY_STATUSES,
    RetryPolicy,
    TransientError,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

#: Destination kinds, in the order their entries are returned.
KINDS = ("slack", "webhook", "email")
#: The variables that make each destination configured (a non-empty value).
KIND_VARIABLES = {
    "slack": ("GORELIABLE_NOTIFY_SLACK_URL",),
    "webhook": ("GORELIABLE_NOTIFY_WEBHOOK_URL",),
    "email": ("GORELIABLE_SMTP_URL", "GORELIABLE_NOTIFY_EMAIL_TO"),
}

#: The change kinds of the platform's two alerts (error budget below 10%, cost projected above its budget): listed
#: first in every message, so a long list never hides them. The changes module owns the kind names.
ERROR_BUDGET_THRESHOLD = "error_budget"
COST_BUDGET = "budget_status"
ALERT_KINDS = frozenset({ERROR_BUDGET_THRESHOLD, COST_BUDGET})
#: An SLO's budget falling below the alert threshold (10%) changes its status to `at_risk` (or `breached` below 0):
#: the changes module then writes one `slo_status` change, never an `error_budget` one, so that alert is these.
SLO_STATUS, SLO_ALERT_STATUSES = "slo_status", frozenset({"at_risk", "breached"})

#: The whole run's notifications end within this many seconds (destinations are sent to at once).
BUDGET_SECONDS = 30.0
#: One attempt's timeout (connect, and each read); a slow receiver is not waited for again.
TIMEOUT_SECONDS = 10.0
#: A PDF up to this size is attached to the e-mail; a larger one is linked.
PDF_ATTACH_LIMIT_BYTES = 5 * 1024 * 1024
#: An attempt is not started with less time than this left.
MIN_ATTEMPT_SECONDS = 1.0
#: Runs kept in the state file (the oldest are dropped beyond it).
STATE_RUNS_KEPT = 1000

# Slack's published limits (docs.slack.dev/reference/block-kit/blocks/...: header-block, section-block,
# context-block, button-element; "you can include up to 50 blocks in each message"; the message `text` is
# truncated past 40,000 characters and long ones are split, so it is kept under 4,000).
SLACK_MAX_BLOCKS = 50
SLACK_HEADER_MAX = 150
SLACK_SECTION_TEXT_MAX = 3000
SLACK_CONTEXT_ELEMENTS_MAX = 10
SLACK_BUTTON_TEXT_MAX = 75
SLACK_BUTTON_URL_MAX = 3000
SLACK_TEXT_MAX = 4000
#: Not a published limit: Slack refuses messages whose blocks hold ~13,000 characters or more
#: (`msg_blocks_too_long`, slackapi/bolt-js#2509), so a message's block text stays under this.
SLACK_BLOCKS_TEXT_BUDGET = 12000
#: Changes listed in a Slack message and in an e-mail; the rest are counted ("and N more: see the report").
SLACK_CHANGES_SHOWN = 20
EMAIL_CHANGES_SHOWN = 100
#: One change's line, at most (characters).
CHANGE_LINE_MAX = 280

#: The generic webhook's payload schema.
WEBHOOK_SCHEMA = "goreliable.notification/v1"
#: How the retry policy stands for notifications (the kit's one policy, sources/http.py), before the deadline.
NOTIFY_RETRIES = 3
NOTIFY_MAX_BACKOFF_SECONDS = 2.0
NOTIFY_MAX_RETRY_AFTER_SECONDS = 5.0
#: Temporary SMTP failures (RFC 5321 4yz replies) are retried; permanent ones (5yz) are final.
SMTP_TRANSIENT = range(400, 500)


class _Final(Exception):
    """An attempt failed in a way another attempt would not mend (a 4xx answer, bad credentials, TLS refused)."""


@dataclass(frozen=True)
class Decision:
    """Whether a run is sent, and why (the reason of every `skipped` entry)."""

    send: bool
    reason: str


def decide(rule: str, status: str, changes: Sequence[Mapping[str, Any]]) -> Decision:
    """The rule applied to a run: a failed run is sent under every rule but `never`; an ok run under `always`,
    and under `on-change` when it has changes. An unknown rule is bad input."""
    check_notify(rule, "notify")  # the parameter's own check (reports/base.py)
    if rule == "never":
        return Decision(False, "rule never")
    if status == "failed":
        return Decision(True, "the run failed")
    if rule == "always":
        return Decision(True, "rule always")
    if rule == "on-failure":
        return Decision(False, "rule on-failure: the run did not fail")
    if changes:
        return Decision(True, f"{len(changes)} change{'s' if len(changes) != 1 else ''} since the last run")
    return Decision(False, "rule on-change: no change since the last run")


@dataclass(frozen=True)
class Notice:
    """What every destination says about one run."""

    report: str
    run_id: str | None
    status: str
    title: str
    headline: str
    changes: tuple[Mapping[str, Any], ...]
    link: str | None
    summary: Mapping[str, Any] = field(repr=False)

    @property
    def error(self) -> str | None:
        """A failed run's error on one line (`Type: message`), or None."""
        error = self.summary.get("error")
        if self.status != "failed":
            return None
        if not isinstance(error, Mapping):
            return "the run failed"
        return f"{error.get('type', 'error')}: {error.get('message', '')}".strip()


def change_text(change: Mapping[str, Any]) -> str:
    """A change on one line: its `text`, or `subject: before -> after`."""
    text = change.get("text")
    if not text:
        text = f"{change.get('subject', change.get('kind', 'change'))}: {change.get('before')} -> {change.get('after')}"
    return _clip(" ".join(str(text).split()), CHANGE_LINE_MAX)


def is_platform_alert(change: Mapping[str, Any]) -> bool:
    """Whether a change carries one of the platform's two alerts: a cost budget's status, an error budget crossing
    a threshold, or an SLO newly at risk or breached (its budget below 10%)."""
    kind = change.get("kind")
    return kind in ALERT_KINDS or (kind == SLO_STATUS and change.get("after") in SLO_ALERT_STATUSES)


def build_notice(summary: Mapping[str, Any], changes: Sequence[Mapping[str, Any]], *, headline: str,
                 link: str | None) -> Notice:
    """The run as its messages tell it: a title, the headline, the changes (the platform's alerts first)."""
    report = str(summary.get("report") or "report")
    parameters = summary.get("parameters")
    name = str(parameters.get("title") or "") if isinstance(parameters, Mapping) else ""
    name = " ".join((name or f"{report} report").split())
    status = str(summary.get("status") or "ok")
    if status == "failed":
        title = f"{name}: the run failed"
    elif changes:
        title = f"{name}: {len(changes)} change{'s' if len(changes) != 1 else ''} since the last run"
    elif summary.get("previous_run") is None and "previous_run" in summary:
        title = f"{name}: first run, nothing to compare with"
    else:
        title = f"{name}: no change since the last run"
    ordered = sorted(changes, key=lambda c: not is_platform_alert(c))  # stable: the platform's alerts first
    return Notice(report=report, run_id=summary.get("run_id"), status=status, title=title,
                  headline=" ".join(str(headline).split()), changes=tuple(ordered), link=link or None, summary=summary)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _more(hidden: int) -> str:
    return f"and {hidden} more change{'s' if hidden != 1 else ''}: see the report"


# --- Slack ---------------------------------------------------------------------------------------------------------

def _mrkdwn(text: str) -> str:
    """Text for Slack's mrkdwn: `&`, `<` and `>` escaped (Slack's "escaping text" rule)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SLACK_SECTION_TEXT_MAX)}}


def _web_link(link: str | None) -> bool:
    return bool(link) and str(link).startswith(("https://", "http://")) and len(str(link)) <= SLACK_BUTTON_URL_MAX


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Block Kit message within Slack's limits: a header, the headline, the error, the changes (at most
    `SLACK_CHANGES_SHOWN`, then "and N more"), the run's context line, a button to the report."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(notice.title, SLACK_HEADER_MAX),
                                    "emoji": False}},
    ]
    if notice.headline:
        blocks.append(_section(_mrkdwn(_clip(notice.headline, 1000))))
    if notice.error:
        blocks.append(_section("*Error:* " + _mrkdwn(_clip(notice.error, 1000))))
    shown = [f"• {_mrkdwn(change_text(c))}" for c in notice.changes[:SLACK_CHANGES_SHOWN]]
    if shown:
        chunk: list[str] = ["*Since the last run*"]
        for line in shown:
            if chunk and len("\n".join([*chunk, line])) > SLACK_SECTION_TEXT_MAX:
                blocks.append(_section("\n".join(chunk)))
                chunk = []
            chunk.append(line)
        blocks.append(_section("\n".join(chunk)))
    hidden = len(notice.changes) - len(shown)
    if hidden > 0:
        blocks.append(_section(f"_{_more(hidden)}_"))
    context = [f"report *{_mrkdwn(notice.report)}*", f"status *{_mrkdwn(notice.status)}*"]
    if notice.run_id:
        context.append(f"run `{_mrkdwn(str(notice.run_id))}`")
    if notice.link and not _web_link(notice.link):
        context.append(f"report at `{_mrkdwn(_clip(notice.link, 500))}`")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": t}
                                                   for t in context[:SLACK_CONTEXT_ELEMENTS_MAX]]})
    if _web_link(notice.link):
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the report"[:SLACK_BUTTON_TEXT_MAX]},
            "url": notice.link}]})
    text = notice.title + (f" — {notice.headline}" if notice.headline else "")
    return {"text": _clip(text, SLACK_TEXT_MAX), "blocks": blocks[:SLACK_MAX_BLOCKS]}


# --- the generic webhook -------------------------------------------------------------------------------------------

def headline_figures(summary: Mapping[str, Any]) -> dict[str, float]:
    """The summary's top-level numbers (`total_cost`, `idle_cost`, ...): the figures any report states alone."""
    return {k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def webhook_payload(notice: Notice) -> dict[str, Any]:
    """The generic webhook's JSON (`schema` goreliable.notification/v1): the run, its status and error, its
    changes as summary.json has them, the headline and its figures, and the link to the report."""
    summary = notice.summary
    return {
        "schema": WEBHOOK_SCHEMA,
        "report": notice.report,
        "run_id": notice.run_id,
        "status": notice.status,
        "generated_at": summary.get("generated_at"),
        "window": summary.get("window"),
        "link": notice.link,
        "title": notice.title,
        "headline": notice.headline,
        "figures": headline_figures(summary),
        "previous_run": summary.get("previous_run"),
        "changes": list(notice.changes),
        "error": summary.get("error") if notice.status == "failed" else None,
    }


# --- e-mail --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PdfPlan:
    """What the e-mail does with the report's PDF: attach it, link it, or say nothing (no PDF)."""

    attach: bytes | None
    note: str


def pdf_plan(pdf: Path | None, link: str | None, limit_bytes: int) -> PdfPlan:
    """Attach the PDF when it is at most `limit_bytes`, else link it (beside the report's page)."""
    if pdf is None:
        return PdfPlan(None, "")
    try:
        size = pdf.stat().st_size
    except OSError:
        return PdfPlan(None, f"{pdf.name} not found")
    if size <= limit_bytes:
        return PdfPlan(pdf.read_bytes(), f"{pdf.name} attached")
    where = f"{link.rsplit('/', 1)[0]}/{pdf.name}" if link and "/" in link else "beside the report"
    return PdfPlan(None, f"{pdf.name} linked ({size / 1e6:.1f} MB is over the {limit_bytes / 1e6:.0f} MB limit): "
                         f"{where}")


def email_message(notice: Notice, settings: NotifySettings, plan: PdfPlan) -> EmailMessage:
    """A text and a compact HTML part with the headline, the error and the changes; the PDF attached or linked."""
    shown = [change_text(c) for c in notice.changes[:EMAIL_CHANGES_SHOWN]]
    hidden = len(notice.changes) - len(shown)
    footer = " · ".join(p for p in (f"report {notice.report}", f"run {notice.run_id}" if notice.run_id else "",
                                    f"status {notice.status}") if p)
    lines = [notice.title, "", notice.headline]
    if notice.error:
        lines += ["", f"Error: {notice.error}"]
    if shown:
        lines += ["", "Since the last run:", *(f"- {t}" for t in shown)] + ([_more(hidden)] if hidden > 0 else [])
    if notice.link:
        lines += ["", f"Report: {notice.link}"]
    if plan.note and not plan.attach:
        lines += [f"PDF: {plan.note}"]
    lines += ["", footer]

    e = html.escape
    parts = [f'<h2 style="font-size:18px;margin:0 0 8px">{e(notice.title)}</h2>']
    if notice.headline:
        parts.append(f'<p style="margin:0 0 8px">{e(notice.headline)}</p>')
    if notice.error:
        parts.append(f'<p style="margin:0 0 8px;color:#b00020"><b>Error:</b> {e(notice.error)}</p>')
    if shown:
        items = "".join(f"<li>{e(t)}</li>" for t in shown)
        more = f"<p style=\"margin:0 0 8px\"><i>{e(_more(hidden))}</i></p>" if hidden > 0 else ""
        parts.append(f'<p style="margin:8px 0 4px"><b>Since the last run</b></p><ul style="margin:0 0 8px">{items}'
                     f"</ul>{more}")
    if notice.link:
        parts.append(f'<p style="margin:0 0 8px"><a href="{e(notice.link, quote=True)}">Open the report</a></p>')
    if plan.note and not plan.attach:
        parts.append(f'<p style="margin:0 0 8px">PDF: {e(plan.note)}</p>')
    parts.append(f'<p style="margin:12px 0 0;color:#666;font-size:12px">{e(footer)}</p>')
    body = ('<!DOCTYPE html><html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;'
            f'font-size:14px;color:#222">{"".join(parts)}</body></html>')

    message = EmailMessage()
    message["Subject"] = _clip(f"[GoReliable] {notice.title}", 200)
    message["From"] = settings.email_from or ""
    message["To"] = ", ".join(settings.email_to)
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    domain = (settings.email_from or "").rpartition("@")[2].strip(">") or "goreliable.invalid"
    message["Message-ID"] = email.utils.make_msgid(idstring=notice.report, domain=domain)
    message.set_content("\n".join(lines) + "\n")
    message.add_alternative(body, subtype="html")
    if plan.attach is not None:
        message.add_attachment(plan.attach, maintype="application", subtype="pdf", filename="report.pdf")
    return message


# --- sending -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeadlinePolicy(RetryPolicy):
    """The kit's retry policy, bounded by a deadline (`time.monotonic()`): no retry whose wait would pass it, and
    a timeout never retried (a slow receiver is waited for once)."""

    deadline: float = 0.0
    budget_seconds: float = BUDGET_SECONDS

    def refusal(self, failure: TransientError) -> str | None:
        if failure.timed_out:
            return "not retried: a receiver that timed out is not waited for again"
        reason = super().refusal(failure)
        if reason is not None:
            return reason
        wait = max(self.max_backoff_seconds, failure.retry_after or 0.0)
        if self.deadline - time.monotonic() < wait + MIN_ATTEMPT_SECONDS:
            return f"not retried: the {self.budget_seconds:g} s notification budget is spent"
        return None

    def attempt_timeout(self, timeout: float) -> float:
        """The timeout of the next attempt: `timeout`, or the time left if shorter (`_Final` when none is)."""
        left = self.deadline - time.monotonic()
        if left < MIN_ATTEMPT_SECONDS / 2:
            raise _Final(f"not sent: the {self.budget_seconds:g} s notification budget is spent")
        return min(timeout, left)


def _policy(deadline: float, budget_seconds: float) -> DeadlinePolicy:
    return DeadlinePolicy(retries=NOTIFY_RETRIES, max_backoff_seconds=NOTIFY_MAX_BACKOFF_SECONDS,
                          max_retry_after_seconds=NOTIFY_MAX_RETRY_AFTER_SECONDS, deadline=deadline,
                          budget_seconds=budget_seconds)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the exceptions it carries (urllib3 keeps the cause in `reason`)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                                 *current.args) if isinstance(e, BaseException))


def _connection_failure(exc: BaseException) -> str:
    """What a failed connection was, in words (never the exception's text: it may name the URL)."""
    causes = list(_causes(exc))
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset"
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
        return "the receiver's TLS certificate is not trusted"
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return "TLS failed"
    if any(type(c).__name__ in {"NameResolutionError", "gaierror"} for c in causes):
        return "the host name does not resolve"
    return f"connection failed ({type(exc).__name__})"


def _server_text(text: str, secrets: list[str]) -> str:
    """A receiver's own words (Slack's `invalid_blocks`, an SMTP reply), short and masked."""
    return _clip(" ".join(scrub_text(text, secrets).split()), 120)


def _post_json(kind: str, url: str, payload: Mapping[str, Any], policy: DeadlinePolicy, timeout: float,
               secrets: list[str]) -> str:
    """POST `payload` as JSON under the policy; the `sent` reason, or `TransientError`/`_Final` with the failure."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")

    def attempt() -> str:
        seconds = policy.attempt_timeout(timeout)
        try:
            with requests.Session() as session:
                response = session.post(url, data=body, timeout=seconds, allow_redirects=False,
                                        headers={"Content-Type": "application/json; charset=utf-8"})
        except requests.Timeout:
            raise TransientError(f"{kind}: no answer within {seconds:.3g} s (timeout)", timed_out=True) from None
        except requests.ConnectionError as exc:
            raise TransientError(f"{kind}: {_connection_failure(exc)}") from None
        except requests.RequestException as exc:
            raise _Final(f"{kind}: the request failed ({type(exc).__name__})") from None
        status = response.status_code
        if status in RETRY_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After")) if status in RETRY_AFTER_STATUSES else None
            raise TransientError(f"{kind}: HTTP {status} from the receiver", status=status, retry_after=wait)
        if not 200 <= status < 300:
            said = _server_text(response.text, secrets) if 400 <= status < 500 else ""
            redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
            raise _Final(f"{kind}: HTTP {status} from the receiver{redirect}" + (f": {said}" if said else ""))
        return f"{kind}: sent (HTTP {status})"

    return policy.call(attempt)


def _smtp_failure(exc: smtplib.SMTPResponseException, secrets: list[str]) -> Exception:
    """An SMTP reply as a failure: 4yz retried, 5yz final; its code and the server's words (masked)."""
    said = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    text = f"email: the server answered {exc.smtp_code} ({_server_text(said, secrets)})"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _Final(f"email: SMTP authentication failed ({exc.smtp_code})")
    return TransientError(text) if exc.smtp_code in SMTP_TRANSIENT else _Final(text)


def _send_mail(relay: SmtpRelay, message: EmailMessage, policy: DeadlinePolicy, timeout: float,
               environ: Mapping[str, str], secrets: list[str]) -> int:
    """Send `message` through the relay under the policy: STARTTLS when offered (`smtp://`) or TLS (`smtps://`),
    the login only over an encrypted connection; the number of recipients accepted."""
    context = ssl.create_default_context(cafile=environ.get("SSL_CERT_FILE") or None)

    def attempt() -> int:
        seconds = policy.attempt_timeout(timeout)
        try:
            client = (smtplib.SMTP_SSL(relay.host, relay.port, timeout=seconds, context=context)
                      if relay.security == "tls" else smtplib.SMTP(relay.host, relay.port, timeout=seconds))
            with client:
                client.ehlo()
                encrypted = relay.security == "tls"
                if not encrypted and client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                    encrypted = True
                if relay.username is not None:
                    if not encrypted:
                        raise _Final("email: the server offers no STARTTLS, and the password is never sent in "
                                     "clear (use smtps:// or a relay that offers STARTTLS)")
                    client.login(relay.username, relay.password or "")
                refused = client.send_message(message)
        except TimeoutError:
            raise TransientError(f"email: no answer within {seconds:.3g} s (timeout)", timed_out=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise _Final(f"email: every recipient was refused ({', '.join(map(str, codes))})") from None
        except smtplib.SMTPNotSupportedError:
            raise _Final("email: the server offers no login (AUTH) on this connection") from None
        except smtplib.SMTPResponseException as exc:
            raise _smtp_failure(exc, secrets) from None
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib reports a reply that never came as a disconnect
                raise TransientError(f"email: no answer within {seconds:.3g} s (timeout)", timed_out=True) from None
            raise TransientError("email: the server closed the connection") from None
        except ssl.SSLCertVerificationError as exc:
            raise _Final(f"email: the server's TLS certificate is not trusted ({exc.verify_message})") from None
        except ssl.SSLError as exc:
            raise _Final(f"email: TLS failed ({exc.reason or type(exc).__name__})") from None
        except ConnectionRefusedError:
            raise TransientError("email: connection refused") from None
        except OSError as exc:
            raise TransientError(f"email: {_connection_failure(exc)}") from None
        return len(_recipients(message)) - len(refused)

    return policy.call(attempt)


def _recipients(message: EmailMessage) -> list[str]:
    """The addresses a message goes to (its To header)."""
    return [address for _, address in email.utils.getaddresses(message.get_all("To", []))]


# --- the state file: what was sent -------------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(state_file: Path) -> Iterator[None]:
    """An exclusive lock beside the state file (`<name>.lock`), for runs of several reports at once."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    with open(state_file.with_name(state_file.name + ".lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_state(state_file: Path) -> dict[str, dict[str, str]]:
    """{run key: {kind: sent at}}; a missing file is empty, an unreadable one too (and said in the log)."""
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("notifications: the state file %s is unreadable (%s): runs may be notified again",
                       state_file, type(exc).__name__)
        return {}
    sent = data.get("sent") if isinstance(data, dict) else None
    return {str(k): dict(v) for k, v in sent.items() if isinstance(v, dict)} if isinstance(sent, dict) else {}


def sent_kinds(state_file: Path, key: str) -> dict[str, str]:
    """The destination kinds already sent for the run `key` (`report/run_id`), with when."""
    with _locked(state_file):
        return _read_state(state_file).get(key, {})


def _record_sent(state_file: Path, key: str, kinds: Sequence[str]) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with _locked(state_file):
        state = _read_state(state_file)
        entry = state.pop(key, {})
        entry.update(dict.fromkeys(kinds, now))
        state[key] = entry  # newest last: the oldest runs are dropped first
        kept = dict(list(state.items())[-STATE_RUNS_KEPT:])
        atomic_write_text(state_file, json.dumps({"version": 1, "sent": kept}, indent=1, sort_keys=False) + "\n")


def run_key(summary: Mapping[str, Any]) -> str:
    """The run's key in the state file: `report/run_id` (the generation time for a run without an id)."""
    return f"{summary.get('report', 'report')}/{summary.get('run_id') or summary.get('generated_at') or 'unknown'}"


# --- the entry point -----------------------------------------------------------------------------------------------

def _entry(kind: str, outcome: str, reason: str) -> dict[str, str]:
    return {"kind": kind, "outcome": outcome, "reason": reason}


def configured_kinds(environ: Mapping[str, str]) -> list[str]:
    """The destination kinds whose variables are set (in `KINDS` order)."""
    return [kind for kind in KINDS if any(environ.get(name) for name in KIND_VARIABLES[kind])]


def _failure_reason(kind: str, exc: BaseException) -> str:
    if isinstance(exc, TransientError):
        attempts = f"{exc.attempts} attempts; " if exc.attempts > 1 and not exc.outcome.startswith("gave up") else ""
        return f"{exc} ({attempts}{exc.outcome})"
    if isinstance(exc, _Final):
        text = str(exc)
        return text if text.startswith(f"{kind}:") else f"{kind}: {text}"
    return f"{kind}: not sent: unexpected {type(exc).__name__}"


def _run_jobs(jobs: Mapping[str, Callable[[], str]], deadline: float, secrets: list[str]) -> dict[str, tuple[str, str]]:
    """Each job in its own (daemon) thread, all waited for until the deadline; (outcome, reason) per kind."""
    results: dict[str, tuple[str, str]] = {}

    def run(kind: str, job: Callable[[], str]) -> None:
        try:
            results[kind] = ("sent", job())
        except Exception as exc:  # noqa: BLE001  (sending never fails the report)
            if not isinstance(exc, TransientError | _Final):
                logger.error("notifications: %s: unexpected %s: %s", kind, type(exc).__name__,
                             scrub_text(str(exc), secrets))
            results[kind] = ("failed", _failure_reason(kind, exc))

    threads = {kind: threading.Thread(target=run, args=(kind, job), name=f"notify-{kind}", daemon=True)
               for kind, job in jobs.items()}
    for thread in threads.values():
        thread.start()
    for kind, thread in threads.items():
        thread.join(max(deadline - time.monotonic(), 0.0) + MIN_ATTEMPT_SECONDS)
        if thread.is_alive():
            results[kind] = ("failed", f"{kind}: no answer within the notification budget (timeout)")
    return {kind: results[kind] for kind in jobs}


def notify_run(summary: Mapping[str, Any], changes: Sequence[Mapping[str, Any]], rule: str = DEFAULT_NOTIFY_RULE, *,
               headline: str, link: str | None, pdf: Path | None, environ: Mapping[str, str], state_file: Path,
               budget_seconds: float = BUDGET_SECONDS, timeout_seconds: float = TIMEOUT_SECONDS,
               pdf_limit_bytes: int = PDF_ATTACH_LIMIT_BYTES) -> list[dict[str, str]]:
    """Notify a run's destinations under `rule`; summary.json's `notifications` entries, one per configured kind.

    `summary` is the run's summary.json (report, run_id, status, error, ...), `changes` its changes, `headline`
    its one-line headline (runner/index.py `headline`), `link` where the report is read, `pdf` its PDF if any,
    `environ` the environment the destinations come from, `state_file` where sent runs are recorded. Never
    raises, and returns within about `budget_seconds`."""
    kinds = configured_kinds(environ)
    if not kinds:
        return []
    secrets = secret_values(environ)
    try:
        return _notify(summary, changes, rule, kinds, headline=headline, link=link, pdf=pdf, environ=environ,
                       state_file=state_file, budget_seconds=budget_seconds, timeout_seconds=timeout_seconds,
                       pdf_limit_bytes=pdf_limit_bytes, secrets=secrets)
    except Exception as exc:  # noqa: BLE001  (a notification never fails the report)
        logger.error("notifications: unexpected %s: %s", type(exc).__name__, scrub_text(str(exc), secrets))
        return [_entry(kind, "failed", f"{kind}: not sent: unexpected {type(exc).__name__}") for kind in kinds]


def _notify(summary: Mapping[str, Any], changes: Sequence[Mapping[str, Any]], rule: str, kinds: list[str], *,
            headline: str, link: str | None, pdf: Path | None, environ: Mapping[str, str], state_file: Path,
            budget_seconds: float, timeout_seconds: float, pdf_limit_bytes: int,
            secrets: list[str]) -> list[dict[str, str]]:
    start = time.monotonic()
    try:
        settings = load_notify_settings(environ)
        decision = decide(rule, str(summary.get("status") or "ok"), changes)
    except BadInputError as exc:
        reason = scrub_text(str(exc), secrets)
        return _logged([_entry(kind, "failed", f"{kind}: not sent: {reason}") for kind in kinds])
    if not decision.send:
        return _logged([_entry(kind, "skipped", f"{kind}: {decision.reason}") for kind in kinds])

    key = run_key(summary)
    try:
        before = sent_kinds(state_file, key)
    except OSError as exc:
        logger.warning("notifications: the state file %s cannot be read (%s): this run may be notified again",
                       state_file, type(exc).__name__)
        before = {}
    pending = [kind for kind in kinds if kind not in before]
    notice = build_notice(summary, changes, headline=headline, link=link)
    deadline = start + budget_seconds
    policy = _policy(deadline, budget_seconds)
    jobs: dict[str, Callable[[], str]] = {}
    if "slack" in pending and settings.slack_url:
        url = settings.slack_url
        jobs["slack"] = lambda: _post_json("slack", url, slack_payload(notice), policy, timeout_seconds, secrets)
    if "webhook" in pending and settings.webhook_url:
        hook = settings.webhook_url
        jobs["webhook"] = lambda: _post_json("webhook", hook, webhook_payload(notice), policy, timeout_seconds,
                                             secrets)
    if "email" in pending and settings.smtp is not None:
        relay = settings.smtp
        plan = pdf_plan(pdf, link, pdf_limit_bytes)
        message = email_message(notice, settings, plan)

        def mail() -> str:
            accepted = _send_mail(relay, message, policy, timeout_seconds, environ, secrets)
            total = len(settings.email_to)
            who = f"{accepted} recipient{'s' if accepted != 1 else ''}" + (
                f" ({total - accepted} refused)" if accepted < total else "")
            return f"email: sent to {who}" + (f"; {plan.note}" if plan.note else "")

        jobs["email"] = mail
    results = _run_jobs(jobs, deadline, secrets)
    sent = [kind for kind, (outcome, _) in results.items() if outcome == "sent"]
    if sent:
        try:
            _record_sent(state_file, key, sent)
        except OSError as exc:
            logger.warning("notifications: could not record what was sent in %s (%s): a re-published run may be "
                           "notified again", state_file, type(exc).__name__)
    entries = []
    for kind in kinds:
        if kind in before:
            entries.append(_entry(kind, "skipped", f"{kind}: already sent for this run (at {before[kind]})"))
        else:
            outcome, reason = results.get(kind, ("failed", f"{kind}: not sent: not configured"))
            entries.append(_entry(kind, outcome, scrub_text(reason, secrets)))
    return _logged(entries)


def _logged(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    for entry in entries:
        level = logging.WARNING if entry["outcome"] == "failed" else logging.INFO
        logger.log(level, "notification %s", entry["reason"])
    return entries

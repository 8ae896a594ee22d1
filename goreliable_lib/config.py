"""Settings from the environment (and an optional config file with the same keys).

Secrets (tokens, passwords, AWS keys, the notification URLs) are read from the environment only: a config file
that holds one is refused, so a secret can never be committed next to the project or passed as a report parameter.
The notification destinations (`load_notify_settings`) are validated apart from the data sources' settings: an
error names the variable, never a secret's value.

Settings that are not plain text are validated with pydantic: a boolean is `true`/`false`, `yes`/`no`, `on`/`off`
or `1`/`0` (any case), and anything else (`GORELIABLE_THANOS_DEDUP=ture`) is refused naming the variable and
the accepted values (exit 2), never read as false. pydantic-settings was considered: its sources read
`os.environ` itself, while `load_settings` takes the environment as a mapping (tests, the ConfigMap check) and
merges the config file under its own rules (secrets refused, unknown keys named), so the merged values go
through a plain pydantic model instead (no further dependency).
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.yamlfile import read_yaml

#: Keys a config file may set (the same names as the environment variables).
FILE_KEYS = frozenset({
    "GORELIABLE_PROFILE", "GORELIABLE_PROMETHEUS_URL", "GORELIABLE_PROMETHEUS_HEADERS",
    "GORELIABLE_PROMETHEUS_CA_BUNDLE", "GORELIABLE_PROMETHEUS_INSECURE", "GORELIABLE_PROMETHEUS_TIMEOUT",
    "GORELIABLE_PROMETHEUS_USERNAME", "GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS", "GORELIABLE_THANOS_DEDUP",
    "GORELIABLE_THANOS_PARTIAL_RESPONSE",
    "GORELIABLE_THANOS_MAX_SOURCE_RESOLUTION", "GORELIABLE_KUBECOST_URL", "GORELIABLE_DRILLS_URI",
    "GORELIABLE_NOW", "GORELIABLE_RECORD", "GORELIABLE_ARCHIVE_URI",
    "GORELIABLE_NOTIFY_EMAIL_TO", "GORELIABLE_NOTIFY_EMAIL_FROM",
})
#: Keys that are secrets: environment only.
SECRET_KEYS = frozenset({
    "GORELIABLE_PROMETHEUS_TOKEN", "GORELIABLE_PROMETHEUS_PASSWORD", "GORELIABLE_KUBECOST_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
    "GORELIABLE_NOTIFY_SLACK_URL", "GORELIABLE_NOTIFY_WEBHOOK_URL", "GORELIABLE_SMTP_URL",
})
#: Secret keys whose value is a URL: the whole URL, its path and query (a webhook's token) and its password are
#: each a secret (an HTTP library's error names the path without the host; a log may show the password alone).
SECRET_URL_KEYS = ("GORELIABLE_NOTIFY_SLACK_URL", "GORELIABLE_NOTIFY_WEBHOOK_URL", "GORELIABLE_SMTP_URL")
DEFAULT_CONFIG_FILE = Path("~/.config/goreliable/config.yaml")


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values in the environment that must never be written anywhere: the secret keys, header values,
    and any variable whose name says it is a secret. Short values (< 6 chars) are ignored."""
    env = os.environ if env is None else env
    values: set[str] = set()
    for name, value in env.items():
        upper = name.upper()
        if name in SECRET_KEYS or upper.endswith(("TOKEN", "SECRET", "PASSWORD", "SECRET_ACCESS_KEY", "API_KEY")):
            values.add(value)
        if name == "GORELIABLE_PROMETHEUS_HEADERS":
            values.update(v for _, v in parse_headers(value, field=name).items())
        if name in SECRET_URL_KEYS:
            values.update(_url_secrets(value))
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


def _url_secrets(url: str) -> set[str]:
    """The parts of a secret URL that are secrets on their own: path + query, and the password (as written and
    decoded). A value that does not parse as a URL is a secret as a whole, which the caller keeps anyway."""
    try:
        parts = urlsplit(url.strip())
        password = parts.password
    except ValueError:
        return set()
    found = {parts.path, parts.path + (f"?{parts.query}" if parts.query else ""), parts.query}
    if password:
        found.update({password, unquote(password)})
    return {v for v in found if v and v != "/"}


def parse_headers(text: str | None, *, field: str = "GORELIABLE_PROMETHEUS_HEADERS") -> dict[str, str]:
    """`Name=value;Name2=value2` into a dict; a part without `=` is an error naming the variable."""
    headers: dict[str, str] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise BadInputError(f"{field}: {part.strip()!r} is not Name=value (separate headers with ';')")
        headers[name.strip()] = value.strip()
    return headers


#: How a boolean setting may be spelt (any case).
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def _boolean(value: Any) -> Any:
    """A boolean setting's text to bool; anything but the accepted words is an error (never silently false)."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"is not a boolean; accepted: {', '.join(TRUE_WORDS + FALSE_WORDS)} (any case)")
    return value


Flag = Annotated[bool | None, BeforeValidator(_boolean)]


class _TypedValues(BaseModel):
    """The settings that are not plain text, validated; field names are the variables' (errors name them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    GORELIABLE_PROMETHEUS_INSECURE: Flag = None
    GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS: Flag = None
    GORELIABLE_THANOS_DEDUP: Flag = None
    GORELIABLE_THANOS_PARTIAL_RESPONSE: Flag = None
    GORELIABLE_PROMETHEUS_TIMEOUT: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 60.0


def _typed_values(values: Mapping[str, str]) -> _TypedValues:
    """Validate the typed settings; the first problem is a BadInputError naming the variable and its value."""
    try:
        return _TypedValues.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        if name == "GORELIABLE_PROMETHEUS_TIMEOUT":
            message = f"is not a positive number of seconds ({message})"
        raise BadInputError(f"{name}: {values.get(name)!r} {message}") from None


@dataclass(frozen=True)
class Settings:
    """Everything `connect()` needs, resolved from the environment and the config file."""

    profile: str
    prometheus_url: str | None = None
    prometheus_token: str | None = field(default=None, repr=False)
    prometheus_headers: dict[str, str] = field(default_factory=dict, repr=False)
    prometheus_username: str | None = None
    prometheus_password: str | None = field(default=None, repr=False)
    prometheus_ca_bundle: str | None = None
    prometheus_verify: bool = True
    prometheus_timeout: float = 60.0
    prometheus_retry_timeouts: bool = False
    thanos_dedup: bool | None = None
    thanos_partial_response: bool | None = None
    thanos_max_source_resolution: str | None = None
    kubecost_url: str | None = None
    kubecost_token: str | None = field(default=None, repr=False)
    drills_uri: str | None = None
    now: str | None = None
    record: str | None = None
    archive_uri: str | None = None

    @property
    def snapshot_path(self) -> str | None:
        """The folder of a `snapshot:PATH` profile."""
        return self.profile.partition(":")[2] if self.profile.startswith("snapshot:") else None


def _load_file(path: Path) -> dict[str, str]:
    data = read_yaml(path, what="config (GORELIABLE_CONFIG)")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: expected a mapping of GORELIABLE_* keys")
    values: dict[str, str] = {}
    for key, value in data.items():
        if key in SECRET_KEYS:
            raise BadInputError(f"{path}: {key}: secrets come from the environment only, never from a file")
        if key not in FILE_KEYS:
            raise BadInputError(f"{path}: {key}: unknown key (known: {', '.join(sorted(FILE_KEYS))})")
        values[key] = "" if value is None else str(value)
    return values


def _merged_values(env: Mapping[str, str]) -> dict[str, str]:
    """The config file's keys (GORELIABLE_CONFIG, or the default file when it exists) under the environment's
    non-empty GORELIABLE_* variables."""
    file_name = env.get("GORELIABLE_CONFIG")
    file_path = Path(file_name).expanduser() if file_name else DEFAULT_CONFIG_FILE.expanduser()
    values = _load_file(file_path) if (file_name or file_path.exists()) else {}
    values.update({k: v for k, v in env.items() if k.startswith("GORELIABLE_") and v != ""})
    return values


def load_settings(env: Mapping[str, str] | None = None, profile: str | None = None) -> Settings:
    """Resolve the settings: explicit `profile` > environment > config file > defaults.

    The profile defaults to `demo` when no source URL is set, and to `live` otherwise.
    """
    env = dict(os.environ if env is None else env)
    values = _merged_values(env)

    urls = [values.get(k) for k in ("GORELIABLE_PROMETHEUS_URL", "GORELIABLE_KUBECOST_URL", "GORELIABLE_DRILLS_URI")]
    chosen = profile or values.get("GORELIABLE_PROFILE") or ("live" if any(urls) else "demo")
    if chosen not in {"demo", "live"} and not (chosen.startswith("snapshot:") and len(chosen) > len("snapshot:")):
        raise BadInputError(f"GORELIABLE_PROFILE: {chosen!r} is not demo, live or snapshot:PATH")
    typed = _typed_values(values)
    return Settings(
        profile=chosen,
        prometheus_url=values.get("GORELIABLE_PROMETHEUS_URL"),
        prometheus_token=env.get("GORELIABLE_PROMETHEUS_TOKEN") or None,
        prometheus_headers=parse_headers(values.get("GORELIABLE_PROMETHEUS_HEADERS")),
        prometheus_username=values.get("GORELIABLE_PROMETHEUS_USERNAME"),
        prometheus_password=env.get("GORELIABLE_PROMETHEUS_PASSWORD") or None,
        prometheus_ca_bundle=values.get("GORELIABLE_PROMETHEUS_CA_BUNDLE"),
        prometheus_verify=not typed.GORELIABLE_PROMETHEUS_INSECURE,
        prometheus_timeout=typed.GORELIABLE_PROMETHEUS_TIMEOUT,
        prometheus_retry_timeouts=bool(typed.GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS),
        thanos_dedup=typed.GORELIABLE_THANOS_DEDUP,
        thanos_partial_response=typed.GORELIABLE_THANOS_PARTIAL_RESPONSE,
        thanos_max_source_resolution=values.get("GORELIABLE_THANOS_MAX_SOURCE_RESOLUTION"),
        kubecost_url=values.get("GORELIABLE_KUBECOST_URL"),
        kubecost_token=env.get("GORELIABLE_KUBECOST_TOKEN") or None,
        drills_uri=values.get("GORELIABLE_DRILLS_URI"),
        now=values.get("GORELIABLE_NOW"),
        record=values.get("GORELIABLE_RECORD"),
        archive_uri=values.get("GORELIABLE_ARCHIVE_URI"),
    )


#: Default ports of an SMTP URL without one: 25 for `smtp://` (STARTTLS when offered), 465 for `smtps://` (TLS).
SMTP_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpRelay:
    """The user's SMTP relay, from `GORELIABLE_SMTP_URL` (`smtp://[user:password@]host:port` or `smtps://...`)."""

    host: str
    port: int
    #: `starttls`: plain connection upgraded when the server offers STARTTLS; `tls`: TLS from the first byte.
    security: Literal["starttls", "tls"]
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class NotifySettings:
    """Where a run's notifications go; every destination is optional (None or empty: not configured)."""

    slack_url: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    smtp: SmtpRelay | None = None
    email_to: tuple[str, ...] = ()
    email_from: str | None = None


def _webhook_url(name: str, value: str | None) -> str | None:
    """An http(s) URL with a host; the error names the variable, never the value (it holds a token)."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in {"http", "https"} or not host:
        raise BadInputError(f"{name}: is not an http:// or https:// URL with a host (the value is not shown: it is "
                            "a secret)")
    return value.strip()


def _smtp_relay(value: str | None) -> SmtpRelay | None:
    """`smtp://[user:password@]host[:port]` or `smtps://...`; user and password percent-decoded."""
    if not value:
        return None
    name = "GORELIABLE_SMTP_URL"
    hidden = "(the value is not shown: it may hold a password)"
    try:
        parts = urlsplit(value.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        raise BadInputError(f"{name}: is not a URL, or its port is not a number {hidden}") from None
    if parts.scheme not in SMTP_DEFAULT_PORTS or not host:
        raise BadInputError(f"{name}: expected smtp://[user:password@]host:port (STARTTLS when the server offers "
                            f"it) or smtps://... (TLS) {hidden}")
    if parts.path not in {"", "/"} or parts.query:
        raise BadInputError(f"{name}: takes no path or query, only [user:password@]host:port {hidden}")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None):
        raise BadInputError(f"{name}: a login needs both user and password (user:password@host) {hidden}")
    return SmtpRelay(host=host, port=port or SMTP_DEFAULT_PORTS[parts.scheme],
                     security="tls" if parts.scheme == "smtps" else "starttls", username=username, password=password)


def _addresses(name: str, value: str | None) -> tuple[str, ...]:
    """Comma-separated e-mail addresses (`a@example.com, Name <b@example.com>`), each with an `@`."""
    if not value:
        return ()
    found = []
    for part in value.split(","):
        if not part.strip():
            continue
        address = email.utils.parseaddr(part.strip())[1]
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            raise BadInputError(f"{name}: {part.strip()!r} is not an e-mail address")
        found.append(part.strip())
    return tuple(found)


def load_notify_settings(env: Mapping[str, str] | None = None) -> NotifySettings:
    """The notification destinations: the URLs from the environment only (secrets), the addresses from the
    environment or the config file. E-mail needs the relay, the recipients and the sender together; an error
    names the variable and never shows a secret's value."""
    env = dict(os.environ if env is None else env)
    values = _merged_values(env)
    smtp = _smtp_relay(env.get("GORELIABLE_SMTP_URL"))
    email_to = _addresses("GORELIABLE_NOTIFY_EMAIL_TO", values.get("GORELIABLE_NOTIFY_EMAIL_TO"))
    senders = _addresses("GORELIABLE_NOTIFY_EMAIL_FROM", values.get("GORELIABLE_NOTIFY_EMAIL_FROM"))
    if len(senders) > 1:
        raise BadInputError("GORELIABLE_NOTIFY_EMAIL_FROM: one sender address, not a list")
    if smtp is not None or email_to:
        missing = [name for name, given in (("GORELIABLE_SMTP_URL", smtp), ("GORELIABLE_NOTIFY_EMAIL_TO", email_to),
                                            ("GORELIABLE_NOTIFY_EMAIL_FROM", senders)) if not given]
        if missing:
            raise BadInputError(f"{', '.join(missing)}: not set; e-mail needs GORELIABLE_SMTP_URL, "
                                "GORELIABLE_NOTIFY_EMAIL_TO and GORELIABLE_NOTIFY_EMAIL_FROM together")
    return NotifySettings(
        slack_url=_webhook_url("GORELIABLE_NOTIFY_SLACK_URL", env.get("GORELIABLE_NOTIFY_SLACK_URL")),
        webhook_url=_webhook_url("GORELIABLE_NOTIFY_WEBHOOK_URL", env.get("GORELIABLE_NOTIFY_WEBHOOK_URL")),
        smtp=smtp, email_to=email_to, email_from=senders[0] if senders else None)

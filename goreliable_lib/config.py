"""Settings from the environment (and an optional config file with the same keys).

Secrets (tokens, passwords, AWS keys) are read from the environment only: a config file that holds one
is refused, so a secret can never be committed next to the project or passed as a report parameter.

Settings that are not plain text are validated with pydantic: a boolean is `true`/`false`, `yes`/`no`, `on`/`off`
or `1`/`0` (any case), and anything else (`GORELIABLE_THANOS_DEDUP=ture`) is refused naming the variable and
the accepted values (exit 2), never read as false. pydantic-settings was considered: its sources read
`os.environ` itself, while `load_settings` takes the environment as a mapping (tests, the ConfigMap check) and
merges the config file under its own rules (secrets refused, unknown keys named), so the merged values go
through a plain pydantic model instead (no further dependency).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

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
})
#: Keys that are secrets: environment only.
SECRET_KEYS = frozenset({
    "GORELIABLE_PROMETHEUS_TOKEN", "GORELIABLE_PROMETHEUS_PASSWORD", "GORELIABLE_KUBECOST_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
})
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
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


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


def load_settings(env: Mapping[str, str] | None = None, profile: str | None = None) -> Settings:
    """Resolve the settings: explicit `profile` > environment > config file > defaults.

    The profile defaults to `demo` when no source URL is set, and to `live` otherwise.
    """
    env = dict(os.environ if env is None else env)
    file_name = env.get("GORELIABLE_CONFIG")
    file_path = Path(file_name).expanduser() if file_name else DEFAULT_CONFIG_FILE.expanduser()
    values = _load_file(file_path) if (file_name or file_path.exists()) else {}
    values.update({k: v for k, v in env.items() if k.startswith("GORELIABLE_") and v != ""})

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

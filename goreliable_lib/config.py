"""Settings from the environment (and an optional config file with the same keys).

Secrets (tokens, passwords, AWS keys) are read from the environment only: a config file that holds one
is refused, so a secret can never be committed next to the project or passed as a report parameter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.yamlfile import read_yaml

#: Keys a config file may set (the same names as the environment variables).
FILE_KEYS = frozenset({
    "GORELIABLE_PROFILE", "GORELIABLE_PROMETHEUS_URL", "GORELIABLE_PROMETHEUS_HEADERS",
    "GORELIABLE_PROMETHEUS_CA_BUNDLE", "GORELIABLE_PROMETHEUS_INSECURE", "GORELIABLE_PROMETHEUS_TIMEOUT",
    "GORELIABLE_PROMETHEUS_USERNAME", "GORELIABLE_THANOS_DEDUP", "GORELIABLE_THANOS_PARTIAL_RESPONSE",
    "GORELIABLE_THANOS_MAX_SOURCE_RESOLUTION", "GORELIABLE_KUBECOST_URL", "GORELIABLE_DRILLS_URI",
    "GORELIABLE_NOW", "GORELIABLE_RECORD",
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


def _truthy(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in {"1", "true", "yes", "on"}


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
    thanos_dedup: bool | None = None
    thanos_partial_response: bool | None = None
    thanos_max_source_resolution: str | None = None
    kubecost_url: str | None = None
    kubecost_token: str | None = field(default=None, repr=False)
    drills_uri: str | None = None
    now: str | None = None
    record: str | None = None

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
    try:
        timeout = float(values.get("GORELIABLE_PROMETHEUS_TIMEOUT", "60"))
    except ValueError:
        raise BadInputError("GORELIABLE_PROMETHEUS_TIMEOUT: expected seconds, got "
                            f"{values['GORELIABLE_PROMETHEUS_TIMEOUT']!r}") from None
    return Settings(
        profile=chosen,
        prometheus_url=values.get("GORELIABLE_PROMETHEUS_URL"),
        prometheus_token=env.get("GORELIABLE_PROMETHEUS_TOKEN") or None,
        prometheus_headers=parse_headers(values.get("GORELIABLE_PROMETHEUS_HEADERS")),
        prometheus_username=values.get("GORELIABLE_PROMETHEUS_USERNAME"),
        prometheus_password=env.get("GORELIABLE_PROMETHEUS_PASSWORD") or None,
        prometheus_ca_bundle=values.get("GORELIABLE_PROMETHEUS_CA_BUNDLE"),
        prometheus_verify=not _truthy(values.get("GORELIABLE_PROMETHEUS_INSECURE")),
        prometheus_timeout=timeout,
        thanos_dedup=_truthy(values.get("GORELIABLE_THANOS_DEDUP")),
        thanos_partial_response=_truthy(values.get("GORELIABLE_THANOS_PARTIAL_RESPONSE")),
        thanos_max_source_resolution=values.get("GORELIABLE_THANOS_MAX_SOURCE_RESOLUTION"),
        kubecost_url=values.get("GORELIABLE_KUBECOST_URL"),
        kubecost_token=env.get("GORELIABLE_KUBECOST_TOKEN") or None,
        drills_uri=values.get("GORELIABLE_DRILLS_URI"),
        now=values.get("GORELIABLE_NOW"),
        record=values.get("GORELIABLE_RECORD"),
    )

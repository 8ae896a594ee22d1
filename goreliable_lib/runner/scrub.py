"""The last line of defence: secret values from the environment are scrubbed from every file a run writes.

Parameters never hold secrets by design and sources never put credentials in their requests; this module
still removes any secret value that reached a notebook output, a table, a log or papermill's metadata.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from goreliable_lib.config import secret_values as config_secret_values
from goreliable_lib.errors import BadInputError

REDACTED = "[REDACTED]"
#: Suffixes of variable names whose values are treated as secrets (on top of config.SECRET_KEYS).
SECRET_NAME_SUFFIXES = ("TOKEN", "SECRET", "PASSWORD", "KEY")
#: Shorter values would match ordinary text; config.secret_values uses the same floor.
MIN_SECRET_LENGTH = 6
TEXT_SUFFIXES = {".ipynb", ".html", ".json", ".csv", ".txt", ".md", ".log", ".yaml", ".yml", ".svg", ".py"}


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value in the environment, longest first (so a secret containing another goes first)."""
    env = os.environ if env is None else env
    try:
        values = set(config_secret_values(env))
    except BadInputError:  # malformed headers: still scrub the whole value
        values = {env.get("GORELIABLE_PROMETHEUS_HEADERS", "")}
    values.update(v for k, v in env.items() if k.upper().endswith(SECRET_NAME_SUFFIXES))
    headers = env.get("GORELIABLE_PROMETHEUS_HEADERS")
    if headers:
        values.add(headers)
        values.update(part.partition("=")[2].strip() for part in headers.split(";"))
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _variants(secret: str) -> list[str]:
    """The forms a secret takes in JSON, HTML and notebook outputs."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=True)[1:-1], html.escape(secret),
             html.escape(secret, quote=False), json.dumps(html.escape(secret))[1:-1], repr(secret)[1:-1]}
    return sorted((f for f in forms if len(f) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def scrub_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret (and its JSON/HTML-escaped forms) replaced by `[REDACTED]`."""
    for secret in secret_values() if secrets is None else secrets:
        for form in _variants(secret):
            if form in text:
                text = text.replace(form, REDACTED)
    return text


def scrub_bytes(data: bytes, secrets: Iterable[str] | None = None) -> bytes:
    """Binary content with each secret overwritten by `*` of the same length (keeps offsets valid)."""
    for secret in secret_values() if secrets is None else secrets:
        for form in _variants(secret):
            raw = form.encode()
            if raw in data:
                data = data.replace(raw, b"*" * len(raw))
    return data


def atomic_write_text(path: Path, text: str) -> None:
    """Write scrubbed text to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(scrub_text(text), encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # a full disk, an interrupt: leave the old file, not a half-written temporary
        tmp.unlink(missing_ok=True)
        raise


def scrub_tree(root: Path, secrets: Iterable[str] | None = None) -> list[Path]:
    """Scrub every file under `root` in place; returns the files that held a secret."""
    secrets = list(secret_values() if secrets is None else secrets)
    if not secrets:
        return []
    touched: list[Path] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        if path.suffix.lower() in TEXT_SUFFIXES:
            try:
                cleaned = scrub_text(data.decode("utf-8"), secrets).encode("utf-8")
            except UnicodeDecodeError:
                cleaned = scrub_bytes(data, secrets)
        else:
            cleaned = scrub_bytes(data, secrets)
        if cleaned != data:
            tmp = path.with_name(f".{path.name}.scrub.tmp")
            tmp.write_bytes(cleaned)
            os.replace(tmp, path)
            touched.append(path)
    return touched

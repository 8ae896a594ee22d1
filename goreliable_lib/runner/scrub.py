"""Secrets in a run's output: what people read is masked; data is never rewritten, and proven to hold none.

A run writes two kinds of file (`file_kind`):
- **what people read**: the executed notebook, report.html, logs, and any other text file a notebook writes beside
  them. Every secret value from the environment (and its JSON- and HTML-escaped forms) is masked as `[REDACTED]`.
  The notebook is masked field by field (cell sources, outputs, the injected parameters), never its JSON keys,
  tags or cell metadata, so it stays a valid notebook whatever word a secret is.
- **data**: summary.json, the CSV tables, `data/` (the snapshot: Parquet and manifest), `figures/*.json`, and every
  file that is not text (Parquet, PNG). Data is written from structures that never hold a credential (sources
  keep credentials in their sessions, never in requests, results or endpoints) and is **never rewritten**: not
  by this module, not by any writer (runner/files.py writes it as given). `leaked_files` proves it instead: a
  *distinctive* secret found in a data file is a bug (a source or a notebook put a credential into data), which
  the runner reports loudly (the file removed, the run failed), never masks silently.

`figures/*.json` are data: they hold the numbers and names a chart draws, exactly (a tool re-draws or re-uses
them); masking them would change what the chart says (`grafana-dashboards` -> `[REDACTED]-dashboards`). The chart
people see inside report.ipynb and report.html is masked with the rest of the notebook.

A secret made only of plain words and numbers (`grafana`, `minioadmin`, `goreliable`, `us-east-1`) can be
ordinary text of a report: a bucket, a folder, a component. Finding it in data proves nothing, so only
*distinctive* secrets (`distinctive`: a letter and a digit in one word, or any other character, as every
generated key, token or password has) are looked for in data; every secret is masked in what people read, and
the report's first screen then says that some text was masked (finalise.py), without saying which secret.
"""

from __future__ import annotations

import html
import json
import mmap
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from goreliable_lib.config import secret_values as config_secret_values
from goreliable_lib.errors import BadInputError
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.shared import SUMMARY_FILE

REDACTED = "[REDACTED]"
#: Suffixes of variable names whose values are treated as secrets (on top of config.SECRET_KEYS).
SECRET_NAME_SUFFIXES = ("TOKEN", "SECRET", "PASSWORD", "KEY")
#: Shorter values would match ordinary text; config.secret_values uses the same floor.
MIN_SECRET_LENGTH = 6
TEXT_SUFFIXES = {".ipynb", ".html", ".json", ".csv", ".txt", ".md", ".log", ".yaml", ".yml", ".svg", ".py"}
NOTEBOOK_SUFFIX = ".ipynb"
#: Output fields of a notebook that hold what people read (the rest of an output is machinery).
_OUTPUT_TEXT_FIELDS = ("text", "data", "ename", "evalue", "traceback")
#: One word of plain text: letters only, or digits only; words are separated by these characters.
_PLAIN_WORD = re.compile(r"[^\W\d_]+|\d+")
_WORD_SEPARATORS = re.compile(r"[-_./: ]+")


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


def distinctive(secret: str) -> bool:
    """True when `secret` cannot pass for ordinary text: one of its words mixes letters and digits, or it holds a
    character other than letters, digits and `- _ . / :` or space. `grafana`, `goreliable`, `us-east-1` and
    `moto-test-secret` are plain words; `sntl-aws-secret-88e1`, an AWS key or a JWT are distinctive."""
    return any(not _PLAIN_WORD.fullmatch(word) for word in _WORD_SEPARATORS.split(secret) if word)


def distinctive_secrets(secrets: Iterable[str] | None = None) -> list[str]:
    """The distinctive secrets of the environment (or of `secrets`), the ones looked for in data."""
    return [s for s in (secret_values() if secrets is None else secrets) if distinctive(s)]


def _variants(secret: str) -> list[str]:
    """The forms a secret takes in JSON, CSV, HTML and notebook outputs."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=True)[1:-1], html.escape(secret),
             html.escape(secret, quote=False), json.dumps(html.escape(secret))[1:-1], repr(secret)[1:-1],
             secret.replace('"', '""')}
    return sorted((f for f in forms if len(f) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def scrub_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret (and its JSON/HTML-escaped forms) replaced by `[REDACTED]`: for what people read."""
    for secret in secret_values() if secrets is None else secrets:
        for form in _variants(secret):
            if form in text:
                text = text.replace(form, REDACTED)
    return text


def _scrub_values(value: Any, secrets: list[str]) -> Any:
    """Every string inside `value` (lists and mappings walked; mapping keys kept) masked."""
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, list):
        return [_scrub_values(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_values(v, secrets) for k, v in value.items()}
    return value


def _scrub_output(output: dict[str, Any], secrets: list[str]) -> None:
    for field in _OUTPUT_TEXT_FIELDS:
        if field not in output:
            continue
        if field == "data" and isinstance(output[field], dict):  # base64 images are not text: left as they are
            output[field] = {mime: value if mime.startswith("image/") and mime != "image/svg+xml"
                             else _scrub_values(value, secrets) for mime, value in output[field].items()}
        else:
            output[field] = _scrub_values(output[field], secrets)


def _holds_any(text: str, secrets: list[str]) -> bool:
    return any(form in text for secret in secrets for form in _variants(secret))


def scrub_notebook(text: str, secrets: Iterable[str] | None = None) -> str:
    """A notebook's JSON with every secret masked in what people read (cell sources, outputs, the papermill
    parameters) and nothing else: keys, tags, cell metadata and the kernel's description stay as they are.
    Text that is not a notebook is masked as plain text. Unchanged text is returned as it came."""
    secrets = list(secret_values() if secrets is None else secrets)
    if not _holds_any(text, secrets):
        return text
    try:
        nb = json.loads(text)
    except ValueError:
        return scrub_text(text, secrets)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return scrub_text(text, secrets)
    before = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"  # nbformat.writes' layout
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        if "source" in cell:
            cell["source"] = _scrub_values(cell["source"], secrets)
        for output in cell.get("outputs") or []:
            if isinstance(output, dict):
                _scrub_output(output, secrets)
    papermill = nb.get("metadata", {}).get("papermill") if isinstance(nb.get("metadata"), dict) else None
    if isinstance(papermill, dict) and "parameters" in papermill:
        papermill["parameters"] = _scrub_values(papermill["parameters"], secrets)
    after = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    return text if after == before else after


def write_masked_text(path: Path, text: str) -> bool:
    """Write what people read (`*.ipynb` masked field by field, anything else as text), atomically; True when
    something was masked."""
    masked = scrub_notebook(text) if path.suffix == NOTEBOOK_SUFFIX else scrub_text(text)
    atomic_write_text(path, masked)
    return masked != text


def file_kind(relative: PurePosixPath, path: Path | None = None) -> str:
    """`"data"` (summary.json, *.csv, data/**, figures/*.json, *.parquet), `"text"` (what people read: any other
    file with a text suffix, when it is UTF-8) or `"binary"` (never rewritten, checked like data)."""
    suffix = relative.suffix.lower()
    if (str(relative) == SUMMARY_FILE or suffix in {".csv", ".parquet"} or relative.parts[0] == "data"
            or (relative.parent == PurePosixPath("figures") and suffix == ".json")):
        return "data"
    if suffix not in TEXT_SUFFIXES:
        return "binary"
    if path is not None:
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return "binary"
    return "text"


def _files(root: Path) -> Iterable[tuple[Path, PurePosixPath, str]]:
    """Every regular file under `root` with its path relative to `root` and its kind."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        yield path, relative, file_kind(relative, path)


def mask_tree(root: Path, secrets: Iterable[str] | None = None) -> list[Path]:
    """Mask every file people read under `root` in place (data and binary files are never touched); returns the
    files that were changed."""
    secrets = list(secret_values() if secrets is None else secrets)
    if not secrets:
        return []
    touched: list[Path] = []
    for path, _, kind in _files(root):
        if kind != "text":
            continue
        text = path.read_text(encoding="utf-8")
        masked = scrub_notebook(text, secrets) if path.suffix == NOTEBOOK_SUFFIX else scrub_text(text, secrets)
        if masked != text:
            atomic_write_text(path, masked)
            touched.append(path)
    return touched


def _bytes_hold(path: Path, forms: list[bytes]) -> bool:
    """True when the file's raw bytes hold one of `forms` (mapped, not read: snapshots can be large)."""
    if path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as content:
        return any(content.find(form) >= 0 for form in forms)


def _parquet_holds(path: Path, forms: list[str]) -> bool:
    """True when a text column (values or name) or the metadata of a Parquet file holds one of `forms`; read one
    text column at a time, dictionary-encoded (each distinct label value is looked at once), since its pages
    are compressed and the raw bytes would not show a value."""
    try:
        schema = pq.read_schema(path)
        texts = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                 or (pa.types.is_dictionary(f.type) and pa.types.is_string(f.type.value_type))]
        parquet = pq.ParquetFile(path, read_dictionary=texts)
    except (pa.ArrowException, OSError):
        return False  # not readable as Parquet: the raw-byte check is all there is
    names = " ".join(schema.names) + " " + " ".join(
        v.decode("utf-8", "replace") for v in (schema.metadata or {}).values())
    if any(form in names for form in forms):
        return True
    pattern = "|".join(re.escape(form) for form in forms)
    for name in texts:
        for chunk in parquet.read(columns=[name]).column(0).chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
            if pc.any(pc.match_substring_regex(values, pattern)).as_py():
                return True
    return False


def leaked_files(root: Path, secrets: Iterable[str] | None = None) -> list[Path]:
    """The data and binary files under `root` that hold a distinctive secret (a bug to report, never to mask):
    raw bytes in any of its JSON, CSV or HTML forms, and the text columns of Parquet files."""
    secrets = distinctive_secrets(secrets)
    if not secrets:
        return []
    forms = sorted({form for secret in secrets for form in _variants(secret)}, key=len, reverse=True)
    raw = [form.encode() for form in forms]
    return [path for path, relative, kind in _files(root) if kind != "text" and (
        _bytes_hold(path, raw) or (relative.suffix.lower() == ".parquet" and _parquet_holds(path, forms)))]


def holds_credential(value: Any, secrets: Iterable[str] | None = None) -> bool:
    """True when a JSON-able value (parameters, a warning, an endpoint) holds a distinctive secret."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return _holds_any(text, distinctive_secrets(secrets))

"""Publishing to S3 (a real moto server on 127.0.0.1) and the secret scan over every byte written."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import SENTINELS, find_sentinels, moto_endpoint, stub_parameters, test_report

from goreliable_lib.errors import BadInputError
from goreliable_lib.runner.execute import run_report
from goreliable_lib.runner.publish import S3Writer, writer_for

moto_endpoint = moto_endpoint  # the fixture, re-exported for pytest
BUCKET = "goreliable-reports"


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3 pointed at the moto server through the standard AWS_* variables; a fresh bucket."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-test-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "moto-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    return client


def _objects(client: Any, prefix: str) -> dict[str, bytes]:
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return {k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def _staged_copy(writer: S3Writer, report: str, run_id: str, status: str, **fields: Any) -> Path:
    staging = writer.staging_dir(report, run_id)
    (staging / "figures").mkdir()
    (staging / "figures" / "f.json").write_text("{}")
    (staging / "report.html").write_text("<html></html>")
    (staging / "summary.json").write_text(json.dumps({"report": report, "status": status, "warnings": [],
                                                      "window": {"start": None, "end": None}, **fields}))
    return staging


def test_publish_layout_sse_and_latest(s3: Any) -> None:
    writer = writer_for(f"s3://{BUCKET}/team/reports", sse="aws:kms", kms_key_id="alias/reports")
    assert isinstance(writer, S3Writer)
    writer.check()
    good = writer.publish(_staged_copy(writer, "cost", "20261123T060000Z-aaaa", "ok"), "cost",
                          "20261123T060000Z-aaaa", ok=True)
    assert good == f"s3://{BUCKET}/team/reports/cost/20261123T060000Z-aaaa/"
    staging = _staged_copy(writer, "cost", "20261124T060000Z-bbbb", "failed")
    writer.publish(staging, "cost", "20261124T060000Z-bbbb", ok=False)
    assert not staging.exists()  # the local staging copy is removed once uploaded
    objects = _objects(s3, "team/reports/")
    assert set(objects) == {f"team/reports/cost/{r}/{f}" for r in ("20261123T060000Z-aaaa", "20261124T060000Z-bbbb")
                            for f in ("figures/f.json", "report.html", "summary.json")} | {
        "team/reports/cost/latest", "team/reports/index.html"}
    assert objects["team/reports/cost/latest"].decode().strip() == "20261123T060000Z-aaaa"  # failed run: no move
    index = objects["team/reports/index.html"].decode()
    assert index.index("20261124T060000Z-bbbb") < index.index("20261123T060000Z-aaaa")
    assert 'href="cost/20261123T060000Z-aaaa/report.html"' in index
    head = s3.head_object(Bucket=BUCKET, Key="team/reports/cost/20261123T060000Z-aaaa/summary.json")
    assert head["ServerSideEncryption"] == "aws:kms" and head["ContentType"] == "application/json"


def test_index_trends_from_the_summaries_on_s3(s3: Any) -> None:
    """The S3 index is the local one: each report's latest headline and its trends from every run's summary.json
    under the prefix; the failed run is a gap (its numbers never plotted)."""
    writer = writer_for(f"s3://{BUCKET}/trends")
    budgets = {"20261109T060000Z-aaaa": 0.50, "20261116T060000Z-bbbb": 0.11, "20261123T060000Z-cccc": 0.32}
    for run_id, left in budgets.items():
        end = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T06:00:00Z"
        status = "failed" if run_id.endswith("bbbb") else "ok"
        staging = _staged_copy(writer, "slo", run_id, status, window={"start": None, "end": end},
                               slos=[{"name": "api-gateway-availability", "status": "ok",
                                      "error_budget_remaining": left}], policy={"decision": "caution"})
        writer.publish(staging, "slo", run_id, ok=status == "ok")
    index = _objects(s3, "trends/")["trends/index.html"].decode()
    assert "1 SLOs (1 ok); policy: caution" in index and "Trends across the runs" in index
    (figure,) = re.findall(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', index, re.DOTALL)
    (trace,) = json.loads(figure)
    assert trace["name"] == "api-gateway-availability" and trace["y"] == [0.5, None, 0.32]


def test_the_s3_index_is_masked_like_the_local_one(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """index.html is what people read: a secret whose value is an ordinary word of a run's headline (from its
    summary.json, which stays as written) is masked on S3 as it is in the local index."""
    monkeypatch.setenv("GORELIABLE_PROMETHEUS_PASSWORD", "caution")
    summary = {"slos": [{"name": "api-gateway-availability", "status": "ok", "error_budget_remaining": 0.5}],
               "policy": {"decision": "caution"}}
    indexes = {}
    for where in (f"s3://{BUCKET}/masked", str(tmp_path / "local")):
        writer = writer_for(where)
        staging = _staged_copy(writer, "slo", "20261123T060000Z-aaaa", "ok", **summary)
        writer.publish(staging, "slo", "20261123T060000Z-aaaa", ok=True)
    indexes["s3"] = _objects(s3, "masked/")["masked/index.html"].decode()
    indexes["local"] = (tmp_path / "local" / "index.html").read_text()
    stored = json.loads(_objects(s3, "masked/slo/")["masked/slo/20261123T060000Z-aaaa/summary.json"])
    assert stored["policy"]["decision"] == "caution"  # data is never rewritten
    for where, index in indexes.items():
        assert "policy: [REDACTED]" in index and "caution" not in index, where


def test_bad_s3_destinations(s3: Any) -> None:
    with pytest.raises(BadInputError, match="bucket 'no-such-bucket' not usable"):
        writer_for("s3://no-such-bucket/x").check()
    with pytest.raises(BadInputError, match="--sse"):
        writer_for(f"s3://{BUCKET}/x", sse="rot13")
    with pytest.raises(BadInputError, match="needs --sse aws:kms"):
        writer_for(f"s3://{BUCKET}/x", sse="AES256", kms_key_id="k")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_secret_scan_every_byte_local_and_s3(s3: Any, monkeypatch: pytest.MonkeyPatch,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    """A notebook that tries every way to leak the sentinel secrets (print, warn, table, figure, summary,
    files, parquet, its error message); published to S3 with SSE. No byte may hold them: what people read is
    masked, and the data files that held one are removed and the run fails saying so (data is never masked)."""
    for key, value in SENTINELS.items():
        monkeypatch.setenv(key, value)  # AWS_SECRET_ACCESS_KEY included: moto accepts any secret
    with pytest.raises(BadInputError, match="parameter title: holds the value of a credential set in the env"):
        run_report("slo", stub_parameters(title=f"report for {SENTINELS['AWS_SESSION_TOKEN']}"),
                   f"s3://{BUCKET}/scan", report=test_report("leaky.ipynb"), sse="AES256")
    result = run_report("slo", stub_parameters(title="leaky report"), f"s3://{BUCKET}/scan",
                        report=test_report("leaky.ipynb"), sse="AES256")
    assert result.exit_code == 1 and result.status == "failed"
    assert result.error == (
        "CredentialInData: a credential from the environment was found in data this run wrote (data/leak.parquet, "
        "figures/leaky.json, leak.csv, summary.json); those files were removed so that it is not published. Data "
        "is written from structures that never hold a credential: this is a bug in a source or in the notebook, "
        "please report it (the run had failed before: RuntimeError: failing with [REDACTED] in the message)")
    objects = _objects(s3, "scan/")
    run_prefix = f"scan/slo/{result.run_id}/"
    names = {k.removeprefix(run_prefix) for k in objects if k.startswith(run_prefix)}
    assert {"report.ipynb", "report.html", "summary.json", "slos.csv", "notes.txt", "figures/sli.json"} <= names
    assert not names & {"leak.csv", "figures/leaky.json", "data/leak.parquet"}
    assert "scan/index.html" in objects and "scan/slo/latest" not in objects
    leaks = {key: found for key, data in objects.items() if (found := find_sentinels(data))}
    assert leaks == {}
    captured = capfd.readouterr()
    assert find_sentinels((captured.out + captured.err).encode()) == []
    # the leaks did happen: masked where people read them, the run failed where data held them
    summary = json.loads(objects[run_prefix + "summary.json"])
    assert summary["status"] == "failed" and summary["error"]["type"] == "CredentialInData"
    assert "note" not in summary and summary["warnings"] == []  # the runner's summary: the leaking warning left out
    assert "[REDACTED]" in objects[run_prefix + "notes.txt"].decode()
    nb = json.loads(objects[run_prefix + "report.ipynb"])
    assert "goreliable-masked" in nb["cells"][1]["metadata"]["tags"]  # after the FAILED banner: text was masked
    assert "token: [REDACTED] aws: [REDACTED]" in json.dumps(nb["cells"])
    for key in objects:
        if key.startswith(run_prefix):
            assert s3.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256", key
    assert not list(Path(tempfile.gettempdir()).glob(f"goreliable-slo-{result.run_id}-*"))  # staging removed


def test_racing_publishers_leave_index_and_latest_naming_every_run(s3: Any) -> None:
    """S3 has no lock. Publisher A lists the runs, then B publishes a newer run completely (index and `latest`
    included), then A writes what it built from its stale listing. A checks the listing after writing and
    writes again, so the index names all three runs and `latest` the newest good one, not A's."""
    url = f"s3://{BUCKET}/race"
    a, b = writer_for(url), writer_for(url)
    a.publish(_staged_copy(a, "cost", "20261123T060000Z-aaaa", "ok"), "cost", "20261123T060000Z-aaaa", ok=True)
    real_listing = a._summary_keys
    rounds = []

    def stale_first_listing() -> list[Any]:
        listing = real_listing()
        if not rounds:  # B publishes between A's listing and A's writes
            b.publish(_staged_copy(b, "cost", "20261125T060000Z-cccc", "ok"), "cost", "20261125T060000Z-cccc",
                      ok=True)
        rounds.append(len(listing))
        return listing

    a._summary_keys = stale_first_listing  # type: ignore[method-assign]
    a.publish(_staged_copy(a, "cost", "20261124T060000Z-bbbb", "ok"), "cost", "20261124T060000Z-bbbb", ok=True)
    objects = _objects(s3, "race/")
    index = objects["race/index.html"].decode()
    assert all(run in index for run in ("20261123T060000Z-aaaa", "20261124T060000Z-bbbb", "20261125T060000Z-cccc"))
    assert objects["race/cost/latest"].decode().strip() == "20261125T060000Z-cccc"
    assert rounds == [2, 3, 3]  # stale listing, then the fresh one written, then the check that it held

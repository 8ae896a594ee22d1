"""The services map (inputs/services_map.py): the shipped file, and each bad input with its message (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.inputs.services_map import DEFAULT_SERVICES_MAP, load_services_map

GOOD = """services:
  - name: api-gateway
    allocations:
      aggregate: label:app
      values: [api-gateway]
    requests: api-gateway-availability
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "services.yaml"
    path.write_text(text)
    return str(path)


def test_the_shipped_map_reads_and_names_catalog_slos() -> None:
    found = load_services_map(DEFAULT_SERVICES_MAP)
    assert found.names() == ["api-gateway", "order-service", "notification-worker", "ml-inference-gateway",
                             "llm-gateway"]
    found.check_slos([o.name for o in read_catalog("params/slos.yaml").objectives], "params/slos.yaml")
    llm = found.for_service("llm-gateway")
    assert llm is not None and llm.kind == "llm"
    assert llm.prompt_selector is not None and llm.prompt_selector.metric == "vllm:prompt_tokens_total"
    assert found.for_service("ml-inference-gateway").kind == "inference"  # type: ignore[union-attr]
    assert found.for_service("api-gateway").token_counters is None  # type: ignore[union-attr]
    assert {s.allocations.request_key for s in found.services} == {
        ("label:app", 'namespace:"go-reliable-production"'), ("label:app", None)}


def test_default_token_counters_are_vllms(tmp_path: Path) -> None:
    found = load_services_map(_write(tmp_path, GOOD.replace("requests: api", "kind: llm\n    requests: api")))
    counters = found.services[0].token_counters
    assert counters is not None
    assert (counters.prompt, counters.generated) == ("vllm:prompt_tokens_total", "vllm:generation_tokens_total")


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace("requests: api-gateway-availability", "requests: api-gateway-availability\n    colour: blue"),
     "service 'api-gateway': services[0].colour: unknown field (line 7)"),
    (GOOD.replace("aggregate: label:app", "aggregate: deployment-ish"),
     "service 'api-gateway': services[0].allocations.aggregate: 'deployment-ish' is not one of cluster, node"),
    (GOOD.replace("aggregate: label:app", "aggregate: namespace,label:app"),
     "services[0].allocations.aggregate: one property, not a list"),
    (GOOD.replace("      values: [api-gateway]\n", ""),
     "service 'api-gateway': services[0].allocations: give `values` (the aggregate's keys), a `filter`, or both "
     "(line 4)"),
    (GOOD.replace("    requests: api-gateway-availability\n", ""),
     "service 'api-gateway': services[0].requests: required field missing (line 2)"),
    (GOOD.replace("requests: api", "kind: batch\n    requests: api"),
     "service 'api-gateway': services[0].kind: Input should be 'inference' or 'llm'"),
    (GOOD.replace("requests: api", "kind: llm\n    tokens: {prompt: 'rate(x[5m])'}\n    requests: api"),
     "services[0].tokens.prompt:"),
    (GOOD + GOOD.replace("services:\n", ""), "service 'api-gateway': services[1].name: listed twice (line 7)"),
    ("services: []\n", "services: List should have at least 1 item"),
    ("- just a list\n", "expected a mapping with a `services` list, got list"),
])
def test_bad_files_name_the_file_the_service_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BadInputError) as caught:
        load_services_map(path)
    assert str(caught.value).startswith(path) and message in str(caught.value), str(caught.value)
    assert caught.value.exit_code == 2


def test_missing_file_and_yaml_error_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"nope\.yaml: services map file not found"):
        load_services_map(tmp_path / "nope.yaml")
    path = _write(tmp_path, GOOD.replace("values: [api-gateway]", "values: [api-gateway"))
    with pytest.raises(BadInputError, match=r"services\.yaml: line \d+ is not valid YAML"):
        load_services_map(path)


def test_a_service_counting_an_unknown_slo_is_refused(tmp_path: Path) -> None:
    found = load_services_map(_write(tmp_path, GOOD.replace("api-gateway-availability", "api-gateway-uptime")))
    with pytest.raises(BadInputError, match=r"services\[0\]\.requests: service 'api-gateway' counts its requests "
                                            r"with SLO 'api-gateway-uptime', which params/slos\.yaml does not define"):
        found.check_slos(["api-gateway-availability"], "params/slos.yaml")

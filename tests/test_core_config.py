"""Settings from the environment and the config file; secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from goreliable_lib.config import load_settings, parse_headers, secret_values
from goreliable_lib.errors import BadInputError
from goreliable_lib.sources.connect import without_credentials

NO_FILE = {"GORELIABLE_CONFIG": "/nonexistent-but-unused"}


def test_demo_is_the_default_without_urls(tmp_path: Path) -> None:
    empty = tmp_path / "c.yaml"
    empty.write_text("")
    assert load_settings({"GORELIABLE_CONFIG": str(empty)}).profile == "demo"


def test_live_when_a_url_is_set(tmp_path: Path) -> None:
    empty = tmp_path / "c.yaml"
    empty.write_text("")
    settings = load_settings({"GORELIABLE_CONFIG": str(empty), "GORELIABLE_PROMETHEUS_URL": "http://127.0.0.1:9090",
                              "GORELIABLE_PROMETHEUS_HEADERS": "X-Scope-OrgID=prod; X-Other=a=b",
                              "GORELIABLE_PROMETHEUS_TOKEN": "tok-123456"})
    assert settings.profile == "live"
    assert settings.prometheus_headers == {"X-Scope-OrgID": "prod", "X-Other": "a=b"}
    assert settings.prometheus_token == "tok-123456"
    assert "tok-123456" not in repr(settings)


def test_config_file_supplies_keys_and_env_wins(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("GORELIABLE_KUBECOST_URL: http://127.0.0.1:9003\nGORELIABLE_DRILLS_URI: s3://a/b\n")
    settings = load_settings({"GORELIABLE_CONFIG": str(config), "GORELIABLE_DRILLS_URI": "/tmp/drills"})
    assert settings.kubecost_url == "http://127.0.0.1:9003"
    assert settings.drills_uri == "/tmp/drills"
    assert settings.profile == "live"


def test_config_file_refuses_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("GORELIABLE_PROMETHEUS_TOKEN: abc\n")
    with pytest.raises(BadInputError, match="GORELIABLE_PROMETHEUS_TOKEN: secrets come from the environment"):
        load_settings({"GORELIABLE_CONFIG": str(config)})


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("GORELIABLE_PROMETEUS_URL: x\n")
    with pytest.raises(BadInputError, match=r"c.yaml: GORELIABLE_PROMETEUS_URL: unknown key"):
        load_settings({"GORELIABLE_CONFIG": str(config)})
    config.write_text("a: [\n")
    with pytest.raises(BadInputError, match="not valid YAML"):
        load_settings({"GORELIABLE_CONFIG": str(config)})
    with pytest.raises(BadInputError, match=r"config \(GORELIABLE_CONFIG\) file not found"):
        load_settings({"GORELIABLE_CONFIG": str(tmp_path / "missing.yaml")})


@pytest.mark.parametrize("profile", ["demo", "live", "snapshot:/tmp/x"])
def test_profiles_accepted(profile: str, tmp_path: Path) -> None:
    empty = tmp_path / "c.yaml"
    empty.write_text("")
    assert load_settings({"GORELIABLE_CONFIG": str(empty), "GORELIABLE_PROFILE": profile}).profile == profile


def test_bad_profile(tmp_path: Path) -> None:
    empty = tmp_path / "c.yaml"
    empty.write_text("")
    with pytest.raises(BadInputError, match="GORELIABLE_PROFILE"):
        load_settings({"GORELIABLE_CONFIG": str(empty), "GORELIABLE_PROFILE": "snapshot:"})


def test_bad_headers() -> None:
    with pytest.raises(BadInputError, match="GORELIABLE_PROMETHEUS_HEADERS: 'novalue' is not Name=value"):
        parse_headers("A=b;novalue")


def test_secret_values_cover_tokens_headers_and_aws() -> None:
    env = {"GORELIABLE_PROMETHEUS_TOKEN": "sentinel-token", "AWS_SECRET_ACCESS_KEY": "sentinel-aws",
           "GORELIABLE_PROMETHEUS_HEADERS": "X-Scope-OrgID=sentinel-tenant", "MY_DB_PASSWORD": "sentinel-pw",
           "HOME": "/root"}
    assert set(secret_values(env)) == {"sentinel-token", "sentinel-aws", "sentinel-tenant", "sentinel-pw"}


def test_urls_lose_credentials() -> None:
    assert without_credentials("https://user:pw@prom.example:9090/prometheus?x=1") == "https://prom.example:9090/prometheus"
    assert without_credentials("s3://bucket/prefix") == "s3://bucket/prefix"
    assert without_credentials(None) is None


def test_field_path_reads_like_the_file_and_drops_pydantic_segments() -> None:
    """One formatter for every YAML file's validation errors (catalog, budgets, DR targets): pydantic's validator
    and union segments are left out, a user's key that merely starts with `function-` is kept."""
    from goreliable_lib.inputs.yamlfile import field_path

    assert field_path(("spec", "objectives", 0, "target")) == "spec.objectives[0].target"
    assert field_path(("spec", "function-after[_one_indicator(), SLOSpec]")) == "spec"
    assert field_path(("x", "tagged-union[A,B]", "y")) == "x.y"
    assert field_path(("teams", "function-platform", "monthly")) == "teams.function-platform.monthly"
    assert field_path(()) == "(top level)"


BOOLEANS = ["GORELIABLE_THANOS_DEDUP", "GORELIABLE_THANOS_PARTIAL_RESPONSE", "GORELIABLE_PROMETHEUS_INSECURE",
            "GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS"]


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("value", ["ture", "flase", "2", "enabled", "y e s"])
def test_a_misspelt_boolean_is_refused_naming_the_variable(name: str, value: str) -> None:
    """`GORELIABLE_THANOS_DEDUP=ture` used to mean false, silently: a Thanos query without deduplication."""
    with pytest.raises(BadInputError) as caught:
        load_settings({"GORELIABLE_CONFIG": "/dev/null", "GORELIABLE_PROMETHEUS_URL": "http://p:9090", name: value})
    assert str(caught.value) == (f"{name}: {value!r} is not a boolean; accepted: true, yes, on, 1, false, no, off, 0 "
                                 "(any case)")
    assert caught.value.exit_code == 2


def test_booleans_and_seconds_are_typed(tmp_path: Path) -> None:
    env = {"GORELIABLE_CONFIG": "/dev/null", "GORELIABLE_PROMETHEUS_URL": "http://p:9090"}
    assert load_settings(env).thanos_dedup is None and load_settings(env).prometheus_retry_timeouts is False
    on = load_settings({**env, "GORELIABLE_THANOS_DEDUP": "TRUE", "GORELIABLE_THANOS_PARTIAL_RESPONSE": "off",
                        "GORELIABLE_PROMETHEUS_INSECURE": " Yes ", "GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS": "1",
                        "GORELIABLE_PROMETHEUS_TIMEOUT": "12.5"})
    assert (on.thanos_dedup, on.thanos_partial_response, on.prometheus_verify, on.prometheus_retry_timeouts,
            on.prometheus_timeout) == (True, False, False, True, 12.5)
    config = tmp_path / "c.yaml"
    config.write_text("GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS: true\nGORELIABLE_THANOS_DEDUP: false\n")
    from_file = load_settings({**env, "GORELIABLE_CONFIG": str(config)})
    assert from_file.prometheus_retry_timeouts is True and from_file.thanos_dedup is False
    for value in ("abc", "0", "-5", "inf"):
        with pytest.raises(BadInputError, match=rf"GORELIABLE_PROMETHEUS_TIMEOUT: '{value}' is not a positive number"):
            load_settings({**env, "GORELIABLE_PROMETHEUS_TIMEOUT": value})


def test_the_cli_refuses_a_misspelt_setting_before_running_anything(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from goreliable_lib import cli

    monkeypatch.setenv("GORELIABLE_CONFIG", "/dev/null")
    monkeypatch.setenv("GORELIABLE_THANOS_DEDUP", "ture")
    assert cli.main(["report", "list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        "goreliable: error: GORELIABLE_THANOS_DEDUP: 'ture' is not a boolean; accepted: true, yes, on, 1, false, no, "
        "off, 0 (any case)\n")


def test_verbose_logs_the_kit_to_stderr(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`goreliable -v ...`: the kit's INFO records (every retry of a source) on stderr; without it, nothing."""
    import logging

    from goreliable_lib import cli

    monkeypatch.setenv("GORELIABLE_CONFIG", "/dev/null")
    logger = logging.getLogger("goreliable_lib")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    assert cli.main(["report", "list"]) == 0
    logging.getLogger("goreliable_lib.sources.http").info("attempt 1 of 4 failed, retrying in 0.5 s: quiet")
    assert "quiet" not in capsys.readouterr().err
    assert cli.main(["-v", "report", "list"]) == 0
    logging.getLogger("goreliable_lib.sources.http").info("attempt 1 of 4 failed, retrying in 0.5 s: HTTP 502")
    assert capsys.readouterr().err == ("goreliable: INFO goreliable_lib.sources.http: attempt 1 of 4 failed, "
                                       "retrying in 0.5 s: HTTP 502\n")

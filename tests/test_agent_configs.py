"""Golden tests: the renderers against the documentation's own snippets.

``fixtures/agents/<agent>/documented/`` holds the snippets verbatim, placeholders kept. A
renderer builds its files from code, so comparing them with the snippets after placeholder
substitution (as data, and byte for byte where the file is small) proves the documented
layout is reproduced exactly; the generated layouts are then checked against the same data.
"""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from dotenv import dotenv_values

from gateway_conformance.agents import codex, launch, registry
from gateway_conformance.agents.base import AgentSpec, parse_version
from gateway_conformance.agents.profile import ProfileError, TargetProfile
from gateway_conformance.resources import data_dir

TOKEN = "gwc-golden-not-a-real-token"  # deliberately unlike any vendor key
GATEWAY = "https://gateway.example.test"
WORKSPACE = "https://workspace.example.test"


@pytest.fixture
def profile(monkeypatch: pytest.MonkeyPatch) -> TargetProfile:
    monkeypatch.setenv("GWC_TEST_TOKEN", TOKEN)
    return TargetProfile(gateway_url=GATEWAY, workspace_url=WORKSPACE, token_env="GWC_TEST_TOKEN",
                         catalog="main", schema="otel", table_prefix="agents")


def documented(agent: str, name: str) -> str:
    """A documented snippet with its placeholders filled from the test profile."""
    text = (data_dir() / "agents" / agent / "documented" / name).read_text(encoding="utf-8")
    for placeholder, value in {"https://<ai-gateway-url>": GATEWAY, "https://<workspace-url>": WORKSPACE,
                               "<databricks_pat_token>": TOKEN, "<catalog>": "main",
                               "<schema>": "otel", "<table_prefix>": "agents",
                               "<endpoint_name>": "databricks-gpt-5-2"}.items():
        text = text.replace(placeholder, value)
    assert "<" not in text, f"unfilled placeholder in {agent}/{name}"
    return text


# --- Claude Code ------------------------------------------------------------------------------

def test_claude_code_documented_settings_are_the_snippet_byte_for_byte(profile: TargetProfile) -> None:
    rendered = registry.get("claude-code").render(profile, agent_version="2.1.197", as_documented=True)
    (settings,) = rendered.files
    assert settings.path == ".claude/settings.json"
    assert settings.content == documented("claude-code", "settings.json")
    assert settings.secret


def test_claude_code_telemetry_adds_the_documented_block_to_the_same_env(monkeypatch: pytest.MonkeyPatch,
                                                                         profile: TargetProfile) -> None:
    on = TargetProfile(**{**profile.__dict__, "telemetry": True})
    rendered = registry.get("claude-code").render(on, agent_version="2.1.197", as_documented=True)
    env = json.loads(rendered.files[0].content)["env"]
    base = json.loads(documented("claude-code", "settings.json"))["env"]
    telemetry = json.loads(documented("claude-code", "settings.telemetry.json"))["env"]
    assert env == base | telemetry
    assert list(env) == [*base, *telemetry]  # the documented block is appended, in its order


def test_claude_code_generated_equals_documented(profile: TargetProfile) -> None:
    agent = registry.get("claude-code")
    generated = agent.render(profile, agent_version="2.1.197", as_documented=False)
    assert generated.files == agent.render(profile, agent_version="2.1.197", as_documented=True).files
    assert generated.layout == "generated" and generated.args == ()


# --- Codex ------------------------------------------------------------------------------------

def test_codex_documented_config_is_the_snippet_byte_for_byte(profile: TargetProfile) -> None:
    rendered = registry.get("codex").render(profile, agent_version="0.171.0", as_documented=True)
    (config,) = rendered.files
    snippet = documented("codex", "config.toml")
    assert config.path == ".codex/config.toml"
    assert tomllib.loads(config.content) == tomllib.loads(snippet)
    assert config.content == snippet
    assert not config.secret and TOKEN not in config.content
    assert rendered.token_env == {"DATABRICKS_TOKEN": "GWC_TEST_TOKEN"}
    assert rendered.args == ()


def test_codex_from_0_134_uses_a_profile_file_and_the_flag(profile: TargetProfile) -> None:
    rendered = registry.get("codex").render(profile, agent_version="0.134.0", as_documented=False)
    snippet = tomllib.loads(documented("codex", "config.toml"))
    config = tomllib.loads(rendered.file(".codex/config.toml").content)
    assert "profile" not in config and "profiles" not in config
    assert config["model_providers"] == snippet["model_providers"]
    profile_file = tomllib.loads(rendered.file(".codex/default.config.toml").content)
    assert profile_file == snippet["profiles"]["default"]
    assert rendered.args == ("--profile", "default")
    assert config["features"]["plugins"] is False and config["analytics"]["enabled"] is False


def test_codex_up_to_0_133_keeps_the_documented_profile_layout(profile: TargetProfile) -> None:
    rendered = registry.get("codex").render(profile, agent_version="0.133.0", as_documented=False)
    snippet = tomllib.loads(documented("codex", "config.toml"))
    (config_file,) = rendered.files
    config = tomllib.loads(config_file.content)
    assert {k: config[k] for k in snippet} == snippet
    assert rendered.args == ()


def test_codex_telemetry_puts_the_token_in_a_secret_file_only(profile: TargetProfile) -> None:
    on = TargetProfile(**{**profile.__dict__, "telemetry": True})
    rendered = registry.get("codex").render(on, agent_version="0.171.0", as_documented=False)
    config_file = rendered.file(".codex/config.toml")
    otel = tomllib.loads(config_file.content)["otel"]
    assert otel["exporter"]["otlp-http"]["endpoint"] == f"{WORKSPACE}/api/2.0/otel/v1/logs"
    assert otel["metrics_exporter"]["otlp-http"]["headers"]["X-Databricks-UC-Table-Name"] == \
        "main.otel.agents_otel_metrics"
    assert config_file.secret and TOKEN in config_file.content
    assert not rendered.file(".codex/default.config.toml").secret


def test_codex_layout_switches_exactly_at_0_134() -> None:
    assert not codex.uses_profile_files("0.133.0")
    assert codex.uses_profile_files("0.134.0")
    assert codex.uses_profile_files(None)  # unknown version: the newest layout


# --- Gemini CLI -------------------------------------------------------------------------------

def test_gemini_documented_env_is_the_snippet_byte_for_byte(profile: TargetProfile, tmp_path: Path) -> None:
    rendered = registry.get("gemini-cli").render(profile, agent_version="0.39.0", as_documented=True)
    (env_file,) = rendered.files
    snippet = documented("gemini-cli", ".env")
    assert env_file.path == ".gemini/.env" and env_file.secret
    assert env_file.content == snippet
    rendered.write(tmp_path)
    (tmp_path / "snippet.env").write_text(snippet)
    assert dotenv_values(tmp_path / ".gemini/.env") == dotenv_values(tmp_path / "snippet.env")


def test_gemini_generated_adds_the_settings_newer_versions_need(profile: TargetProfile) -> None:
    rendered = registry.get("gemini-cli").render(profile, agent_version="0.61.0", as_documented=False)
    assert rendered.file(".gemini/.env").content == documented("gemini-cli", ".env")
    settings = json.loads(rendered.file(".gemini/settings.json").content)
    assert settings["security"] == {"auth": {"selectedType": "gemini-api-key"},
                                    "folderTrust": {"enabled": False}}
    assert settings["privacy"] == {"usageStatisticsEnabled": False}
    assert "telemetry" not in settings


def test_gemini_telemetry_targets_the_workspace_otlp_root(profile: TargetProfile, tmp_path: Path) -> None:
    on = TargetProfile(**{**profile.__dict__, "telemetry": True})
    rendered = registry.get("gemini-cli").render(on, agent_version="0.61.0", as_documented=False)
    telemetry = json.loads(rendered.file(".gemini/settings.json").content)["telemetry"]
    assert telemetry["otlpEndpoint"] == f"{WORKSPACE}/api/2.0/otel"
    assert telemetry["otlpProtocol"] == "http" and telemetry["enabled"] is True
    rendered.write(tmp_path)
    env = dotenv_values(tmp_path / ".gemini/.env")
    assert env["OTEL_EXPORTER_OTLP_LOGS_HEADERS"] == \
        f"Authorization=Bearer {TOKEN},X-Databricks-UC-Table-Name=main.otel.agents_otel_logs"
    assert env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"].endswith("agents_otel_spans")


def test_gemini_refuses_a_value_a_dotenv_file_cannot_carry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GWC_TEST_TOKEN", 'abc"def')
    bad = TargetProfile(gateway_url=GATEWAY, token_env="GWC_TEST_TOKEN")
    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        registry.get("gemini-cli").render(bad, agent_version=None, as_documented=False)


# --- Cursor -----------------------------------------------------------------------------------

def test_cursor_settings_describe_the_three_documented_steps(profile: TargetProfile) -> None:
    rendered = registry.get("cursor").render(profile, agent_version=None, as_documented=False)
    description = json.loads(rendered.file("cursor/gateway-settings.json").content)
    assert description["openai_base_url_override"] == {"enabled": True, "url": f"{GATEWAY}/cursor/v1"}
    assert description["openai_api_key"] == {"from_env": "GWC_TEST_TOKEN"}
    assert description["custom_models"] == [{"name": "databricks-gpt-5-2", "enabled": True}]
    documented_steps = documented("cursor", "steps.md").splitlines()
    assert len(rendered.steps) == len(documented_steps) == 3
    for ours, theirs in zip(rendered.steps, documented_steps, strict=True):
        assert theirs.split(":")[0].split(". ", 1)[1] in ours  # same setting named in each step
    assert all(TOKEN not in f.content for f in rendered.files)


# --- all agents: files, modes, secrets --------------------------------------------------------

@pytest.mark.parametrize("name", registry.names())
@pytest.mark.parametrize("as_documented", [True, False])
def test_written_files_keep_the_token_private(name: str, as_documented: bool, profile: TargetProfile,
                                              tmp_path: Path) -> None:
    on = TargetProfile(**{**profile.__dict__, "telemetry": True})
    rendered = registry.get(name).render(on, agent_version=None, as_documented=as_documented)
    home = tmp_path / "home"
    written = rendered.write(home)
    assert len(written) == len(rendered.files)
    for item, path in zip(rendered.files, written, strict=True):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o600 if item.secret else 0o644)
        assert (TOKEN in path.read_text()) <= item.secret, f"{path} holds the token but is not 0600"
        for folder in path.relative_to(home).parents[:-1]:
            assert stat.S_IMODE((home / folder).stat().st_mode) == 0o700
    assert all(TOKEN not in line for line in rendered.export_lines())


def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GWC_ABSENT", raising=False)
    with pytest.raises(ProfileError, match=r"\$GWC_ABSENT is not set"):
        registry.get("claude-code").render(TargetProfile(gateway_url=GATEWAY, token_env="GWC_ABSENT"),
                                           agent_version=None, as_documented=True)


def test_token_references_resolve_only_at_launch(profile: TargetProfile) -> None:
    rendered = registry.get("codex").render(profile, agent_version="0.171.0", as_documented=False)
    assert rendered.export_lines() == ['export DATABRICKS_TOKEN="$GWC_TEST_TOKEN"']
    assert rendered.environment({"GWC_TEST_TOKEN": TOKEN}) == {"DATABRICKS_TOKEN": TOKEN}
    with pytest.raises(KeyError, match="GWC_TEST_TOKEN"):
        rendered.environment({})


def test_profile_rejects_a_url_without_scheme() -> None:
    with pytest.raises(ProfileError, match="gateway_url"):
        TargetProfile(gateway_url="gateway.example.test")


# --- specs and installations ------------------------------------------------------------------

def test_specs_load_and_say_which_documented_configs_work() -> None:
    expected = {("codex", "0.133.0"): True, ("codex", "0.171.0"): False,
                ("gemini-cli", "0.39.0"): True, ("gemini-cli", "0.43.0"): False,
                ("claude-code", "2.1.197"): True}
    for (name, version), works in expected.items():
        assert registry.get(name).spec.documented_works(version) is works


def test_parse_version_orders_numerically() -> None:
    assert parse_version("0.133.0") < parse_version("0.134.0") < parse_version("0.1000.0")
    assert parse_version("0.43.0-nightly.20261101") == (0, 43, 0)
    with pytest.raises(ValueError):
        parse_version("latest")


def fake_package(root: Path, alias: str, package: str, version: str, bin_name: str) -> Path:
    folder = root / alias
    (folder / "bin").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps(
        {"name": package, "version": version, "bin": {bin_name: f"bin/{bin_name}.js"}}))
    (folder / "bin" / f"{bin_name}.js").write_text(f'console.log("{bin_name} {version}")\n')
    return folder


def test_installations_are_found_by_real_package_name_under_any_alias(tmp_path: Path) -> None:
    spec = AgentSpec.load("codex")
    fake_package(tmp_path, "codex-0.171.0", "@openai/codex", "0.171.0", "codex")
    fake_package(tmp_path, "codex-0.133.0", "@openai/codex", "0.133.0", "codex")
    fake_package(tmp_path / "@openai", "codex", "@openai/codex", "0.150.0", "codex")
    fake_package(tmp_path, "not-codex", "@example/other", "9.9.9", "codex")
    found = launch.installations(spec, tmp_path)
    assert [(i.version, i.alias) for i in found] == [
        ("0.133.0", "codex-0.133.0"), ("0.150.0", "codex"), ("0.171.0", "codex-0.171.0")]
    assert launch.newest(spec, tmp_path).version == "0.171.0"  # type: ignore[union-attr]
    assert launch.find(spec, "0.133.0", tmp_path).alias == "codex-0.133.0"  # type: ignore[union-attr]

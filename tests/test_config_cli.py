"""The ``config`` and ``agents`` commands, driven through the command line's own entry point."""

from __future__ import annotations

import json
import shutil
import stat
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from gateway_conformance import agents_cmd, cli, config_cmd

TOKEN = "gwc-cli-not-a-real-token"
GATEWAY = "https://gateway.example.test"


def run(module: ModuleType, *argv: str) -> int:
    """The command as `gateway-conformance <command> ARGV` runs it, error boundary included."""
    return cli.main([{config_cmd: "config", agents_cmd: "agents"}[module], *argv])


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    # No real node_modules: the layout must come from --agent-version or default to the newest.
    monkeypatch.setenv("GATEWAY_CONFORMANCE_NODE_MODULES", str(tmp_path / "no-node-modules"))


def test_config_writes_files_and_prints_only_a_token_reference(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert run(config_cmd, "codex", "--home", str(home), "--gateway-url", GATEWAY) == 0
    out = capsys.readouterr().out
    assert TOKEN not in out
    assert 'export DATABRICKS_TOKEN' not in out  # same variable: nothing to re-export
    assert "codex exec --skip-git-repo-check --color never --profile default" in out
    config = tomllib.loads((home / ".codex/config.toml").read_text())
    assert config["model_providers"]["proxy"]["base_url"] == f"{GATEWAY}/openai/v1"
    assert tomllib.loads((home / ".codex/default.config.toml").read_text())["model_provider"] == "proxy"
    assert stat.S_IMODE((home / ".codex").stat().st_mode) == 0o700


def test_config_from_another_token_variable_exports_a_reference(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TEAM_GATEWAY_TOKEN", TOKEN)
    assert run(config_cmd, "codex", "--home", str(tmp_path), "--gateway-url", GATEWAY,
               "--token-env", "TEAM_GATEWAY_TOKEN") == 0
    out = capsys.readouterr().out
    assert 'export DATABRICKS_TOKEN="$TEAM_GATEWAY_TOKEN"' in out
    assert TOKEN not in out


def test_config_as_documented_for_an_old_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config_cmd, "codex", "--home", str(tmp_path), "--gateway-url", GATEWAY,
               "--as-documented", "--agent-version", "0.133.0") == 0
    assert "documented layout" in capsys.readouterr().out
    assert tomllib.loads((tmp_path / ".codex/config.toml").read_text())["profile"] == "default"
    assert not (tmp_path / ".codex/default.config.toml").exists()


def test_config_token_file_is_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config_cmd, "claude_code", "--home", str(tmp_path), "--gateway-url", GATEWAY,
               "--telemetry", "--workspace-url", "https://workspace.example.test") == 0
    out = capsys.readouterr().out
    assert TOKEN not in out and "holds the token" in out
    settings = tmp_path / ".claude/settings.json"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.parent.stat().st_mode) == 0o700
    env = json.loads(settings.read_text())["env"]
    assert env["ANTHROPIC_AUTH_TOKEN"] == TOKEN
    assert env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] == "https://workspace.example.test/api/2.0/otel/v1/logs"


def test_config_never_overwrites_other_settings_unless_forced(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / ".claude/settings.json"
    settings.parent.mkdir()
    settings.write_text('{"permissions": {"allow": ["Bash(ls)"]}}')
    argv = ("claude_code", "--home", str(tmp_path), "--gateway-url", GATEWAY)
    assert run(config_cmd, *argv) == 1
    assert str(settings) in capsys.readouterr().err
    assert "permissions" in settings.read_text()
    assert run(config_cmd, *argv, "--force") == 0
    assert json.loads(settings.read_text())["env"]["ANTHROPIC_BASE_URL"] == f"{GATEWAY}/anthropic"
    assert run(config_cmd, *argv) == 0  # the same content again is not a clash


def test_config_without_the_token_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DATABRICKS_TOKEN")
    assert run(config_cmd, "gemini_cli", "--home", str(tmp_path), "--gateway-url", GATEWAY) == 2
    assert "$DATABRICKS_TOKEN is not set" in capsys.readouterr().err
    assert not (tmp_path / ".gemini").exists()


def test_config_telemetry_without_workspace_fails_clearly(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config_cmd, "claude_code", "--home", str(tmp_path), "--gateway-url", GATEWAY,
               "--telemetry") == 2
    assert "--workspace-url" in capsys.readouterr().err


def test_config_cursor_prints_the_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config_cmd, "cursor", "--home", str(tmp_path), "--gateway-url", GATEWAY,
               "--model", "my-endpoint") == 0
    out = capsys.readouterr().out
    assert f"{GATEWAY}/cursor/v1" in out and "my-endpoint" in out and "# run:" not in out
    assert json.loads((tmp_path / "cursor/gateway-settings.json").read_text())["custom_models"] == [
        {"name": "my-endpoint", "enabled": True}]


def _package(root: Path, alias: str, name: str, version: str, bin_name: str, script: str) -> None:
    (root / alias / "bin").mkdir(parents=True)
    (root / alias / "package.json").write_text(json.dumps(
        {"name": name, "version": version, "bin": {bin_name: f"bin/{bin_name}.js"}}))
    (root / alias / "bin" / f"{bin_name}.js").write_text(script)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_agents_lists_installed_versions_and_probes_them(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    modules = tmp_path / "node_modules"
    _package(modules, "codex-0.133.0", "@openai/codex", "0.133.0", "codex",
             'console.log("codex-cli 0.133.0")')
    _package(modules, "codex-0.171.0", "@openai/codex", "0.171.0", "codex", "process.exit(3)")
    assert run(agents_cmd, "--node-modules", str(modules)) == 0
    lines = capsys.readouterr().out.splitlines()
    old = next(line for line in lines if "0.133.0" in line)
    new = next(line for line in lines if "0.171.0" in line)
    assert "codex-0.133.0" in old and " runnable" in old and "documented config works" in old
    assert "NOT runnable: exit 3" in new and "documented config fails" in new
    assert any(line.startswith("claude-code") and "not installed" in line for line in lines)
    assert any(line.startswith("cursor") and "no CLI" in line for line in lines)


def test_agents_without_probe_does_not_start_anything(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    modules = tmp_path / "node_modules"
    _package(modules, "gemini-cli-0.39.0", "@google/gemini-cli", "0.39.0", "gemini", "process.exit(1)")
    assert run(agents_cmd, "--node-modules", str(modules), "--no-probe") == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "0.39.0" in line)
    assert "not probed" in line and "documented config works" in line

"""Agent CLIs for wheel users and configs for the binary a person runs (issue 15).

``agents install`` runs ``npm ci`` of the shipped pins into a cache folder outside any
project, which the suite then finds by itself; ``config`` renders for the version on PATH
(or ``--agent-version``) and its ``run:`` line names exactly that binary. npm is a fake
executable here (the real install is what ``./tasks test`` does with ``npm ci``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gateway_conformance import cli
from gateway_conformance.agents import launch

FAKE_NPM = r'''#!{python}
import json, pathlib, sys
args = sys.argv[1:]
assert args[0] == "ci", args
prefix = pathlib.Path(args[args.index("--prefix") + 1])
pins = json.loads((prefix / "package.json").read_text())
assert (prefix / "package-lock.json").is_file()
for alias, target in pins["dependencies"].items():
    package, _, version = target.removeprefix("npm:").rpartition("@")
    folder = prefix / "node_modules" / alias
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "cli.js").write_text("")
    (folder / "package.json").write_text(json.dumps(
        {{"name": package, "version": version,
          "bin": {{"claude": "bin/cli.js", "codex": "bin/cli.js", "gemini": "bin/cli.js"}}}}))
'''


def _package(root: Path, alias: str, version: str, bin_name: str = "codex") -> Path:
    folder = root / alias
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / f"{bin_name}.js").write_text("#!/usr/bin/env node\n")
    (folder / "bin" / f"{bin_name}.js").chmod(0o755)  # npm makes a package's bin executable
    (folder / "package.json").write_text(json.dumps(
        {"name": "@openai/codex", "version": version, "bin": {bin_name: f"bin/{bin_name}.js"}}))
    return folder / "bin" / f"{bin_name}.js"


def test_install_puts_the_pins_into_a_cache_the_suite_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(launch.NODE_MODULES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # a folder with no node_modules, like a wheel user's project
    monkeypatch.setattr(launch, "data_dir", lambda: tmp_path / "site-packages" / "_fixtures")
    npm = tmp_path / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable))
    npm.chmod(0o755)
    assert cli.main(["agents", "install", "--npm", str(npm)]) == 0
    cache = tmp_path / "cache" / "gateway-conformance" / "agents" / "node_modules"
    out = capsys.readouterr().out
    assert "claude-code  2.1.332" in out, out
    assert not (tmp_path / "node_modules").exists(), "never the project's ./node_modules"
    assert launch.default_node_modules() == cache, "the suite finds the cache without any setting"


def test_skip_reasons_give_the_install_command() -> None:
    assert "gateway-conformance agents install" in launch.install_hint()
    assert launch.NODE_MODULES_ENV in launch.install_hint()


def test_config_renders_for_the_binary_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "gwc-test-token")
    on_path = _package(tmp_path / "path_modules", "codex-0.133.0", "0.133.0")
    newest = _package(tmp_path / "cache_modules", "codex-0.171.0", "0.171.0")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "codex").symlink_to(on_path)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv(launch.NODE_MODULES_ENV, str(tmp_path / "cache_modules"))

    assert cli.main(["config", "codex", "--home", str(tmp_path / "h1"), "--gateway-url", "http://gw"]) == 0
    out = capsys.readouterr().out
    assert "Codex CLI 0.133.0" in out and f"{bin_dir / 'codex'} on PATH" in out
    assert not (tmp_path / "h1" / ".codex" / "default.config.toml").exists(), "0.133.0's layout"
    assert f"# run: HOME={tmp_path / 'h1'} {bin_dir / 'codex'} exec" in out

    assert cli.main(["config", "codex", "--home", str(tmp_path / "h2"), "--gateway-url", "http://gw",
                     "--agent-version", "0.171.0"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "h2" / ".codex" / "default.config.toml").exists(), "0.171.0's layout"
    run_line = next(line for line in out.splitlines() if line.startswith("# run:"))
    assert str(newest) in run_line and "--profile default" in run_line


def test_config_reads_the_version_of_a_binary_outside_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "gwc-test-token")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "codex").write_text("#!/bin/sh\necho 'codex-cli 0.133.0'\n")
    (bin_dir / "codex").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv(launch.NODE_MODULES_ENV, str(tmp_path / "none"))
    assert cli.main(["config", "codex", "--home", str(tmp_path / "h"), "--gateway-url", "http://gw"]) == 0
    out = capsys.readouterr().out
    assert "Codex CLI 0.133.0" in out and not (tmp_path / "h" / ".codex" / "default.config.toml").exists()

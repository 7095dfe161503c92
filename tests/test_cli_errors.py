"""Every CLI error is one line naming the problem and the fix, exit status 2, never a
traceback (issue 15): each subcommand walked through the bad inputs a first-hour user types."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_conformance import __version__, cli


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 some other socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def refused_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bad_invocations(tmp_path: Path, busy: int, refused: int) -> list[tuple[list[str], str]]:
    """(argv, words the one line must contain)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    agents = tmp_path / "agents"
    (agents / "acme").mkdir(parents=True)
    (agents / "acme" / "agent.toml").write_text('name = "acme"\nsurface = "cursor"\n')
    (agents / "empty").mkdir()
    return [
        (["config", "codex", "--home", str(a_file), "--gateway-url", "http://gw"], "is a file"),
        (["config", "codex", "--home", str(tmp_path / "h"), "--gateway-url", "gw"], "http://"),
        (["config", "nope", "--home", str(tmp_path), "--gateway-url", "http://gw"], "invalid choice"),
        (["new-agent", "acme", "--surface", "cursor", "--dir", "/proc/nope"], "give --dir a folder"),
        (["new-agent", "Bad Name", "--surface", "cursor", "--dir", str(agents)], "lower case"),
        (["new-agent", "acme", "--surface", "cursor", "--dir", str(agents)], "already exists"),
        (["record", "--agent", "acme", "--agents-dir", str(agents), "--script", "nope.json", "--", "true"],
         "--script nope.json"),
        (["record", "--agent", "ghost", "--agents-dir", str(agents), "--", "true"], "new-agent ghost"),
        (["record", "--agent", "acme", "--agents-dir", str(agents)], "--prompt"),
        (["replay", "--serve", "--speed", "-1"], "give 0 or more"),
        (["replay", "--serve", "--port", "99999"], "65535"),
        (["replay", str(agents / "empty")], "holds no cassettes"),
        (["replay", str(tmp_path / "missing.json")], "does not exist"),
        (["replay", "--target", f"http://127.0.0.1:{refused}"], "GATEWAY_CONFORMANCE_TOKEN"),
        (["serve", "--port", "99999"], "65535"),
        (["serve", "--port", "http"], "not a port number"),
        (["serve", "--no-sink", "--port", str(busy)], "choose another port"),
        (["serve", "--no-sink", "--host", "10.255.255.1"], "not an address of this machine"),
        (["serve", "--no-sink", "--tokens-file", "nope.txt"], "--tokens-file nope.txt"),
        (["serve", "--no-sink", "--token-env", "GWC_UNSET_VARIABLE"], "GWC_UNSET_VARIABLE"),
        (["serve", "--no-sink", "--break", "no-such-breakage"], "--break"),
        (["report", "--out", "/proc/x/y.html", "--ledger", "nope.json"], "/proc/x"),
        (["report", "--out", str(tmp_path / "r.html")], "nothing to show"),
        (["report", "--out", str(tmp_path / "r.html"), "--results", "nope.json"], "nope.json"),
        (["diff", "nope.json", "nope2.json"], "nope.json"),
        (["agents", "--node-modules", str(a_file), "install"], "node_modules"),
        (["nonsense"], "invalid choice"),
    ]


def test_every_subcommand_fails_bad_input_in_one_line(tmp_path: Path, busy_port: int, refused_port: int,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABRICKS_TOKEN", "gwc-test-token")
    monkeypatch.delenv("GATEWAY_CONFORMANCE_TOKEN", raising=False)
    monkeypatch.delenv("GWC_UNSET_VARIABLE", raising=False)
    problems = []
    for argv, words in _bad_invocations(tmp_path, busy_port, refused_port):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's own exit
            code = exc.code
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        named = not lines or lines[0].startswith(f"gateway-conformance {argv[0]}") or argv[0] == "nonsense"
        if code != 2 or len(lines) != 1 or words not in lines[0] or "Traceback" in err or not named:
            problems.append(f"{' '.join(argv)}: exit {code}, stderr {err!r}, "
                            f"wanted one line naming the command, with {words!r}")
    assert not problems, "\n".join(problems)


def test_spark_engine_without_the_extra_names_the_install_command(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for module in ("pyspark", "pyspark.sql"):
        monkeypatch.setitem(sys.modules, module, None)  # what a plain install looks like
    assert cli.main(["serve", "--engine", "spark"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "pip install 'gateway-conformance[spark]'" in line


def test_an_unexpected_failure_is_still_one_line(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("the harness tripped")

    monkeypatch.setattr("gateway_conformance.diff_cmd.run", broken)
    assert cli.main(["diff", "a", "b"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "internal error: the harness tripped" in line and "GATEWAY_CONFORMANCE_DEBUG=1" in line


def test_version_and_a_real_process_prints_no_traceback(busy_port: int) -> None:
    version = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"gateway-conformance {__version__}"
    proc = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "serve", "--no-sink",
                           "--port", str(busy_port)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GATEWAY_CONFORMANCE_DEBUG": ""})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"127.0.0.1:{busy_port}" in proc.stderr


@pytest.mark.parametrize("command", [["serve"], ["report", "--out", "x.html"],
                                     ["config", "codex", "--home", "h", "--gateway-url", "http://gw"]])
def test_catalog_and_schema_have_the_pytest_names_and_keep_the_old_ones(command: list[str]) -> None:
    """`--uc-catalog/--uc-schema`, as `pytest --conformance` names them; `--catalog/--schema` stay."""
    parser = cli.build_parser()
    new = parser.parse_args([*command, "--uc-catalog", "c1", "--uc-schema", "s1"])
    old = parser.parse_args([*command, "--catalog", "c1", "--schema", "s1"])
    assert (new.catalog, new.schema) == (old.catalog, old.schema) == ("c1", "s1")


def test_replay_against_a_refused_port_is_one_line_not_one_per_request(
        refused_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_CONFORMANCE_TOKEN", "gwc-test-token")
    assert cli.main(["replay", "--target", f"http://127.0.0.1:{refused_port}"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert f"nothing answers at http://127.0.0.1:{refused_port}" in err and "fix --target" in err

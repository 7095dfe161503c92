"""Where ``new-agent``/``record`` write, and what a recorded cassette stores (issue 15):
never into the installed package, no absolute local path in ``meta.rerecord``, a JSON
request body kept as data (plus ``body_text`` when its exact text differs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gateway_conformance import cli
from gateway_conformance.resources import data_dir
from gateway_conformance.traffic.cassette import Cassette
from gateway_conformance.traffic.scaffold import default_agents_dir

pytest_plugins = ["pytester"]

# Sends a JSON body whose text is not the compact encoding (spaces, key order kept).
CLIENT = '''
import os, sys, httpx
base, token = os.environ["GATEWAY_CONFORMANCE_BASE_URL"], os.environ["GATEWAY_CONFORMANCE_TOKEN"]
body = '{"stream": false, "model": "databricks-gpt-5-2", "messages": [{"role": "user", "content": "hi"}]}'
resp = httpx.post(base + "/chat/completions", content=body,
                  headers={"authorization": "Bearer " + token, "content-type": "application/json"})
sys.exit(0 if resp.status_code == 200 else 1)
'''


def test_outside_a_checkout_the_default_is_agents_in_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in (data_dir() / "agents").iterdir())
    assert cli.main(["new-agent", "acme", "--surface", "cursor"]) == 0
    assert (tmp_path / "agents" / "acme" / "agent.toml").is_file()
    assert sorted(p.name for p in (data_dir() / "agents").iterdir()) == before, "package untouched"
    out = capsys.readouterr().out
    assert "pytest --conformance --agents-dir agents -k acme" in out, out


def test_at_a_checkout_root_the_default_is_its_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(data_dir().parent)
    assert default_agents_dir() == Path("fixtures", "agents")


def test_cassette_keeps_request_json_as_data_and_rerecord_has_no_absolute_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    agents = tmp_path / "elsewhere" / "agents"  # absolute, outside the working folder
    client = work / "client.py"
    client.write_text(CLIENT)
    script = work / "turns.json"
    script.write_text(json.dumps([{"text": "Hello."}]))
    assert cli.main(["new-agent", "acme", "--surface", "cursor", "--dir", str(agents)]) == 0
    assert cli.main(["record", "--agent", "acme", "--agents-dir", str(agents), "--name", "plain",
                     "--script", str(script), "--", sys.executable, str(client)]) == 0
    cassette = Cassette.load(agents / "acme" / "cassettes" / "plain.json")
    request = cassette.interactions[0].request
    assert isinstance(request.body, dict) and request.body["model"] == "databricks-gpt-5-2"
    assert request.body_text is not None and request.body_text.startswith('{"stream": false')
    assert request.body_bytes() == request.body_text.encode(), "replay sends the exact bytes"
    rerecord = cassette.meta.rerecord
    assert str(tmp_path) not in rerecord, rerecord
    assert "--agents-dir ../elsewhere/agents" in rerecord and "--script turns.json" in rerecord
    assert rerecord.endswith(" client.py")



def test_an_agent_folder_without_cassettes_fails_not_passes_silently(pytester: pytest.Pytester) -> None:
    agents = pytester.path / "agents"
    assert cli.main(["new-agent", "quiet_agent", "--surface", "cursor", "--dir", str(agents)]) == 0
    result = pytester.runpytest_subprocess("--conformance", "--agents-dir", str(agents), "-k", "quiet_agent",
                                           "-p", "no:cacheprovider", "-rf")
    failed = [line for line in result.outlines if line.startswith("FAILED")]
    assert len(failed) == 1 and "test_agent_folder_has_cassettes[quiet-agent]" in failed[0], failed
    out = result.stdout.str()
    assert "has no cassettes/*.json, so nothing of this agent is checked" in out
    assert "AssertionError" not in out and "generator object" not in out, out  # a sentence, not internals

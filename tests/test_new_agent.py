"""The new-agent path, end to end with no code change: scaffold an agent folder outside the
package, record one cassette from a scripted client, run ``pytest --conformance`` on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from gateway_conformance import traffic_cmd
from gateway_conformance.traffic.cassette import Cassette
from gateway_conformance.traffic.scaffold import AgentFolderError, agent_folders, load_agent, new_agent

pytest_plugins = ["pytester"]

# A scripted client: what a contributor's agent would send, found through the recorder's env.
CLIENT = '''
import os, sys, httpx
base, token = os.environ["GATEWAY_CONFORMANCE_BASE_URL"], os.environ["GATEWAY_CONFORMANCE_TOKEN"]
with httpx.stream("POST", base + "/chat/completions", headers={"authorization": "Bearer " + token},
                  json={"model": "databricks-gpt-5-2", "stream": True,
                        "messages": [{"role": "user", "content": "hello from a new agent"}]}) as resp:
    body = resp.read().decode()
sys.exit(0 if resp.status_code == 200 and body.rstrip().endswith("data: [DONE]") else 1)
'''


def _command(command: object, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)  # type: ignore[attr-defined]
    return command.run(parser.parse_args(argv))  # type: ignore[attr-defined]


def test_scaffolded_agents_are_recorded_collected_and_judged(pytester: pytest.Pytester) -> None:
    """Two new agents in a folder outside the package: one good, one whose recorded stream lost
    its final ``[DONE]``. One suite run collects both; the good one passes, the broken one fails
    exactly the check that judges the recording."""
    agents = pytester.path / "my_agents"
    client = pytester.path / "client.py"
    client.write_text(CLIENT)
    for name in ("acme_coder", "acme_broken"):
        scaffold = [name, "--surface", "cursor", "--dir", str(agents)]
        assert _command(traffic_cmd.new_agent_command, scaffold) == 0
        assert _command(traffic_cmd.record, ["--agent", name, "--agents-dir", str(agents), "--name", "hello",
                                             "--", sys.executable, str(client)]) == 0
    good = Cassette.load(agents / "acme-coder" / "cassettes" / "hello.json")  # one spelling: dashed
    assert good.meta.agent == "acme-coder" and good.meta.surface == "cursor"
    assert "--agents-dir" in good.meta.rerecord
    broken_path = agents / "acme-broken" / "cassettes" / "hello.json"
    broken = Cassette.load(broken_path)
    events = broken.interactions[0].response.events
    assert events is not None and events[-1].event.data == "[DONE]"
    del events[-1]
    broken.save(broken_path)

    result = pytester.runpytest_subprocess("--conformance", "--agents-dir", str(agents), "-k", "acme_",
                                           "-p", "no:cacheprovider", "-rA")
    out = result.stdout.str()
    passed = {line.split("[")[1].split("]")[0] + ":" + line.split("::")[1].split("[")[0]
              for line in result.outlines if line.startswith("PASSED") and "[acme-" in line}
    failed = [line for line in result.outlines if line.startswith("FAILED")]
    assert {p for p in passed if p.startswith("acme-coder/")} == {
        f"acme-coder/hello:{t}" for t in ("test_cassette_is_well_formed", "test_recording_conforms",
                                          "test_replay_as_client", "test_replay_as_server")}, out
    assert len(failed) == 1 and "test_recording_conforms[acme-broken/hello]" in failed[0], out
    assert "[DONE]" in out


def test_scaffold_refuses_bad_names_surfaces_and_overwrites(tmp_path: Path) -> None:
    folder = new_agent("ok_agent", "gemini", tmp_path)
    assert folder.path == tmp_path / "ok-agent" and load_agent(folder.path).surface == "gemini"
    assert [a.name for a in agent_folders([tmp_path, tmp_path])] == ["ok-agent"]
    with pytest.raises(AgentFolderError, match="already exists"):
        new_agent("ok-agent", "gemini", tmp_path)
    with pytest.raises(AgentFolderError, match="lower case"):
        new_agent("Bad-Name", "gemini", tmp_path)
    with pytest.raises(AgentFolderError, match="not one of"):
        new_agent("other", "smtp", tmp_path)

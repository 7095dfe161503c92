"""The cost of a run: the tokens the target reported, per check in the results and in total
on the last line, read from each protocol's own usage (never estimated).

Against the mock on 127.0.0.1, whose usage is exact and known from its ledger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_conformance import surfaces
from gateway_conformance.cost import usage_of
from gateway_conformance.gateway.app import Gateway, GatewayConfig, create_gateway, new_token
from gateway_conformance.remote import RemoteClient
from gateway_conformance.secret import Secret
from gateway_conformance.server import ServerHandle
from gateway_conformance.target import AGENT_SURFACES, DEFAULT_BASE_PATHS, DOCUMENTED_MODELS
from nested_runs import check_gateway


@pytest.fixture(scope="module")
def mock() -> Iterator[tuple[Gateway, str, str]]:
    token = new_token()
    core = create_gateway(GatewayConfig(tokens={token: "t"}))
    with ServerHandle(core, name="cost") as server:
        yield core, server.url, token


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("agent", list(AGENT_SURFACES))
def test_usage_is_read_from_each_protocol(mock: tuple[Gateway, str, str], agent: str, stream: bool) -> None:
    core, url, token = mock
    surface = AGENT_SURFACES[agent]
    core.reset()
    with RemoteClient(url + DEFAULT_BASE_PATHS[surface], Secret(token)) as client:
        path, body = surfaces.get(surface).request(DOCUMENTED_MODELS[agent], "Say ready.", stream=stream)
        answer = client.request("POST", path, json=body)
    assert answer.status == 200
    (record,) = core.ledger.records()
    usage = usage_of(answer.response)
    assert (usage.input, usage.output) == (record.input_tokens, record.output_tokens) != (0, 0)


def test_each_check_records_its_tokens_and_the_run_prints_the_total(mock: tuple[Gateway, str, str],
                                                                     tmp_path: Path) -> None:
    _, url, token = mock
    report = tmp_path / "r.json"
    result = check_gateway(url, token, report, "conformance/test_target_surfaces.py", "-k",
                           "json_grammar or bad_token")
    assert result.returncode == 0, result.stdout[-3000:]
    results = json.loads(report.read_text())["results"]
    spent = {r["nodeid"].rsplit("::", 1)[-1]: r["evidence"]["facts"] for r in results}
    generating = [f for name, f in spent.items() if "json_grammar" in name]
    assert len(generating) == 4 and all(int(f["tokens.input"]) > 0 and int(f["tokens.output"]) > 0
                                        for f in generating)
    assert not any("tokens.input" in f for name, f in spent.items() if "bad_token" in name)  # 401: none
    total_in, total_out = (sum(int(f[k]) for f in generating) for k in ("tokens.input", "tokens.output"))
    line = next(x for x in result.stdout.splitlines() if "the target reported" in x)
    assert re.search(rf"reported {total_in + total_out} tokens \({total_in} input, {total_out} output\) "
                     rf"over 4 checks", line), line


def test_the_sdk_checks_are_metered_too(mock: tuple[Gateway, str, str], tmp_path: Path) -> None:
    """The SDKs read their answers themselves; their HTTP clients carry the metered transport."""
    _, url, token = mock
    report = tmp_path / "r.json"
    result = check_gateway(url, token, report, "conformance/test_anthropic_sdk.py",
                           "conformance/test_openai_sdk.py", "conformance/test_gemini_sdk.py",
                           "-k", "plain_text or responses_text or chat_text or generate_content_text")
    assert result.returncode == 0, result.stdout[-3000:]
    results = json.loads(report.read_text())["results"]
    modules = {r["nodeid"].split("::")[0] for r in results
               if int(r["evidence"]["facts"].get("tokens.output", 0))}
    assert modules == {f"conformance/test_{sdk}_sdk.py" for sdk in ("anthropic", "openai", "gemini")}, results


def replay_tokens(url: str, token: str, tmp_path: Path, *options: str) -> tuple[int, list[dict[str, str]]]:
    """The replayed cassettes against ``url`` as an external target with a model behind it:
    the total the run reported, and each replay check's facts."""
    report = tmp_path / "r.json"
    result = check_gateway(url, token, report, "conformance/test_cassettes.py", "-k", "replay_as_client",
                           *options)
    assert result.returncode == 0, result.stdout[-3000:]
    line = next(x for x in result.stdout.splitlines() if "the target reported" in x)
    results = json.loads(report.read_text())["results"]
    facts = [r["evidence"]["facts"] for r in results if r["outcome"] == "pass"]
    assert len(facts) == 12, facts
    return int(re.search(r"reported (\d+) tokens", line).group(1)), facts  # type: ignore[union-attr]


def test_replay_to_a_real_model_is_trimmed_and_says_so(mock: tuple[Gateway, str, str],
                                                       tmp_path: Path) -> None:
    """Against an external target without [upstream] the cassettes' free text is cut (the
    mock counts every string of a request, as a model does); ``--replay-full`` sends it whole."""
    _, url, token = mock
    trimmed, facts = replay_tokens(url, token, tmp_path)
    full, full_facts = replay_tokens(url, token, tmp_path, "--replay-full")
    assert all(f["replay"].startswith("requests trimmed for a real model: ") for f in facts), facts
    assert not any("replay" in f for f in full_facts)
    assert full > 100_000 and trimmed < 12_000, (full, trimmed)

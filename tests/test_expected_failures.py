"""Claims and expected failures of a target profile, judged from nested conformance runs
against a real, deliberately broken gateway on 127.0.0.1 (``drop-stream-event``: every
stream loses its last event, so ``stream-grammar`` fails and ``json-grammar`` passes).

- an expected failure that fails: ``xfail`` with the reason and link, the run exits 0;
- an expected failure that passes: the run fails, saying the entry is stale and where it is;
- an agent the profile does not claim: its checks are "not claimed" skips, never failures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_conformance.expectations import check_id, load_expected
from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.gateway.breakage import break_gateway
from gateway_conformance.server import ServerHandle

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SURFACES = "conformance/test_target_surfaces.py"
TOKEN_ENV = "GWC_EXPECTED_TEST_TOKEN"
LINK = "https://example.invalid/gateway/issues/1"


class _Ids:
    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.ids = {item.nodeid.rsplit("::", 1)[-1]: check_id(item) for item in session.items}


@pytest.fixture(scope="module")
def ids(pytestconfig: pytest.Config) -> dict[str, str]:
    """Test name -> check ID, as the plugin computes it (so the test follows the catalogue)."""
    recorder = _Ids()
    pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "--conformance", str(ROOT / SURFACES)],
                plugins=[recorder])
    return recorder.ids


@pytest.fixture(scope="module")
def broken() -> Iterator[tuple[str, str]]:
    token = new_token()
    core = create_gateway(GatewayConfig(tokens={token: "t"}))
    with ServerHandle(break_gateway(core, {"drop-stream-event"}), name="broken") as server:
        yield server.url, token


def run(tmp_path: Path, gateway: tuple[str, str], expected: list[dict[str, str]],
        claims: str = 'agents = ["claude-code"]',
        ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    url, token = gateway
    lines = [f'[[expected]]\ncheck = "{e["check"]}"\nreason = "{e["reason"]}"\nlink = "{LINK}"\n'
             for e in expected]
    (tmp_path / "gw.expected.toml").write_text("\n".join(lines))
    profile = tmp_path / "gw.toml"
    profile.write_text(f'name = "broken-gw"\nversion = "0.1"\nurl = "{url}"\ntoken_env = "{TOKEN_ENV}"\n'
                       f'expected_failures = "gw.expected.toml"\n[claims]\n{claims}\n')
    report = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "--conformance",
               SURFACES, "-k", "stream_grammar or json_grammar", "--target", str(profile),
               "--conformance-report", str(report)]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, TOKEN_ENV: token}, capture_output=True,
                            text=True, timeout=300)
    return result, json.loads(report.read_text())["results"]


def by_test(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["nodeid"].rsplit("::", 1)[-1]: r for r in results}


def test_an_expected_failure_that_fails_is_xfail_and_the_run_passes(
        tmp_path: Path, broken: tuple[str, str], ids: dict[str, str]) -> None:
    expected = [{"check": ids["test_stream_grammar[claude-code]"], "reason": "drops the last stream event"}]
    result, results = run(tmp_path, broken, expected)
    assert result.returncode == 0, result.stdout[-3000:]
    got = by_test(results)
    stream = got["test_stream_grammar[claude-code]"]
    assert stream["outcome"] == "xfail"
    assert stream["evidence"]["facts"]["expected_failure"] == f"drops the last stream event ({LINK})"
    assert got["test_json_grammar[claude-code]"]["outcome"] == "pass"


def test_an_expected_failure_that_passes_fails_the_run_as_stale(
        tmp_path: Path, broken: tuple[str, str], ids: dict[str, str]) -> None:
    expected = [{"check": ids["test_stream_grammar[claude-code]"], "reason": "drops the last stream event"},
                {"check": ids["test_json_grammar[claude-code]"], "reason": "was broken in 0.0"}]
    result, results = run(tmp_path, broken, expected)
    assert result.returncode == 1, result.stdout[-3000:]
    stale = by_test(results)["test_json_grammar[claude-code]"]
    assert stale["outcome"] == "fail"
    assert stale["reason"] == (f"stale expected failure: {ids['test_json_grammar[claude-code]']} passes now; "
                               f"remove it from {tmp_path / 'gw.expected.toml'} "
                               f"(it was listed because: was broken in 0.0 ({LINK}))")


def test_unclaimed_agents_are_not_claimed_never_failed(tmp_path: Path, broken: tuple[str, str],
                                                        ids: dict[str, str]) -> None:
    expected = [{"check": ids["test_stream_grammar[claude-code]"], "reason": "drops the last stream event"}]
    result, results = run(tmp_path, broken, expected)
    assert result.returncode == 0
    others = [r for r in results if r["agent"] != "claude-code"]
    assert len(others) == 6  # two checks x codex, cursor, gemini-cli: their streams are broken too
    for r in others:
        assert r["outcome"] == "skip"
        assert r["reason"].startswith("not claimed: broken-gw 0.1 does not claim "), r["reason"]
        assert r["evidence"]["facts"]["claim"] == "not claimed"


@pytest.mark.parametrize(("text", "says"), [
    ('[[expected]]\ncheck = "a"\nreason = "r"\n', "expected[0] needs check, reason and link"),
    ('[[expected]]\ncheck = "a"\nreason = "r"\nlink = "l"\n' * 2, "a is listed twice"),
    ('check = "a"\n', "holds only [[expected]] tables"),
    ('[[expected]]\ncheck = "a"\nreason = "r"\nlink = "l"\nagents = "codex"\n', "agents is a list"),
])
def test_a_malformed_expected_failures_file_is_refused(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(pytest.UsageError, match=r"expected failures .*x\.toml") as caught:
        load_expected(path)
    assert says in str(caught.value)


def test_a_profile_claim_leaves_the_other_checks_not_claimed(tmp_path: Path, broken: tuple[str, str]) -> None:
    result, results = run(tmp_path, broken, [], claims='profiles = ["codex"]')
    got = by_test(results)
    assert got["test_json_grammar[codex]"]["outcome"] == "pass", got["test_json_grammar[codex]"]
    others = [r for name, r in got.items() if "[codex]" not in name]
    assert others and all(r["outcome"] == "skip" and "in none of the claimed profiles" in r["reason"]
                          for r in others), [r["reason"] for r in others]
    assert result.returncode == 1  # codex's stream grammar is broken and claimed: a real failure


def test_an_unknown_profile_claim_stops_the_run(tmp_path: Path, broken: tuple[str, str]) -> None:
    url, token = broken
    profile = tmp_path / "gw.toml"
    profile.write_text(f'name = "gw"\nurl = "{url}"\ntoken_env = "{TOKEN_ENV}"\n'
                       f'[claims]\nprofiles = ["codx"]\n')
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--conformance", SURFACES,
               "--target", str(profile)]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, TOKEN_ENV: token}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout[-2000:] + result.stderr[-2000:]
    assert "claims.profiles: unknown profile 'codx'; known: claude-code, codex" in result.stderr


def test_an_expected_failure_can_name_the_agents_and_variant_it_fails_for(tmp_path: Path) -> None:
    """One check runs per agent (and per variant): a gateway that fails it for Codex only must
    list Codex only, or the agents it passes for would be stale expected failures."""
    from gateway_conformance.checks import Identity, catalogue

    path = tmp_path / "x.toml"
    path.write_text('[[expected]]\ncheck = "c.a.b"\nreason = "r"\nlink = "l"\nagents = ["codex"]\n\n'
                    '[[expected]]\ncheck = "c.a.b"\nreason = "r2"\nlink = "l"\nagents = ["cursor"]\n'
                    'variant = "503"\n')
    entries = load_expected(path)["c.a.b"]
    check = catalogue().checks[0]

    def case(agent: str, variant: str | None = None) -> list[str]:
        found = Identity(check=check, agents=(agent,), variant=variant, config=None, how="parameter")
        return [e.reason for e in entries if e.applies(found)]

    assert (case("codex"), case("codex", "400"), case("claude-code")) == (["r"], ["r"], [])
    assert (case("cursor", "503"), case("cursor", "400")) == (["r2"], [])
    assert [e.label for e in entries] == ["c.a.b[codex]", "c.a.b[cursor, 503]"]


def test_claiming_an_agent_does_not_claim_what_only_databricks_promises() -> None:
    """LiteLLM claims the agents' profiles: a check that is also in ``databricks`` (request
    tags) stays not claimed; one in the agents' profiles only is claimed."""
    from gateway_conformance.checks import catalogue
    from gateway_conformance.expectations import profiles_not_claimed
    from gateway_conformance.target import Claims

    shipped = catalogue()
    claims = Claims(profiles=("claude-code", "codex"))
    tags = shipped["gateway.usage.malformed-tags-refused"].profiles
    stream = shipped["gateway.stream.grammar"].profiles
    assert profiles_not_claimed(tags, claims, shipped) == ["databricks"]
    assert profiles_not_claimed(stream, claims, shipped) == []
    assert profiles_not_claimed(tags, Claims(profiles=("claude-code", "databricks")), shipped) == []
    assert profiles_not_claimed(tags, Claims(), shipped) == []

"""Every recorded agent session, replayed both ways.

Agent folders are discovered, not listed: every ``agent.toml`` under the shipped
``fixtures/agents`` and under each ``--agents-dir`` contributes its ``cassettes/*.json``.
For each cassette:

- the recording itself conforms to its surface's grammar (what the agent got was valid);
- replayed as a client against the target, every recorded request is accepted and every
  answer conforms by shape (the mock re-injects the faults the recording injected);
- replayed as a server by the mock, the client gets the recorded bytes back, and a request
  the cassette does not hold gets an error in the surface's envelope naming the cassette.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway_conformance.gateway.faults import Fault
from gateway_conformance.resources import data_dir
from gateway_conformance.roster import agent_name, documented_agent
from gateway_conformance.secret import Secret
from gateway_conformance.target import DEFAULT_BASE_PATHS, Target
from gateway_conformance.traffic import shapes
from gateway_conformance.traffic.cassette import Cassette, Interaction, iter_cassettes
from gateway_conformance.traffic.redact import find_secrets
from gateway_conformance.traffic.replay import mount, outgoing_headers, replay_as_client
from gateway_conformance.traffic.retarget import retarget
from gateway_conformance.traffic.scaffold import agent_folders
from gateway_conformance.traffic.trim import trim


def _roots(config: pytest.Config) -> list[Path]:
    return [data_dir() / "agents", *(Path(p) for p in config.getoption("agents_dir"))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "agent_folder" in metafunc.fixturenames:
        folders = list(agent_folders(_roots(metafunc.config)))
        metafunc.parametrize("agent_folder", [pytest.param(a.path, id=a.name) for a in folders])
    if "cassette_file" not in metafunc.fixturenames:
        return
    params = [pytest.param((agent.name, agent.surface, path), id=f"{agent.name}/{path.stem}")
              for agent in agent_folders(_roots(metafunc.config)) for path in agent.cassettes]
    metafunc.parametrize("cassette_file", params)


@pytest.fixture
def cassette(cassette_file: tuple[str, str, Path]) -> Cassette:
    return Cassette.load(cassette_file[2])


@pytest.mark.gwc_self_check
def test_agent_folder_has_cassettes(agent_folder: Path) -> None:
    """An agent folder with nothing recorded would add no check at all: it must say so."""
    if not any(iter_cassettes(agent_folder)):
        pytest.fail(f"{agent_folder} has no cassettes/*.json, so nothing of this agent is checked: record "
                    f"one with `gateway-conformance record --agent {agent_folder.name} "
                    f"--agents-dir {agent_folder.parent} -- COMMAND...` "
                    "(see `gateway-conformance record --help`)",
                    pytrace=False)


@pytest.mark.gwc_self_check
def test_cassette_is_well_formed(cassette: Cassette, cassette_file: tuple[str, str, Path]) -> None:
    agent, surface, _ = cassette_file
    assert agent_name(cassette.meta.agent) == agent, "meta.agent must name the agent folder"
    assert cassette.meta.surface == surface, "meta.surface must match agent.toml"
    assert cassette.meta.rerecord, "meta.rerecord must say how to record the cassette again"
    assert cassette.interactions, "a cassette without interactions proves nothing"
    assert not find_secrets(cassette), [str(f) for f in find_secrets(cassette)]


@pytest.mark.gwc_self_check
def test_recording_conforms(cassette: Cassette) -> None:
    """What the agent received when it was recorded is valid for its surface."""
    findings = [f for n, inter in enumerate(cassette.interactions)
                for f in shapes.check_response(cassette.meta.surface, inter.request.method,
                                               inter.request.path, inter.response)
                if f.severity == "error"]
    assert not findings, "\n".join(f"{cassette.name}: {f}" for f in findings)


@pytest.fixture
def refault(request: pytest.FixtureRequest) -> Iterator[object]:
    """Against the mock: re-inject each recorded fault before its request. Elsewhere: nothing."""
    if request.config.getoption("gateway_url"):
        yield None
        return
    core = request.getfixturevalue("gwc_clean_gateway")

    def before_each(index: int, inter: Interaction) -> None:
        if inter.injected_fault:
            core.faults.add(Fault(status=inter.response.status, path=inter.request.path))
    yield before_each


@pytest.mark.gwc_check("gateway.replay.recorded-sessions")
def test_replay_as_client(cassette: Cassette, gwc_gateway_urls: dict[str, str], gwc_gateway_token: Secret,
                          gwc_target: Target, refault: object, request: pytest.FixtureRequest,
                          record_property: Callable[[str, object], None]) -> None:
    """The target accepts every recorded request and answers in the surface's shape. The
    requests ask for the target's model for the cassette's agent, at the target's paths.
    Against a real model (external, no ``[upstream]``) their free text is trimmed
    (:mod:`gateway_conformance.traffic.trim`), and the evidence says so."""
    surface = cassette.meta.surface
    profile = gwc_target.surface(surface)
    agent = agent_name(cassette.meta.agent)
    model = gwc_target.model(agent if agent in gwc_target.models else documented_agent(surface))
    base_path = profile.base_path if gwc_target.external else DEFAULT_BASE_PATHS[surface]
    aimed = retarget(cassette, model=model, recorded_prefix=DEFAULT_BASE_PATHS[surface],
                     base_path=base_path, auth=profile.auth, headers=profile.headers)
    if gwc_target.external and gwc_target.upstream is None and not request.config.getoption("replay_full"):
        trimmed = trim(aimed)
        aimed = trimmed.cassette
        record_property("replay", trimmed.evidence())
    root = gwc_gateway_urls[surface].removesuffix(base_path)
    result = replay_as_client(aimed, root, token=gwc_gateway_token,
                              before_each=refault)  # type: ignore[arg-type]
    assert not result.errors, result.report()


@pytest.mark.gwc_self_check
@pytest.mark.gwc_mock_only
def test_replay_as_server(cassette: Cassette, gwc_gateway,
                          gwc_clean_gateway) -> None:  # type: ignore[no-untyped-def]
    """The mock serves the recorded bytes back, and names the cassette on a miss."""
    mount(gwc_clean_gateway, [cassette], speed=math.inf)
    try:
        with httpx.Client(base_url=gwc_gateway.url, timeout=30) as client:
            for n, inter in enumerate(cassette.interactions):
                req = inter.request
                resp = client.request(req.method, req.path, params=req.query or None,
                                      headers=outgoing_headers(req,
                                                               gwc_gateway.token), content=req.body_bytes())
                assert resp.status_code == inter.response.status, f"interaction {n}"
                assert resp.content == inter.response.body_bytes(), f"interaction {n}: bytes differ"
            miss = _mutated(cassette)
            if miss is not None:
                resp = client.request(miss.method, miss.path, headers=outgoing_headers(miss,
                                                                                       gwc_gateway.token),
                                      content=miss.body_bytes())
                assert resp.status_code == 400
                assert cassette.name in resp.text and "re-record" in resp.text
                assert not shapes.check_raw(cassette.meta.surface, miss.method, miss.path, resp.status_code,
                                            dict(resp.headers), resp.content)
    finally:
        gwc_clean_gateway.replay = None


def _mutated(cassette: Cassette):  # type: ignore[no-untyped-def]
    """A recorded JSON request with one field more: no interaction can match it."""
    for inter in cassette.interactions:
        if isinstance(inter.request.body, dict):
            req = copy.deepcopy(inter.request)
            req.body["never_recorded"] = True
            return req
    return None

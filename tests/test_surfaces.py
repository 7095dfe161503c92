"""The judging side's surfaces: one module per roster name, and the knowledge each one holds.

Each module's requests are classified by its own routes, name their model where the surface
says, and are answered by the embedded mock in that surface's grammar; its exact error
envelope rejects what its loose one lets through. And no judging code outside ``surfaces/``
(and the mock, ``gateway/``, which stays separate) keeps a table keyed by surface name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_conformance import surfaces
from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.roster import SURFACES as NAMES
from gateway_conformance.roster import documented_agent
from gateway_conformance.server import ServerHandle
from gateway_conformance.surfaces import Sink
from gateway_conformance.target import DOCUMENTED_MODELS
from gateway_conformance.traffic.shapes import check_raw

PACKAGE = Path(surfaces.__file__).resolve().parents[1]
ROOT = PACKAGE.parents[1]


def _model(surface: str) -> str:
    return DOCUMENTED_MODELS[documented_agent(surface)]


def test_one_module_per_roster_surface() -> None:
    assert tuple(surfaces.SURFACES) == NAMES
    for name, surface in surfaces.SURFACES.items():
        assert surface.name == name and (PACKAGE / "surfaces" / f"{name}.py").is_file()
    with pytest.raises(KeyError, match="unknown surface 'smtp'; known: anthropic, openai"):
        surfaces.get("smtp")


@pytest.mark.parametrize("name", NAMES)
def test_requests_are_classified_by_their_own_routes_and_name_the_model(name: str) -> None:
    surface = surfaces.get(name)
    for stream in (False, True):
        path, body = surface.request("m-1", "hi", stream=stream)
        assert surface.routes.kind("POST", surface.base_path + path) == "generate", path
        assert ("m-1" in path) == (surface.model_in == "path") and (body.get("model") == "m-1") == (
            surface.model_in == "body"), (path, body)
    assert surface.routes.kind("GET", surface.base_path + surface.routes.models) == "models"
    assert surface.routes.kind("HEAD", surface.base_path) == "probe"
    if surface.count_tokens_request is not None:
        path, _ = surface.count_tokens_request("m-1", "hi")
        assert surface.routes.kind("POST", surface.base_path + path) == "count_tokens"
    assert (surface.count_tokens_request is None) == (surface.count_field is None) == (
        surface.routes.count_tokens is None)


@pytest.mark.parametrize("name", NAMES)
def test_aim_puts_the_model_where_the_surface_names_it(name: str) -> None:
    surface = surfaces.get(name)
    path, body = surface.request("old-model", "hi", stream=True)
    aimed_path, changed = surface.aim(path, body, "new-model")
    assert "old-model" not in aimed_path + str(body)
    in_path = surface.model_in == "path"
    assert ("new-model" in aimed_path, changed) == (in_path, not in_path)


@pytest.fixture(scope="module")
def mock() -> Iterator[tuple[str, str]]:
    token = new_token()
    core = create_gateway(GatewayConfig(tokens={token: "conformance"}))
    with ServerHandle(core, name="surfaces") as handle:
        yield handle.url, token


@pytest.mark.parametrize("name", NAMES)
def test_each_surfaces_request_is_answered_in_its_grammar_with_usage_and_text(
        name: str, mock: tuple[str, str]) -> None:
    """The builders are what the wire checks send: the mock answers them, and the surface's own
    grammar, usage and text readers agree with the answer."""
    url, token = mock
    surface = surfaces.get(name)
    with httpx.Client(timeout=30, headers={"authorization": f"Bearer {token}"}) as client:
        for stream in (False, True):
            path, body = surface.request(_model(name), "Say ready.", stream=stream)
            response = client.post(url + surface.base_path + path, json=body)
            findings = check_raw(name, "POST", surface.base_path + path, response.status_code,
                                 dict(response.headers), response.content)
            assert response.status_code == 200 and not findings, (path, response.text[:300], findings)
            if stream:
                datas = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
                counts = surface.stream_usage(datas)
            else:
                counts = surface.usage(response.json())
                assert surface.text(response.json()), f"{name}: no assistant text in {response.text[:200]}"
            assert all(isinstance(n, int) and n > 0 for n in counts), (name, stream, counts)


def test_exact_envelopes_require_what_the_loose_ones_let_through() -> None:
    cases = [("anthropic", {"type": "error", "error": {"type": "api_error", "message": "no"}}, 401,
              "authentication_error"),
             ("openai", {"error": {"message": "no", "type": "invalid_request_error"}}, 400, "param"),
             ("cursor", {"error": {"message": "no", "code": "bad"}}, 400, "error.type"),
             ("gemini", {"error": {"code": 401, "message": "no", "status": "PERMISSION_DENIED"}}, 401,
              "UNAUTHENTICATED")]
    for name, body, status, required in cases:
        loose, exact = Sink(), Sink()
        surfaces.get(name).check_error(body, status, loose, "envelope")
        surfaces.get(name).check_error(body, status, exact, "envelope", exact=True)
        assert not loose.findings, (name, loose.findings)
        assert any(required in f.message for f in exact.findings), (name, exact.findings)


# A table keyed by surface names, or a branch on one, in judging code: `"anthropic": ...`,
# `surface == "gemini"`, `surface in ("openai", "cursor")`.
_SURFACE_TABLE = re.compile(r'"(?:anthropic|openai|cursor|gemini)"\s*:'
                            r'|(?<![.\w])surface\s*(?:==|!=|in)\s*\(?\s*"')


def test_no_surface_table_outside_the_surface_modules() -> None:
    """The judging side knows a surface in its module only; the mock (gateway/) keeps its own
    on purpose, roster.py the names and base paths; agents/registry.py is keyed by agent (one is
    called ``cursor``); conformance/test_usage_tables.py drives each official SDK, whose calls
    differ by surface (that is the SDKs' knowledge, not ours)."""
    allowed = {PACKAGE / "roster.py", PACKAGE / "agents" / "registry.py",
               ROOT / "conformance" / "test_usage_tables.py"}
    own = [PACKAGE / "gateway", PACKAGE / "surfaces"]
    files = [path for path in [*PACKAGE.rglob("*.py"), *(ROOT / "conformance").glob("*.py")]
             if path not in allowed and not any(folder in path.parents for folder in own)]
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in files
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if _SURFACE_TABLE.search(line)]
    assert not found, "\n".join(found)

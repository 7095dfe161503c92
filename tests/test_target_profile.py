"""Target profiles (``--target FILE.toml``): the file is read strictly, the command line wins
over it, and every surface's auth scheme and extra headers reach the wire.

The wire is a real server on 127.0.0.1 that echoes what it received; the precedence is seen
from inside a nested pytest run through the ``target`` and ``gwc_gateway_urls`` fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway_conformance.expectations import load_expected
from gateway_conformance.remote import RemoteClient
from gateway_conformance.server import ServerHandle
from gateway_conformance.target import DEFAULT_BASE_PATHS, DOCUMENTED_MODELS
from gateway_conformance.target_file import TargetFileError, load_target_file

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "targets"

FULL = '''
name = "litellm"
version = "1.89.7"
url = "http://127.0.0.1:4000/"
token_env = "LITELLM_KEY"
timeout = 30
expected_failures = "litellm.expected.toml"

[version_from]
path = "/health/readiness"
json = "litellm_version"

[surfaces.anthropic]
base_path = "/anthropic"
auth = "x-api-key"
headers = { "x-team" = "platform" }

[surfaces.openai]
base_path = "/v1"

[surfaces.gemini]
base_path = "/gemini-x"
auth = "query-key"

[models]
claude-code = "claude-sonnet"

[otlp]
url = "http://127.0.0.1:4318"
token_env = "OTLP_TOKEN"
table_prefix = "agents"

[claims]
agents = ["claude-code", "codex"]

[upstream]
url = "http://127.0.0.1:8000"
admin_token_env = "GWC_ADMIN"
'''


def write(tmp_path: Path, text: str, name: str = "target.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_full_profile_is_read_into_the_target(tmp_path: Path) -> None:
    target = load_target_file(write(tmp_path, FULL))
    assert (target.name, target.version, target.label()) == ("litellm", "1.89.7", "litellm 1.89.7")
    assert target.gateway_url == "http://127.0.0.1:4000"
    assert target.surface_url("anthropic") == "http://127.0.0.1:4000/anthropic"
    assert target.surface_url("openai") == "http://127.0.0.1:4000/v1"
    assert target.surface_url("cursor") == "http://127.0.0.1:4000" + DEFAULT_BASE_PATHS["cursor"]
    assert target.surface("anthropic").auth == "x-api-key"
    assert dict(target.surface("anthropic").headers) == {"x-team": "platform"}
    assert target.surface("gemini").auth == "query-key" and target.surface("openai").auth == "bearer"
    assert target.model("claude-code") == "claude-sonnet"
    assert target.model("codex") == DOCUMENTED_MODELS["codex"]
    assert (target.token_env, target.otlp_token_env) == ("LITELLM_KEY", "OTLP_TOKEN")
    assert target.table_prefix == "agents"
    assert target.workspace_url == "http://127.0.0.1:4318"
    assert target.claims.claims_agent("codex") and not target.claims.claims_agent("gemini-cli")
    assert target.expected_failures == (tmp_path / "litellm.expected.toml").resolve()
    assert target.version_from is not None and target.version_from.json == "litellm_version"
    assert target.upstream is not None and target.upstream.admin_token_env == "GWC_ADMIN"
    assert target.timeouts.read == 30


@pytest.mark.parametrize(("text", "says"), [
    ('urll = "http://x"', "urll is not a profile key"),
    ('[surfaces.anthropic]\nbase_pth = "/a"', "surfaces.anthropic.base_pth is not a profile key"),
    ('[surfaces.anthropic]\nauth = "basic"', "surfaces.anthropic.auth must be one of bearer, x-api-key"),
    ('[surfaces.openai]\nbase_path = "v1"', "surfaces.openai.base_path must start with /"),
    ('token_env = "sk-1234567890abcdef"', "token_env must name an environment variable"),
    ('[models]\nclaude = "m"', "models.claude is not a profile key"),
    ('[claims]\nagents = ["claude"]', "claims.agents names 'claude'"),
    ('url = "gw.example:443"', "url must be an http:// or https:// URL"),
    ('[version_from]\npath = "/v"', "version_from needs exactly one of header"),
    ('name = [', "not TOML"),
])
def test_a_wrong_profile_stops_with_the_file_and_key(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TargetFileError) as caught:
        load_target_file(path)
    assert says in str(caught.value) and str(path) in str(caught.value)


def test_the_shipped_examples_load() -> None:
    """Every shipped profile (a TOML file with a gateway ``url``) and its expected failures."""
    profiles = [f for f in sorted(EXAMPLES.rglob("*.toml")) if "url" in tomllib.loads(f.read_text())]
    assert {"embedded.toml", "litellm.toml"} <= {f.name for f in profiles}
    for path in profiles:
        target = load_target_file(path)
        assert target.name and target.gateway_url, path
        if target.expected_failures:
            assert load_expected(target.expected_failures), target.expected_failures


def test_the_command_line_overrides_the_profile(pytester: pytest.Pytester, tmp_path: Path) -> None:
    profile = write(tmp_path, FULL)
    pytester.makepyfile(test_show='''
import json
def test_show(gwc_target, gwc_gateway_urls, request):
    print("TARGET", json.dumps({"url": gwc_target.gateway_url, "token_env": gwc_target.token_env,
        "models": dict(gwc_target.models), "workspace": gwc_target.workspace_url,
        "prefix": gwc_target.table_prefix,
        "anthropic": gwc_gateway_urls["anthropic"], "timeout": gwc_target.timeouts.read,
        "option_url": request.config.getoption("gateway_url"),
        "option_token_env": request.config.getoption("token_env")}))
''')
    result = pytester.runpytest_subprocess(
        "-q", "-s", "-p", "no:cacheprovider", "--target", str(profile),
        "--gateway-url", "http://127.0.0.1:9999", "--token-env", "OTHER_VAR", "--model", "codex=my-gpt",
        "--table-prefix", "p2", "--remote-timeout", "5")
    line = next(x for x in result.outlines if x.startswith("TARGET "))
    seen = json.loads(line.removeprefix("TARGET "))
    assert seen == {"url": "http://127.0.0.1:9999", "token_env": "OTHER_VAR",
                    "models": {**DOCUMENTED_MODELS, "claude-code": "claude-sonnet", "codex": "my-gpt"},
                    "workspace": "http://127.0.0.1:4318", "prefix": "p2",
                    "anthropic": "http://127.0.0.1:9999/anthropic", "timeout": 5.0,
                    "option_url": "http://127.0.0.1:9999", "option_token_env": "OTHER_VAR"}


def test_a_bad_profile_is_one_line_before_the_run(pytester: pytest.Pytester, tmp_path: Path) -> None:
    profile = write(tmp_path, '[surfaces.anthropic]\nauth = "basic"\n')
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError('ran')\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--target", str(profile))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --target {profile}: surfaces.anthropic.auth must be one of *"])
    assert "Traceback" not in result.stderr.str() and "ran" not in result.stdout.str()


# ---- the wire: auth schemes and extra headers ------------------------------------------------

@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    async def show(request: Request) -> JSONResponse:
        return JSONResponse({"headers": dict(request.headers), "query": dict(request.query_params),
                             "path": request.url.path})

    async def version(request: Request) -> JSONResponse:
        return JSONResponse({"build": {"version": "9.9.9"}}, headers={"x-gateway-version": "9.9.10"})
    app = Starlette(routes=[Route("/health", version), Route("/{rest:path}", show, methods=["GET", "POST"])])
    with ServerHandle(app, name="echo") as server:
        yield server.url


@pytest.mark.parametrize(("auth", "header", "query"), [
    ("bearer", ("authorization", "Bearer tok-123456"), {}),
    ("x-api-key", ("x-api-key", "tok-123456"), {}),
    ("x-goog-api-key", ("x-goog-api-key", "tok-123456"), {}),
    ("query-key", None, {"key": "tok-123456", "alt": "sse"}),
])
def test_each_auth_scheme_and_the_extra_headers_reach_the_wire(echo: str, auth: str,
                                                                header: tuple[str, str] | None,
                                                                query: dict[str, str]) -> None:
    with RemoteClient(echo + "/base", "tok-123456", auth=auth,
                      headers={"x-team": "platform"}) as client:  # type: ignore[arg-type]
        seen = client.request("POST", "/v1/models/m:streamGenerateContent?alt=sse", json={}).json
    credentials = {name for name in ("authorization", "x-api-key", "x-goog-api-key")
                   if name in seen["headers"]}
    assert credentials == ({header[0]} if header else set())
    if header:
        assert seen["headers"][header[0]] == header[1]
    assert seen["query"] == (query or {"alt": "sse"})
    assert seen["headers"]["x-team"] == "platform"
    assert seen["path"] == "/base/v1/models/m:streamGenerateContent"


@pytest.mark.parametrize(("probe", "version"), [('json = "build.version"', "9.9.9"),
                                                ('header = "x-gateway-version"', "9.9.10")])
def test_the_version_is_read_from_the_gateway_into_the_report(echo: str, tmp_path: Path, probe: str,
                                                              version: str) -> None:
    profile = write(tmp_path, f'name = "echo-gw"\nversion = "0.0-fallback"\nurl = "{echo}"\n'
                              f'token_env = "GWC_ECHO_TOKEN"\n[version_from]\npath = "/health"\n{probe}\n')
    report = tmp_path / "r.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--conformance",
               "conformance/test_target_surfaces.py", "-k", "json_grammar", "--target", str(profile),
               "--conformance-report", str(report)]
    subprocess.run(command, cwd=ROOT, env={**os.environ, "GWC_ECHO_TOKEN": "tok-123456"}, capture_output=True,
                   text=True, timeout=300)
    implementation = json.loads(report.read_text())["implementation"]
    assert (implementation["name"], implementation["version"]) == ("echo-gw", version)


def test_a_surface_at_the_root_has_no_trailing_slash() -> None:
    """LiteLLM serves Anthropic at its root (base_path "/"); callers append "/v1/messages", and
    "host//v1/messages" is a 404 at most gateways."""
    from gateway_conformance.target import SurfaceProfile, Target

    target = Target(gateway_url="http://127.0.0.1:18400/", surfaces={"anthropic": SurfaceProfile("/")})
    assert target.surface_url("anthropic") == "http://127.0.0.1:18400"

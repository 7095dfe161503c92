"""ini options for the target options, with the written precedence (issue 16):
command line > target file > ini (``gwc_*``) > default.

One fresh pytest process per layer added: each key is set by the layer under test and by
every layer below it, so the test fails if any layer is read in the wrong order.
"""

from __future__ import annotations

import json

import pytest

from gateway_conformance.target import DOCUMENTED_MODELS, INI_OPTIONS

pytest_plugins = ["pytester"]

SHOW = '''
import json
def test_show(gwc_target, request):
    print("TARGET", json.dumps({"url": gwc_target.gateway_url, "token_env": gwc_target.token_env,
        "models": dict(gwc_target.models), "prefix": gwc_target.table_prefix,
        "timeout": gwc_target.timeouts.read,
        "option_url": request.config.getoption("gateway_url")}))
'''
INI = """[pytest]
gwc_gateway_url = http://127.0.0.1:9001
gwc_token_env = INI_TOKEN
gwc_table_prefix = ini_prefix
gwc_remote_timeout = 7
gwc_model =
    claude-code=ini-claude
    codex=ini-codex
"""
PROFILE = """url = "http://127.0.0.1:9002"
token_env = "FILE_TOKEN"
[models]
codex = "file-codex"
"""


def _seen(pytester: pytest.Pytester, *args: str) -> dict:
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_subprocess("-q", "-s", "-p", "no:cacheprovider", *args)
    line = next((x for x in result.outlines if x.startswith("TARGET ")), None)
    assert line, result.stdout.str() + result.stderr.str()
    return json.loads(line.removeprefix("TARGET "))


def test_ini_is_over_the_defaults(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI)
    assert _seen(pytester) == {
        "url": "http://127.0.0.1:9001", "token_env": "INI_TOKEN", "prefix": "ini_prefix", "timeout": 7.0,
        "models": {**DOCUMENTED_MODELS, "claude-code": "ini-claude", "codex": "ini-codex"},
        "option_url": "http://127.0.0.1:9001"}


def test_the_target_file_is_over_the_ini_where_it_sets_a_key(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI + "gwc_target = gateway.toml\n")  # relative to the ini file
    (pytester.path / "gateway.toml").write_text(PROFILE)
    assert _seen(pytester) == {
        "url": "http://127.0.0.1:9002", "token_env": "FILE_TOKEN", "prefix": "ini_prefix", "timeout": 7.0,
        "models": {**DOCUMENTED_MODELS, "claude-code": "ini-claude", "codex": "file-codex"},
        "option_url": "http://127.0.0.1:9002"}


def test_the_command_line_is_over_both(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI + "gwc_target = missing.toml\n")
    profile = pytester.path / "cli.toml"
    profile.write_text(PROFILE)  # --target wins over gwc_target: the missing file is never read
    assert _seen(pytester, "--target", str(profile), "--gateway-url", "http://127.0.0.1:9003",
                 "--token-env", "CLI_TOKEN", "--model", "codex=cli-codex", "--remote-timeout", "5") == {
        "url": "http://127.0.0.1:9003", "token_env": "CLI_TOKEN", "prefix": "ini_prefix", "timeout": 5.0,
        "models": {**DOCUMENTED_MODELS, "claude-code": "ini-claude", "codex": "cli-codex"},
        "option_url": "http://127.0.0.1:9003"}


def test_every_ini_key_is_in_help_and_names_an_option(pytester: pytest.Pytester) -> None:
    out = pytester.runpytest_subprocess("--help").stdout.str()
    for name, (option, _) in INI_OPTIONS.items():
        assert name in out and f"--{option.replace('_', '-')}" in out, name


def test_a_bad_ini_number_is_one_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\ngwc_remote_timeout = soon\n")
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError('ran')\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert result.ret != 0 and "ran" not in result.stdout.str()
    assert "gwc_remote_timeout = 'soon' is not a number" in result.stderr.str(), result.stderr.str()

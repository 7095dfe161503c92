"""The pytest plugin seen from outside: a fresh pytest process in an unrelated folder."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_without_flag_the_suite_is_not_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_local="def test_local():\n    assert True\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "test_anthropic_sdk" not in result.stdout.str()


def test_flag_runs_the_shipped_suite_from_any_folder(pytester: pytest.Pytester) -> None:
    """From an empty folder, ``--conformance`` alone finds the suite and runs it on the embedded mock."""
    pytester.makepyfile(test_local="def test_local():\n    raise AssertionError('not part of the suite')\n")
    result = pytester.runpytest_subprocess("--conformance", "-v", "-p", "no:cacheprovider",
                                           "-k", "test_anthropic_sdk and (models_list or plain_text)")
    result.assert_outcomes(passed=2, deselected=result.parseoutcomes()["deselected"])
    assert result.parseoutcomes()["deselected"] > 50, "the whole suite was collected"
    out = result.stdout.str()
    assert "test_anthropic_sdk.py::test_models_list PASSED" in out
    assert "test_local" not in out


def test_options_are_in_one_group_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    out = result.stdout.str()
    section = out[out.index("gateway-conformance:"):]
    for option in ("--conformance", "--gateway-url", "--token-env", "--table-prefix", "--delta-engine"):
        assert option in section
    assert "gwc_mock_only" in pytester.runpytest_subprocess("--markers").stdout.str()


def test_state_is_reset_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation='''
import httpx
import pytest

BODY = {"model": "databricks-claude-opus-4-6", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]}


def post(urls, token):
    return httpx.post(urls["anthropic"] + "/v1/messages", json=BODY,
                      headers={"authorization": f"Bearer {token.reveal()}"})


@pytest.mark.gwc_allow_leftovers  # leaves state behind on purpose: the next test must not see it
def test_dirty(gwc_gateway_urls, gwc_gateway_token, gwc_gateway_script, gwc_gateway_faults,
               gwc_gateway_policy,
               gwc_gateway_clock, gwc_gateway_ledger):
    gwc_gateway_script.text("scripted leftover")
    gwc_gateway_script.text("another leftover")
    gwc_gateway_faults.inject(status=503)
    gwc_gateway_faults.inject(status=503, surface="gemini")
    gwc_gateway_policy.set_limits(qpm=1)
    gwc_gateway_policy.allow("conformance", ["databricks-gpt-5-2"])
    gwc_gateway_clock.advance(5)
    assert post(gwc_gateway_urls, gwc_gateway_token).status_code == 403  # the faults stay queued
    assert len(gwc_gateway_ledger.records()) == 1


def test_untouched_request_after_dirty(gwc_gateway_urls, gwc_gateway_token):
    """No handle taken: the previous test's teardown must already have cleaned up."""
    response = post(gwc_gateway_urls, gwc_gateway_token)
    assert response.status_code == 200
    assert response.json()["content"][0]["text"].startswith("Echo: ")


def test_clean(gwc_gateway_urls, gwc_gateway_token, gwc_gateway_script, gwc_gateway_faults,
               gwc_gateway_ledger,
               gwc_gateway_policy):
    assert gwc_gateway_script.pending() == 0 and gwc_gateway_faults.pending() == []
    assert gwc_gateway_ledger.records() == []
    assert gwc_gateway_policy.limits.qpm is None
    assert [post(gwc_gateway_urls, gwc_gateway_token).status_code for _ in range(3)] == [200, 200, 200]
''')
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_external_target_skips_mock_only_checks(pytester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_external='''
import pytest


@pytest.mark.gwc_mock_only
def test_internal():
    raise AssertionError("must not run against an external gateway")


def test_needs_mock(gwc_gateway):
    raise AssertionError("the gateway fixture must skip")


def test_urls_point_at_the_target(gwc_gateway_urls, gwc_gateway_token):
    assert gwc_gateway_urls["anthropic"] == "http://127.0.0.1:9/anthropic"
    assert gwc_gateway_urls["openai"] == "http://127.0.0.1:9/openai/v1"
    assert gwc_gateway_token.reveal() == "gwc-external"
    assert repr(gwc_gateway_token) == str(gwc_gateway_token) == "Secret('***')"
''')
    monkeypatch.setenv("MY_GATEWAY_TOKEN", "gwc-external")
    result = pytester.runpytest_subprocess("-q", "-rs", "-p", "no:cacheprovider", "--gateway-url",
                                           "http://127.0.0.1:9", "--token-env", "MY_GATEWAY_TOKEN")
    result.assert_outcomes(passed=1, skipped=2)
    assert "gwc_mock_only" in result.stdout.str()

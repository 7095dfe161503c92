"""A scripted turn or a fault that never fired fails its test, naming each one (issue 16).

A test that queues a reply or a fault and then sends no matching request proves nothing
about it, and before this change it passed silently (the fixtures reset the mock). Like
pytest-httpx's unused responses, leftovers now fail the test in teardown, listed; a test
that leaves them on purpose says so with ``@pytest.mark.gwc_allow_leftovers``.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = '''
import httpx
import pytest

BODY = {"model": "databricks-claude-opus-4-6", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]}


def post(urls, token):
    return httpx.post(urls["anthropic"] + "/v1/messages", json=BODY,
                      headers={"authorization": f"Bearer {token.reveal()}"})


def test_unused(gwc_gateway_script, gwc_gateway_faults):
    gwc_gateway_script.text("never asked for")
    gwc_gateway_script.error(503, surface="gemini")
    gwc_gateway_faults.inject(status=429, surface="openai", retry_after=3)
    gwc_gateway_faults.inject(cut_after_events=2, marker="mk-1")


def test_used(gwc_gateway_urls, gwc_gateway_token, gwc_gateway_script, gwc_gateway_faults):
    gwc_gateway_faults.inject(status=503)
    gwc_gateway_script.text("asked for")
    assert post(gwc_gateway_urls, gwc_gateway_token).status_code == 503
    assert post(gwc_gateway_urls, gwc_gateway_token).json()["content"][0]["text"] == "asked for"


@pytest.mark.gwc_allow_leftovers
def test_opted_out(gwc_gateway_script):
    gwc_gateway_script.text("left on purpose")


def test_failed_anyway(gwc_gateway_script):
    gwc_gateway_script.text("the test stopped before using it")
    raise AssertionError("its own failure")


def test_skipped_after_queueing(gwc_gateway_script):
    gwc_gateway_script.text("queued before the environment turned out to lack a thing")
    pytest.skip("no agent CLI here")
'''


def test_leftovers_fail_the_test_and_list_each_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leftovers=INNER)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-rE")
    result.assert_outcomes(passed=3, failed=1, errors=1, skipped=1)
    out = result.stdout.str()
    assert "ERROR at teardown of test_unused" in out
    for listed in ("2 scripted turns", "text 'never asked for'", "error 503 on gemini",
                   "2 faults", "status 429 on openai", "cut after 2 events for marker mk-1",
                   "@pytest.mark.gwc_allow_leftovers"):
        assert listed in out, f"{listed!r} missing from:\n{out}"
    assert "test_used" not in out.split("short test summary")[-1]
    assert "test_failed_anyway" in out and "its own failure" in out
    assert "ERROR at teardown of test_failed_anyway" not in out, "a failed test reports its own failure only"


def test_the_opt_out_marker_is_registered(pytester: pytest.Pytester) -> None:
    assert "gwc_allow_leftovers" in pytester.runpytest_subprocess("--markers").stdout.str()

"""The plugin is a good citizen in a host project's namespace (issue 16): every fixture and
marker it adds carries the ``gwc_`` prefix, so it cannot shadow or clash with the project's own.

Measured from outside: ``pytest --fixtures`` / ``--markers`` in an unrelated folder with the
plugin installed, and every name the output attributes to the plugin's modules.
"""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

PREFIX = "gwc_"


def test_fixtures_shows_only_prefixed_fixtures_from_the_plugin(pytester: pytest.Pytester) -> None:
    out = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider").stdout.str()
    ours = re.findall(r"^(\w+)(?: \[\w+ scope\])? -- .*gateway_conformance[/\\]", out, flags=re.M)
    assert len(ours) >= 20, out  # the plugin's fixtures were listed at all
    assert [name for name in ours if not name.startswith(PREFIX)] == [], out
    assert "gwc_gateway_urls" in ours and "gwc_target" in ours


def test_markers_are_prefixed(pytester: pytest.Pytester) -> None:
    from gateway_conformance import plugin
    from gateway_conformance.checks import binding

    names = [*plugin.MARKERS, *binding.MARKERS]
    assert [name for name in names if not name.startswith(PREFIX)] == []
    out = pytester.runpytest_subprocess("--markers").stdout.str()
    for name in names:
        assert f"@pytest.mark.{name}" in out, name


def test_a_host_fixture_named_like_an_old_one_is_not_shadowed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef target():\n    return 'the host project'\n")
    pytester.makepyfile(test_host="def test_host(target, gwc_target):\n"
                                  "    assert target == 'the host project'\n"
                                  "    assert not gwc_target.gateway_url  # the plugin's (the mock)\n")
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)

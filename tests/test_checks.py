"""The check catalogue and how tests bind to it.

The registry is read from the shipped TOML files; the binding rules are exercised the way a
suite author meets them, in inner pytest runs (pytester) whose collection must fail with a
sentence naming the test and the fix.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gateway_conformance.checks import SURFACES, CatalogueError, catalogue, load
from gateway_conformance.checks.registry import DATA_DIR
from gateway_conformance.resources import suite_dir

pytest_plugins = ["pytester"]

BOUND = re.compile(r'pytest\.mark\.check\("([^"]+)"')


def test_the_catalogue_holds_at_least_sixty_sourced_requirements() -> None:
    checks = catalogue().checks
    assert len(checks) >= 60
    for check in checks:
        assert check.url.startswith("https://") and check.quote and check.source.title
        assert check.requirement.endswith(".") and check.level in ("MUST", "SHOULD", "MAY")
        assert set(check.surfaces) <= set(SURFACES) and check.runs in ("any", "upstream", "embedded")
        assert check.agents or check.surfaces == ("otlp",), check.id
    assert len({c.requirement.lower() for c in checks}) == len(checks)


def test_every_catalogue_id_is_bound_by_exactly_one_suite_test() -> None:
    bound: dict[str, list[str]] = {}
    for module in sorted(suite_dir().glob("test_*.py")):
        for check_id in BOUND.findall(module.read_text(encoding="utf-8")):
            bound.setdefault(check_id, []).append(module.name)
    ids = {check.id for check in catalogue().checks}
    assert set(bound) == ids, {"unbound": sorted(ids - set(bound)), "unknown": sorted(set(bound) - ids)}
    assert all(len(modules) == 1 for modules in bound.values()), bound


def test_every_profile_has_core_checks() -> None:
    cat = catalogue()
    names = [p.name for p in cat.profiles]
    assert names[:6] == ["claude-code", "codex", "gemini-cli", "cursor", "otlp-sink", "databricks"]
    for name in names:
        assert cat.in_profile(name, "core"), name
    assert all(c.tier == ("core" if c.level == "MUST" else "extended") for c in cat.checks)
    assert {c.id for c in cat.select(agent="claude_code")} == {c.id for c in cat.in_profile("claude-code")}


def _copy_registry(tmp_path: Path) -> Path:
    target = tmp_path / "checks"
    shutil.copytree(DATA_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('id = "gateway.errors.malformed-json"', 'id = "gateway.errors.unknown-model"'),
     "duplicate ID"),
    (lambda t: t.replace("A body that is not JSON at all is answered 400 in the surface's error envelope.",
                         "A request for a model the gateway does not serve is answered 404 (or 400) in the "
                         "surface's error envelope, and the message names the model."),
     "the same requirement is already gateway.errors.unknown-model"),
    (lambda t: t.replace('source = "anthropic-errors"', 'source = "somewhere"', 1), "is not in sources.toml"),
    (lambda t: t.replace('level = "MUST"', 'level = "MUST NOT"', 1), "level 'MUST NOT' is not one of"),
    (lambda t: t.replace('runs = "upstream"', 'runs = "sometimes"', 1), "runs 'sometimes' is not one of"),
    (lambda t: t.replace('profiles = ["databricks"]', 'profiles = ["codex"]', 1), "is not a tag profile"),
    (lambda t: t.replace('id = "gateway.errors.malformed-json"', 'id = "Gateway_errors"'),
     "surface.area.name"),
])
def test_the_loader_refuses_what_it_cannot_vouch_for(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    registry = _copy_registry(tmp_path)
    gateway = registry / "gateway.toml"
    gateway.write_text(edit(gateway.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CatalogueError, match=re.escape(message)) as info:
        load(registry)
    assert str(info.value).startswith("gateway.toml ")


def test_a_new_agent_folder_is_a_profile_and_gets_its_surface_checks() -> None:
    agents = {"claude-code": "anthropic", "codex": "openai", "cursor": "cursor", "gemini-cli": "gemini",
              "acme-coder": "anthropic"}
    cat = load(agents=agents)
    assert cat.profile("acme-coder").agent == "acme-coder"
    mine = {c.id for c in cat.select(agent="acme-coder")}
    assert "anthropic.headers.beta-forwarded" in mine and "gateway.errors.unknown-model" in mine
    assert "agents.cli.answers" not in mine  # a check naming its agents stays theirs


# ----- binding, in inner runs --------------------------------------------------------------------

def _collect(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_bound=source)
    return pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", *args)


def test_a_test_without_an_id_beside_bound_tests_fails_collection(pytester: pytest.Pytester) -> None:
    result = _collect(pytester, '''
import pytest

@pytest.mark.check("anthropic.sdk.message")
def test_bound():
    pass

def test_forgotten():
    pass

@pytest.mark.self_check
def test_of_the_suite_itself():
    pass
''')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_bound.py::test_forgotten: binds to no check: add *"])
    assert "test_of_the_suite_itself" not in result.stderr.str()


def test_two_tests_with_one_id_fail_collection(pytester: pytest.Pytester) -> None:
    result = _collect(pytester, '''
import pytest

@pytest.mark.check("anthropic.sdk.message")
def test_one():
    pass

@pytest.mark.check("anthropic.sdk.message")
@pytest.mark.parametrize("n", [1, 2])
def test_two(n):
    pass
''')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*anthropic.sdk.message is bound by 2 tests (test_bound.py::test_one, "
                                 "test_bound.py::test_two): one requirement, one test*"])


@pytest.mark.parametrize(("source", "message"), [
    ('@pytest.mark.check("gateway.no.such-check")\ndef test_x():\n    pass\n',
     "*'gateway.no.such-check' is not in the check catalogue*"),
    ('@pytest.mark.check("gateway.errors.unknown-model")\ndef test_x():\n    pass\n',
     "*gateway.errors.unknown-model is about anthropic, openai, cursor, gemini: parametrize by `surface`*"),
    ('@pytest.mark.check("anthropic.sdk.message")\n@pytest.mark.self_check\ndef test_x():\n    pass\n',
     "*a self_check is not a check; drop its check ID*"),
    ('@pytest.mark.check("anthropic.sdk.message")\n@pytest.mark.mock_only\ndef test_x():\n    pass\n',
     '*marked mock_only, but anthropic.sdk.message says runs = "any"*'),
    ('@pytest.mark.check("gateway.count-tokens.grows-with-text")\n'
     '@pytest.mark.parametrize("agent", ["cursor"])\ndef test_x(agent):\n    pass\n',
     "*filed under cursor, but gateway.count-tokens.grows-with-text is for claude-code, gemini-cli*"),
])
def test_binding_mistakes_are_one_sentence_each(pytester: pytest.Pytester, source: str, message: str) -> None:
    result = _collect(pytester, "import pytest\n\n" + source)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_k_selects_one_agent_in_either_spelling(pytester: pytest.Pytester) -> None:
    source = '''
import pytest

@pytest.fixture(params=["anthropic", "openai", "cursor", "gemini"])
def surface(request):
    return request.param

@pytest.mark.check("gateway.errors.malformed-json")
def test_per_surface(surface):
    pass

@pytest.mark.check("anthropic.sdk.message")
def test_claude_only():
    pass

@pytest.mark.check("gemini.sdk.generate")
def test_gemini_only():
    pass
'''
    for spelling in ("claude-code", "claude_code"):
        result = _collect(pytester, source, "-k", spelling)
        result.stdout.fnmatch_lines(["*test_per_surface[[]anthropic[]]", "*test_claude_only",
                                     "*2/6 tests collected (4 deselected)*"])
    result = _collect(pytester, source, "-k", "anthropic.sdk.message")
    result.stdout.fnmatch_lines(["*1/6 tests collected (5 deselected)*"])


def test_embedded_checks_get_the_mock_only_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bound='''
import pytest

@pytest.mark.check("gateway.limits.tpm")
@pytest.mark.parametrize("surface", ["gemini"])
def test_limits(surface):
    pass
''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-m", "not mock_only")
    result.stdout.fnmatch_lines(["*1 deselected*"])

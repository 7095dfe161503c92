"""The check catalogue and how tests bind to it.

The registry is read from the shipped TOML files; the binding rules are exercised the way a
suite author meets them, in inner pytest runs (pytester) whose collection must fail with a
sentence naming the test and the fix.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway_conformance.checks import (
    SURFACES,
    CatalogueError,
    ProfileVerdict,
    catalogue,
    load,
    profile_verdicts,
)
from gateway_conformance.checks.registry import DATA_DIR
from gateway_conformance.checks.render import markdown
from gateway_conformance.report.matrix import check_matrix
from gateway_conformance.report.results import load_report
from gateway_conformance.resources import suite_dir
from gateway_conformance.roster import agent_surfaces

pytest_plugins = ["pytester"]

BOUND = re.compile(r'pytest\.mark\.gwc_check\("([^"]+)"')


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
def test_the_loader_refuses_what_it_cannot_vouch_for(tmp_path: Path, edit,
                                                     message: str) -> None:  # type: ignore[no-untyped-def]
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

@pytest.mark.gwc_check("anthropic.sdk.message")
def test_bound():
    pass

def test_forgotten():
    pass

@pytest.mark.gwc_self_check
def test_of_the_suite_itself():
    pass
''')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_bound.py::test_forgotten: binds to no check: add *"])
    assert "test_of_the_suite_itself" not in result.stderr.str()


def test_two_tests_with_one_id_fail_collection(pytester: pytest.Pytester) -> None:
    result = _collect(pytester, '''
import pytest

@pytest.mark.gwc_check("anthropic.sdk.message")
def test_one():
    pass

@pytest.mark.gwc_check("anthropic.sdk.message")
@pytest.mark.parametrize("n", [1, 2])
def test_two(n):
    pass
''')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*anthropic.sdk.message is bound by 2 tests (test_bound.py::test_one, "
                                 "test_bound.py::test_two): one requirement, one test*"])


@pytest.mark.parametrize(("source", "message"), [
    ('@pytest.mark.gwc_check("gateway.no.such-check")\ndef test_x():\n    pass\n',
     "*'gateway.no.such-check' is not in the check catalogue*"),
    ('@pytest.mark.gwc_check("gateway.errors.unknown-model")\ndef test_x():\n    pass\n',
     "*gateway.errors.unknown-model is about anthropic, openai, cursor, gemini: parametrize by `surface`*"),
    ('@pytest.mark.gwc_check("anthropic.sdk.message")\n@pytest.mark.gwc_self_check\n'
     'def test_x():\n    pass\n',
     "*a gwc_self_check is not a check; drop its check ID*"),
    ('@pytest.mark.gwc_check("anthropic.sdk.message")\n@pytest.mark.gwc_mock_only\ndef test_x():\n    pass\n',
     '*marked gwc_mock_only, but anthropic.sdk.message says runs = "any"*'),
    ('@pytest.mark.gwc_check("gateway.count-tokens.grows-with-text")\n'
     '@pytest.mark.parametrize("agent", ["cursor"])\ndef test_x(agent):\n    pass\n',
     "*filed under cursor, but gateway.count-tokens.grows-with-text is for claude-code, gemini-cli*"),
])
def test_binding_mistakes_are_one_sentence_each(pytester: pytest.Pytester, source: str, message: str) -> None:
    result = _collect(pytester, "import pytest\n\n" + source)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


#: Inner suites for -k and -m: a check run once per surface (four tests), and checks of one agent.
PER_SURFACE = '''
import pytest

@pytest.fixture(params=["anthropic", "openai", "cursor", "gemini"])
def surface(request):
    return request.param

@pytest.mark.gwc_check("gateway.errors.malformed-json")
def test_per_surface(surface):
    pass
'''
CLAUDE_ONLY = '''
@pytest.mark.gwc_check("anthropic.sdk.message")
def test_claude_only():
    pass
'''
GEMINI_ONLY = '''
@pytest.mark.gwc_check("gemini.sdk.generate")
def test_gemini_only():
    pass
'''


def test_k_selects_one_agent_in_either_spelling(pytester: pytest.Pytester) -> None:
    source = PER_SURFACE + CLAUDE_ONLY + GEMINI_ONLY
    for spelling in ("claude-code", "claude_code"):
        result = _collect(pytester, source, "-k", spelling)
        result.stdout.fnmatch_lines(["*test_per_surface[[]anthropic[]]", "*test_claude_only",
                                     "*2/6 tests collected (4 deselected)*"])
    result = _collect(pytester, source, "-k", "anthropic.sdk.message")
    result.stdout.fnmatch_lines(["*1/6 tests collected (5 deselected)*"])


def test_embedded_checks_get_the_mock_only_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bound='''
import pytest

@pytest.mark.gwc_check("gateway.limits.tpm")
@pytest.mark.parametrize("surface", ["gemini"])
def test_limits(surface):
    pass
''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-m", "not gwc_mock_only")
    result.stdout.fnmatch_lines(["*1 deselected*"])


def test_a_failing_check_names_its_requirement_and_source(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bound='''
import pytest

@pytest.mark.gwc_check("gemini.errors.invalid-argument")
def test_fails():
    assert False, "POST /v1beta/models/m:generateContent -> 200: b'{}'"
''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "*gateway-conformance requirement*",
        "gemini.errors.invalid-argument (MUST): An invalid generation config (a negative maxOutputTokens) "
        "is answered 400 INVALID_ARGUMENT.",
        "source: https://ai.google.dev/gemini-api/docs/troubleshooting*"])


# ----- profiles and verdicts -------------------------------------------------------------------

@dataclass
class _R:
    check: str
    agent: str
    outcome: str


def _verdict(results: list[_R], name: str, claimed: set[str] | None = None) -> ProfileVerdict:
    return next(v for v in profile_verdicts(results, claimed) if v.profile == name)


def test_verdicts_follow_the_documented_rules() -> None:
    cat = catalogue()
    core = [c.id for c in cat.in_profile("cursor", "core")]
    extended = [c.id for c in cat.in_profile("cursor", "extended")]
    every = [_R(c, "cursor", "pass") for c in core + extended]
    assert _verdict(every, "cursor").verdict == "conformant"
    assert _verdict(every, "cursor").counts["core"]["passed"] == len(core)
    one_core_failed = [_R(core[0], "cursor", "fail"), *every[1:]]
    judged = _verdict(one_core_failed, "cursor")
    assert (judged.verdict, judged.failed) == ("not conformant", (core[0],))
    extended_failed = [*every[:-1], _R(extended[-1], "cursor", "fail")]
    assert _verdict(extended_failed, "cursor").verdict == "partial"
    expected_failure = [_R(core[0], "cursor", "xfail"), *every[1:]]
    assert _verdict(expected_failure, "cursor").verdict == "partial"
    not_run = every[1:]
    assert _verdict(not_run, "cursor").counts["core"]["not_run"] == 1
    assert _verdict(not_run, "cursor").verdict == "partial"
    skipped = [_R(r.check, r.agent, "skip") for r in every]
    assert _verdict(skipped, "cursor").verdict == "not measured"
    other_agent = [_R(r.check, "codex", "fail") for r in every]  # another agent's failures are not cursor's
    assert _verdict(every + other_agent, "cursor").verdict == "conformant"
    assert _verdict(every, "cursor", claimed={"codex"}).verdict == "not claimed"
    assert _verdict(every, "cursor").summary().startswith(f"cursor: conformant (core {len(core)}/{len(core)}")


def test_the_report_carries_a_verdict_per_profile(tmp_path: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bound='''
import pytest

@pytest.mark.gwc_check("cursor.sdk.completion")
def test_completion():
    pass

@pytest.mark.gwc_check("otlp.http.gzip")
def test_gzip():
    assert False
''')
    out = tmp_path / "r.json"
    pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "--conformance-report", str(out))
    verdicts = {v.profile: v for v in load_report(out).verdicts()}
    assert list(verdicts) == [p.name for p in catalogue().profiles]
    assert verdicts["cursor"].verdict == "partial" and verdicts["cursor"].counts["core"]["passed"] == 1
    assert verdicts["otlp-sink"].verdict == "not conformant"
    assert verdicts["otlp-sink"].failed == ("otlp.http.gzip",)


# ----- the checks command and docs/checks.md ----------------------------------------------------

def _checks(*argv: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "checks", *argv],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_checks_json_lists_every_check_with_its_fields() -> None:
    status, out, _ = _checks("--format", "json")
    assert status == 0
    listed = json.loads(out)["checks"]
    assert [c["id"] for c in listed] == [c.id for c in catalogue().checks]
    for check in listed:
        assert set(check) >= {"id", "requirement", "level", "source", "agents", "runs", "profiles"}
        assert check["source"]["url"].startswith("https://") and check["source"]["quote"]


def test_checks_filters_by_profile_and_agent_in_either_spelling() -> None:
    status, out, _ = _checks("--agent", "gemini_cli", "--profile", "databricks")
    rows = out.splitlines()[1:-1]
    expected = {c.id for c in catalogue().select(profile="databricks", agent="gemini-cli")}
    assert status == 0 and rows and {row.split()[0] for row in rows} == expected
    for argv, word in ((["--profile", "nope"], "unknown profile"), (["--agent", "nope"], "unknown agent")):
        status, out, err = _checks(*argv)
        assert status == 2 and not out and len(err.strip().splitlines()) == 1 and word in err


def test_docs_checks_md_is_generated_from_the_catalogue() -> None:
    page = Path(__file__).resolve().parents[1] / "docs" / "checks.md"
    assert page.read_text(encoding="utf-8") == markdown(catalogue()), (
        "docs/checks.md is stale: run `gateway-conformance checks --format markdown > docs/checks.md`")


def test_m_selects_one_agent_exactly_in_either_spelling(pytester: pytest.Pytester) -> None:
    source = PER_SURFACE + GEMINI_ONLY
    for spelling in ("gemini-cli", "gemini_cli"):
        result = _collect(pytester, source, "--strict-markers", "-m", spelling)
        result.stdout.fnmatch_lines(["*test_per_surface[[]gemini[]]", "*test_gemini_only",
                                     "*2/5 tests collected (3 deselected)*"])


def test_the_terminal_summary_gives_verdicts_counts_and_grouped_reasons(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bound='''
import pytest

@pytest.mark.gwc_check("cursor.sdk.completion")
def test_pass():
    pass

@pytest.mark.gwc_check("openai.errors.param-named")
@pytest.mark.parametrize("surface", ["openai", "cursor"])
def test_skipped(surface):
    pytest.skip("no upstream: the target profile names none")

@pytest.mark.gwc_check("gateway.errors.body-not-object")
@pytest.mark.parametrize("surface", ["cursor"])
@pytest.mark.xfail(reason="the gateway answers 200 to an array", strict=True)
def test_expected(surface):
    assert False

@pytest.mark.gwc_check("gateway.errors.malformed-json")
@pytest.mark.parametrize("surface", ["cursor"])
def test_fail(surface):
    assert False
''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "*gateway-conformance: profiles and agents*",
        "profiles:",
        "  cursor: not conformant (core 1/*",
        "  otlp-sink: not measured*",
        "agents:",
        "  codex: 1 skipped",
        "      1 skipped: no upstream: the target profile names none",
        "  cursor: 1 passed, 1 failed, 1 expected failures, 1 skipped",
        "      1 expected failure: the gateway answers 200 to an array",
        "      1 skipped: no upstream: the target profile names none",
    ])


def test_a_new_agent_folder_is_its_own_column_with_its_surfaces_checks(pytester: pytest.Pytester) -> None:
    """An agent folder (agent.toml + cassettes) and nothing else: the run files every check of
    its surface under it, beside the documented agent of that surface, and its cassettes."""
    folder = pytester.path / "agents" / "acme_coder"
    (folder / "cassettes").mkdir(parents=True)
    (folder / "agent.toml").write_text('name = "acme_coder"\nsurface = "cursor"\n\n[traits]\n'
                                       'path = "/cursor/v1/chat/completions"\n', encoding="utf-8")
    shipped = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "cursor" / "cassettes"
    for cassette in sorted(shipped.glob("*.json")):
        data = json.loads(cassette.read_text(encoding="utf-8"))
        data["meta"]["agent"] = "acme_coder"
        (folder / "cassettes" / cassette.name).write_text(json.dumps(data), encoding="utf-8")
    out = pytester.path / "r.json"
    result = pytester.runpytest_subprocess("--conformance", "--agents-dir", str(pytester.path / "agents"),
                                           "-m", "(cursor or acme-coder) and not gwc_spark", "-q",
                                           "-p", "no:cacheprovider", "--conformance-report", str(out),
                                           timeout=600)
    assert result.ret == 0, result.stdout.str()[-3000:]
    report = load_report(out)
    assert "acme-coder" in check_matrix(report).columns  # the HTML matrix's columns
    mine = {r.check for r in report.results if r.agent == "acme-coder"}
    cursor = {r.check for r in report.results if r.agent == "cursor"}
    assert mine == cursor, (sorted(cursor - mine), sorted(mine - cursor))  # agent-parametrized ones too
    assert {r.check for r in report.results if r.agent == "acme-coder" and r.identity == "parameter"}
    # ... and that is every check the catalogue files under it, counted from the catalogue.
    roster = {**agent_surfaces(), "acme-coder": "cursor"}
    catalogued = {c.id for c in load(agents=roster).select(agent="acme-coder")}
    assert mine == catalogued and len(mine) >= 15, (sorted(catalogued - mine), sorted(mine - catalogued))
    replays = {r.variant for r in report.results if r.agent == "acme-coder"
               and r.check == "gateway.replay.recorded-sessions"}
    assert replays == {c.stem.replace("_", "-") for c in shipped.glob("*.json")}
    assert any(v.profile == "acme-coder" for v in report.verdicts())
    result.stdout.fnmatch_lines(["*acme-coder: * passed*"])


def test_model_accepts_either_spelling_of_an_agent() -> None:
    from gateway_conformance.target import parse_models

    assert parse_models(["claude_code=m-1", "Gemini-CLI=m-2"])["claude-code"] == "m-1"
    assert parse_models(["gemini_cli=m-2"])["gemini-cli"] == "m-2"
    with pytest.raises(pytest.UsageError, match="unknown agent 'claude'"):
        parse_models(["claude=m"])

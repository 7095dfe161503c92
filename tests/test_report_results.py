"""The results collector, the results document, the matrix and the upgrade diff.

The collector is exercised the way users meet it: a real inner pytest process with
``--conformance-report`` over a test file that covers every outcome and every rule that
files a test under an agent and a check; then the written JSON is read back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gateway_conformance import cli
from gateway_conformance.report.collector import (
    collector_of,
    configure,
    record_implementation,
    register_secret,
)
from gateway_conformance.report.matrix import check_matrix, diff_reports, format_diff, version_matrix
from gateway_conformance.report.results import (
    SCHEMA_FILE,
    SCHEMA_VERSION,
    CheckResult,
    Redactor,
    Report,
    ReportError,
    load_report,
    write_report,
)
from gateway_conformance.secret import safe_url

pytest_plugins = ["pytester"]

SECRET = "gwc-not-a-real-token-0123456789"

SUITE = '''
import pytest

@pytest.mark.gwc_check("anthropic.headers.beta-forwarded", config="documented")
def test_marked(record_property):
    record_property("agent_version", "2.1.197")
    record_property("first_event_ms", 12)
    record_property("implementation.name", "acme-gateway")

@pytest.mark.gwc_check("gateway.stream.grammar")
@pytest.mark.parametrize("agent", ["claude-code", "codex"])
@pytest.mark.parametrize("mode", ["stream", "json"])
def test_by_param(agent, mode):
    assert mode != "json" or agent != "codex", "codex json broke: Bearer {secret}"

@pytest.mark.gwc_check("gateway.replay.recorded-sessions")
@pytest.mark.parametrize("case", ["cursor-chat", "gemini_cli/plain"])
def test_by_id(case):
    pass

@pytest.mark.gwc_check("anthropic.errors.invalid-request")
def test_skipped():
    pytest.skip("needs the embedded mock")

@pytest.mark.gwc_check("gemini.errors.invalid-argument")
@pytest.mark.xfail(reason="known gap in the mock")
def test_xfailed():
    assert False

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

@pytest.mark.gwc_check("cursor.sdk.completion")
def test_setup_error(broken):
    pass

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown exploded")

@pytest.mark.gwc_check("openai.sdk.response")
def test_teardown_error(bad_teardown):
    pass

@pytest.mark.gwc_check("anthropic.sdk.message")
def test_leaks_env_token():
    print("token is {secret}")
    assert False

class Spec:
    def __init__(self, name):
        self.name = name

@pytest.mark.gwc_check("gateway.auth.invalid-token")
@pytest.mark.parametrize("agent", [Spec("Gemini_CLI")], ids=lambda spec: spec.name)
def test_agent_object(agent):
    pass

@pytest.fixture(params=["anthropic", "gemini"])
def surface(request):
    return request.param

@pytest.mark.gwc_check("gateway.errors.malformed-json")
@pytest.mark.parametrize("agent", ["openai-sdk"])
def test_per_surface(surface, agent):
    pass

@pytest.mark.gwc_check("otlp.http.gzip")
@pytest.mark.parametrize("signal", ["metrics", "logs"])
def test_otlp(signal):
    pass

@pytest.mark.gwc_self_check
def test_self():
    pass
'''.replace("{secret}", SECRET)


@pytest.fixture(scope="module")
def inner_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real pytest process over the suite above (plus a module that fails to import)."""
    root = tmp_path_factory.mktemp("inner")
    (root / "test_suite.py").write_text(SUITE, encoding="utf-8")
    (root / "test_unbound.py").write_text("def test_not_a_check():\n    pass\n", encoding="utf-8")
    (root / "test_codex_broken.py").write_text("import not_a_module_anywhere\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers",
         "--continue-on-collection-errors", "--conformance-report", "out/results.json",
         "--conformance-html", "out/matrix.html"],
        cwd=root, env={**os.environ, "GATEWAY_CONFORMANCE_TOKEN": SECRET}, capture_output=True, text=True,
        timeout=120)
    assert "gateway-conformance: wrote out/results.json" in done.stdout, done.stdout + done.stderr
    assert "gateway-conformance: wrote out/matrix.html" in done.stdout
    assert (root / "out" / "matrix.html").read_text(encoding="utf-8").count('id="check-matrix"') == 1
    return root


@pytest.fixture(scope="module")
def run_report(inner_run: Path) -> Report:
    return load_report(inner_run / "out" / "results.json")


def _one(report: Report, needle: str) -> CheckResult:
    found = [r for r in report.results if needle in r.nodeid]
    assert len(found) == 1, [r.nodeid for r in report.results]
    return found[0]


def test_every_outcome_is_filed_with_its_reason(run_report: Report) -> None:
    report = run_report
    assert report.schema_version == SCHEMA_VERSION
    assert _one(report, "test_marked").outcome == "pass"
    skipped = _one(report, "test_skipped")
    assert (skipped.outcome, skipped.reason) == ("skip", "needs the embedded mock")
    xfailed = _one(report, "test_xfailed")
    assert (xfailed.outcome, xfailed.reason) == ("xfail", "known gap in the mock")
    setup = _one(report, "test_setup_error")
    assert setup.outcome == "error" and "fixture exploded" in (setup.reason or "")
    teardown = _one(report, "test_teardown_error")
    assert teardown.outcome == "error" and "teardown exploded" in (teardown.evidence.longrepr or "")
    failed = _one(report, "json-codex]")
    assert failed.outcome == "fail"
    assert "codex json broke" in (failed.reason or "")
    assert "test_suite.py:" in (failed.evidence.summary or "")
    assert report.summary == {"pass": 11, "fail": 2, "error": 2, "skip": 1, "xfail": 1, "xpass": 0}
    assert all(r.duration_s >= 0 for r in report.results)


def test_results_are_keyed_by_check_id_and_agent(run_report: Report) -> None:
    marked = _one(run_report, "test_marked")
    assert (marked.agent, marked.check, marked.identity) == (
        "claude-code", "anthropic.headers.beta-forwarded", "check")
    assert (marked.agent_version, marked.config) == ("2.1.197", "documented")
    assert marked.evidence.facts == {"first_event_ms": "12"}
    by_param = [r for r in run_report.results if "test_by_param" in r.nodeid]
    assert {(r.agent, r.variant, r.identity) for r in by_param} == {
        ("claude-code", "stream", "parameter"), ("claude-code", "json", "parameter"),
        ("codex", "stream", "parameter"), ("codex", "json", "parameter")}
    assert {r.check for r in by_param} == {"gateway.stream.grammar"}
    by_id = {r.variant: r for r in run_report.results if "test_by_id" in r.nodeid}
    assert (by_id["chat"].agent, by_id["chat"].identity) == ("cursor", "id")
    assert (by_id["plain"].agent, by_id["plain"].identity) == ("gemini-cli", "id")
    otlp = [r for r in run_report.results if "test_otlp" in r.nodeid]
    assert {(r.agent, r.variant) for r in otlp} == {("otlp", "metrics"), ("otlp", "logs")}
    assert run_report.implementation.name == "acme-gateway"
    assert run_report.implementation.target == "embedded"


def test_self_checks_and_unbound_tests_are_never_reported(run_report: Report) -> None:
    nodeids = [r.nodeid for r in run_report.results]
    assert not [n for n in nodeids if "test_self" in n or "test_unbound" in n]
    assert all(r.check.count(".") == 2 for r in run_report.results)


def test_the_document_validates_against_the_shipped_schema(inner_run: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (the test extra)")
    document = json.loads((inner_run / "out" / "results.json").read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    assert document["checks"]["gateway.stream.grammar"] == {"claude-code": "pass", "codex": "fail"}
    assert {p["profile"] for p in document["profiles"]} >= {"claude-code", "otlp-sink", "databricks"}
    assert document["agents"] == {"claude-code": {"versions": ["2.1.197"]}}
    broken = {**document, "results": [{**document["results"][0], "check": "suite/by-param"}]}
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(broken, schema)


RENAMED = """
import pytest

@pytest.mark.gwc_check("gateway.errors.malformed-json")
@pytest.mark.parametrize("surface", ["anthropic", "gemini"])
def {name}(surface):
    assert surface != "gemini" or {gemini_ok}

@pytest.mark.gwc_check("anthropic.sdk.message")
def test_message():
    pass
"""


def test_diff_matches_on_check_ids_so_a_renamed_test_changes_nothing(pytester: pytest.Pytester) -> None:
    """A check's function is renamed between two runs of the same gateway: diff sees no change,
    while a real change of outcome under the same ID still shows as a regression."""
    runs = {}
    for label, name, ok in (("before", "test_malformed_body", "True"), ("after", "test_renamed", "True"),
                            ("broken", "test_renamed", "False")):
        pytester.makepyfile(test_bound=RENAMED.format(name=name, gemini_ok=ok))
        out = pytester.path / f"{label}.json"
        pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "--conformance-report", str(out))
        runs[label] = out
    same = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "diff", str(runs["before"]),
                           str(runs["after"])], capture_output=True, text=True, timeout=60)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "unchanged: 3" in same.stdout
    for section in ("regressions", "fixes", "new (", "missing (", "changed ("):
        assert section not in same.stdout, same.stdout
    worse = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "diff", str(runs["after"]),
                            str(runs["broken"])], capture_output=True, text=True, timeout=60)
    assert worse.returncode == 1
    assert "gemini-cli / gateway.errors.malformed-json" in worse.stdout


def test_no_token_reaches_the_document(run_report: Report, inner_run: Path) -> None:
    text = (inner_run / "out" / "results.json").read_text(encoding="utf-8")
    assert SECRET not in text
    leaked = _one(run_report, "test_leaks_env_token")
    assert "[redacted]" in leaked.evidence.captured["Captured stdout call"]
    assert "Bearer [redacted]" in (_one(run_report, "json-codex]").evidence.longrepr or "")


def test_collection_errors_are_run_errors_not_checks(run_report: Report) -> None:
    assert not [r for r in run_report.results if "test_codex_broken" in r.nodeid]
    (error,) = run_report.run["collection_errors"]
    assert error["nodeid"] == "test_codex_broken.py"
    assert error["reason"] == "ModuleNotFoundError: No module named 'not_a_module_anywhere'"


def test_an_agent_object_parameter_is_filed_by_its_name(run_report: Report) -> None:
    result = _one(run_report, "test_agent_object")
    assert (result.agent, result.variant, result.identity) == ("gemini-cli", None, "parameter")


def test_surface_parameter_files_under_the_agent_speaking_it(run_report: Report) -> None:
    # A string `agent` parameter that names no agent is an ordinary parameter.
    found = {(r.agent, r.variant, r.identity) for r in run_report.results if "test_per_surface" in r.nodeid}
    assert found == {("claude-code", "openai-sdk", "surface"), ("gemini-cli", "openai-sdk", "surface")}


def test_plain_run_collects_nothing(pytester: pytest.Pytester) -> None:
    plain = pytester.parseconfig()
    assert configure(plain) is None
    assert collector_of(plain) is None
    asked = pytester.parseconfig("--conformance-report", "r.json")
    collector = configure(asked)
    assert collector is not None and collector_of(asked) is collector


def test_external_target_is_described_without_credentials(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("--conformance-report", "r.json", "--gateway-url",
                                  "https://user:pw@gw.example:8443/base?token=x", "--workspace-url",
                                  "https://ws.example/")
    collector = configure(config)
    assert collector is not None
    record_implementation(config, name="acme-gateway", version="1.4.2", build="abc")
    impl = collector.implementation()
    assert (impl.target, impl.gateway_url, impl.workspace_url) == (
        "external", "https://gw.example:8443/base", "https://ws.example/")
    assert (impl.name, impl.version, impl.extra) == ("acme-gateway", "1.4.2", {"build": "abc"})
    register_secret(config, "fixture-made-token-42")
    assert collector.redact("got fixture-made-token-42") == "got [redacted]"


# ----- the document on its own -----------------------------------------------------------------

def _result(agent: str, check: str, outcome: str, **kw: object) -> dict[str, object]:
    return {"nodeid": f"t.py::{agent}-{check}", "agent": agent, "check": check, "outcome": outcome, **kw}


def _doc(*results: dict[str, object], version: int = SCHEMA_VERSION) -> dict[str, object]:
    return {"schema_version": version, "implementation": {"target": "external",
                                                          "gateway_url": "https://gw.example"},
            "results": list(results)}


def test_document_round_trips(tmp_path: Path) -> None:
    report = Report.from_dict(_doc(_result("codex", "grammar", "pass", agent_version="0.133.0",
                                           config="generated", evidence={"facts": {"k": "v"}})))
    path = write_report(report, tmp_path / "deep" / "r.json")
    again = load_report(path)
    assert again.to_dict() == report.to_dict()
    assert json.loads(path.read_text())["summary"]["pass"] == 1


@pytest.mark.parametrize(("doc", "message"), [
    ([], "document must be a JSON object"),
    ({"results": []}, "schema_version must be an integer"),
    (_doc(version=SCHEMA_VERSION + 1), "upgrade gateway-conformance"),
    ({**_doc(), "results": {}}, "results must be a list"),
    (_doc(_result("codex", "c", "passed")), "results[0].outcome must be one of"),
    (_doc({"nodeid": "x", "agent": "", "check": "c", "outcome": "pass"}), "results[0].agent must be"),
    (_doc(_result("codex", "c", "pass", duration_s="slow")), "results[0].duration_s must be a number"),
    ({**_doc(), "implementation": {"target": "cloud"}}, "implementation.target must be"),
])
def test_bad_documents_are_refused_with_the_field(doc: object, message: str) -> None:
    with pytest.raises(ReportError, match=r"^r\.json: ") as info:
        Report.from_dict(doc, "r.json")
    assert message in str(info.value)


def test_load_report_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReportError, match=r"bad\.json: not JSON"):
        load_report(bad)
    with pytest.raises(ReportError, match="cannot read"):
        load_report(tmp_path / "absent.json")


def test_redactor_and_urls() -> None:
    redact = Redactor(["s3cr3t-value"])
    text = redact("a s3cr3t-value b; Authorization: Bearer abc.def-123; "
                  "x-api-key=k3y-v4lue; api_key: 'zz99zz'")
    assert "s3cr3t-value" not in text and "abc.def-123" not in text and "k3y-v4lue" not in text
    assert "zz99zz" not in text and text.count("[redacted]") == 4
    assert safe_url("https://user:pw@gw.example:8443/x?token=1#f") == "https://gw.example:8443/x"


# ----- matrix and diff -------------------------------------------------------------------------

BEFORE = _doc(
    _result("claude-code", "stream", "pass"), _result("claude-code", "errors", "fail", reason="rewritten"),
    _result("codex", "grammar", "pass"), _result("codex", "gone", "pass"), _result("gateway", "auth", "pass"),
    _result("cursor", "chat", "pass"))
AFTER = _doc(
    _result("claude-code", "stream", "fail", reason="buffered"), _result("claude-code", "errors", "pass"),
    _result("codex", "grammar", "pass"), _result("codex", "fresh", "skip", reason="needs mock"),
    _result("gateway", "auth", "error"), _result("cursor", "chat", "skip", reason="external"))


def test_diff_names_exactly_what_changed() -> None:
    diff = diff_reports(Report.from_dict(BEFORE), Report.from_dict(AFTER))
    keys = {title: [c.key[:2] for c in changes] for title, changes in diff.sections()}
    assert keys == {
        "regressions": [("claude-code", "stream"), ("gateway", "auth")],
        "fixes": [("claude-code", "errors")],
        "new": [("codex", "fresh")],
        "missing": [("codex", "gone")],
        "changed": [("cursor", "chat")],
    }
    assert [c.key[:2] for c in diff.unchanged] == [("codex", "grammar")]
    text = format_diff(diff)
    assert "regressions (2):" in text and "buffered" in text and "unchanged: 1" in text


def test_diff_folds_variants_to_the_worst() -> None:
    old = Report.from_dict(_doc(_result("codex", "g", "pass"), _result("codex", "g", "pass")))
    new = Report.from_dict(_doc(_result("codex", "g", "pass"), _result("codex", "g", "fail")))
    assert [c.key for c in diff_reports(old, new).regressions] == [("codex", "g", "")]


def test_matrices() -> None:
    report = Report.from_dict(_doc(
        _result("codex", "g", "pass", agent_version="0.133.0", config="documented"),
        _result("codex", "g", "skip", agent_version="0.171.0", config="generated"),
        _result("codex", "h", "fail", agent_version="0.171.0", config="documented"),
        _result("claude-code", "g", "xfail")))
    checks = check_matrix(report)
    assert (checks.rows, checks.columns) == (["g", "h"], ["claude-code", "codex"])
    assert checks.cells[("g", "codex")].outcome == "pass"  # a skip only shows when nothing ran
    assert ("h", "claude-code") not in checks.cells
    versions = version_matrix(report)
    assert versions.rows == ["codex 0.133.0", "codex 0.171.0"]
    assert versions.columns == ["documented", "generated"]
    assert versions.cells[("codex 0.171.0", "documented")].outcome == "fail"


# ----- the report command without a browser ------------------------------------------------------

def _report(argv: list[str]) -> int:
    """`gateway-conformance report ARGV`, through the command line's one error boundary."""
    return cli.main(["report", *argv])


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "td" and "data-row" in a:
            self.cells[(a["data-row"] or "", a["data-column"] or "")] = a["data-outcome"] or ""


def test_report_command_writes_matrix_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(BEFORE))
    new.write_text(json.dumps(AFTER))
    out = tmp_path / "page.html"
    assert _report(["--results", str(old), "--results", str(new), "--out", str(out)]) == 0
    assert "regressions (2):" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    parser = _Cells()
    parser.feed(page)
    assert {"check-matrix", "version-matrix", "diff-table"} <= parser.ids
    assert parser.cells[("stream", "claude-code")] == "fail"
    assert parser.cells[("auth", "gateway")] == "error"
    assert "Plotly" not in page  # no chart, no 4.8 MB of JavaScript


def test_report_command_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 99, "results": []}))
    assert _report(["--results", str(bad), "--out", str(tmp_path / "x.html")]) == 2
    assert "schema_version is 99" in capsys.readouterr().err
    assert _report(["--out", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "x.html").exists()

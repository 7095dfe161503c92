"""The agent canary (issue 17) with a fake npm: a newly published version is asked for,
installed into the canary's own cache (never ./node_modules), checked, marked new, and a
generated config failing on it turns the exit status non-zero.

The fake npm is a real executable on the command line (``--npm``): it answers ``view``
from a registry document in the test, and ``install`` by writing the package the way npm
lays it out. Only the compatibility run itself is replaced (it needs the real CLIs; the
pinned ones are judged by conformance/test_agents_e2e.py in CI).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway_conformance import cli
from gateway_conformance.agents import canary, matrix, registry

FAKE_NPM = r'''#!{python}
import json, pathlib, sys
registry = json.loads(pathlib.Path({registry!r}).read_text())
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\n")
if args[0] == "view":
    print(json.dumps(registry[args[1]]))
elif args[0] == "install":
    prefix = pathlib.Path(args[args.index("--prefix") + 1])
    package, _, version = args[-1].rpartition("@")
    folder = prefix / "node_modules" / package
    (folder / "bin").mkdir(parents=True)
    binary = package.rsplit("/", 1)[-1]
    (folder / "bin" / "cli.js").write_text("console.log(" + json.dumps(version) + ")")
    (folder / "package.json").write_text(json.dumps({{"name": package, "version": version,
                                                     "bin": {{binary: "bin/cli.js"}}}}))
else:
    sys.exit("fake npm: unexpected " + " ".join(args))
'''


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the fake npm, its call log); the agent caches point into tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({
        "@openai/codex": ["0.133.0", "0.171.0", "0.172.0-alpha.1", "0.172.0-linux-x64", "0.172.0"],
    }))
    log = tmp_path / "npm.log"
    npm = tmp_path / "bin" / "npm"
    npm.parent.mkdir()
    npm.write_text(FAKE_NPM.format(python=sys.executable, registry=str(registry), log=str(log)))
    npm.chmod(0o755)
    return npm, log


def _known(tmp_path: Path) -> Path:
    """A results file that has seen Codex 0.171.0, not 0.172.0."""
    return matrix.save([matrix.Row("codex", "0.171.0", "fail", "pass")], tmp_path / "matrix.json")


def _checker(generated_on_new: str) -> tuple[list[tuple[Path, list[str]]], object]:
    calls: list[tuple[Path, list[str]]] = []

    def check(node_modules: Path, agents: Sequence[str], *, keep_report: Path | None = None,
              ) -> list[matrix.Row]:
        found = sorted(p.name for p in node_modules.iterdir())
        calls.append((node_modules, found))
        return [matrix.Row("codex", "0.172.0", "fail", generated_on_new)]

    return calls, check


@pytest.mark.parametrize("generated", ["pass", "fail"])
def test_a_newly_published_version_is_installed_checked_and_marked_new(
        generated: str, fake_npm: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    npm, log = fake_npm
    calls, check = _checker(generated)
    monkeypatch.setattr(canary, "check", check)
    monkeypatch.chdir(tmp_path)
    results = _known(tmp_path)
    code = cli.main(["agents", "canary", "--agent", "codex", "--npm", str(npm), "--results", str(results)])
    out, err = capsys.readouterr()
    assert code == (0 if generated == "pass" else 1), out + err
    commands = [json.loads(line) for line in log.read_text().splitlines()]
    assert commands[0] == ["view", "@openai/codex", "versions", "--json"]
    installs = [c for c in commands if c[0] == "install"]
    assert [c[-1] for c in installs] == ["@openai/codex@0.172.0"], "only the newest stable version"
    prefix = Path(installs[0][installs[0].index("--prefix") + 1])
    assert prefix.is_relative_to(tmp_path / "cache") and not (tmp_path / "node_modules").exists()
    ((_, linked),) = calls
    assert linked == ["codex-0.172.0"], "the check sees exactly the new version"
    row = next(line for line in out.splitlines() if line.startswith("codex"))
    assert row.split()[:4] == ["codex", "0.172.0", "fail", generated] and row.endswith("NEW")
    if generated == "fail":
        assert "generated config fails on codex 0.172.0" in err


def test_last_n_and_a_cached_install_is_reused(fake_npm: tuple[Path, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    npm, log = fake_npm
    calls, check = _checker("pass")
    spec = registry.get("codex").spec
    for _ in range(2):
        canary.run_canary([spec], last=2, known=[], npm=str(npm), checker=check)
    installs = [json.loads(line)[-1] for line in log.read_text().splitlines() if '"install"' in line]
    assert installs == ["@openai/codex@0.171.0", "@openai/codex@0.172.0"], "second run: no reinstall"
    assert calls[-1][1] == ["codex-0.171.0", "codex-0.172.0"]


def test_rows_come_from_the_suite_report() -> None:
    """The canary reads the suite's own check outcomes: `works` facts of the matrix test."""
    def result(version: str, config: str, works: str | None) -> dict[str, object]:
        facts = {"works": works} if works else {}
        summary = "profile is no longer supported" if works == "no" else None
        return {"nodeid": f"test_agents_e2e.py::test_config_compatibility_matrix[codex-{version}-{config}]",
                "agent": "codex", "agent_version": version, "config": config,
                "evidence": {"facts": facts, "summary": summary}}

    rows = canary.rows_from_report({"results": [
        result("0.172.0", "documented", "no"), result("0.172.0", "generated", "yes"),
        result("0.173.0", "generated", None),
        {"nodeid": "test_other.py::test_x", "agent": "codex", "agent_version": "0.172.0", "config": None},
    ]})
    by_version = {r.version: r for r in rows}
    assert (by_version["0.172.0"].documented, by_version["0.172.0"].generated) == ("fail", "pass")
    assert by_version["0.172.0"].detail == "profile is no longer supported"
    assert (by_version["0.173.0"].documented, by_version["0.173.0"].generated) == ("not measured",
                                                                                   "not measured")


def test_the_real_check_runs_the_suite_and_keeps_its_report(tmp_path: Path) -> None:
    """With no CLI in the folder the suite's matrix test cannot measure anything: no rows (the
    command then exits 1, "nothing was measured"), and the suite's report is kept for the page."""
    empty = tmp_path / "node_modules"
    empty.mkdir()
    kept = tmp_path / "canary-results.json"
    assert canary.check(empty, ["codex"], keep_report=kept) == []
    report = json.loads(kept.read_text())
    assert [r["outcome"] for r in report["results"]] == ["skip"], report["results"]


def test_update_never_writes_into_an_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from gateway_conformance import agents_cmd, resources
    package = tmp_path / "site-packages" / "gateway_conformance"
    (package / "_fixtures" / "agents").mkdir(parents=True)
    with monkeypatch.context() as patch:
        patch.setattr(resources, "_PACKAGE", package)
        assert resources.inside_installed_package(package / "_fixtures" / "agents" / "matrix.json")
        assert not resources.inside_installed_package(tmp_path / "matrix.json")
    monkeypatch.setattr(agents_cmd, "inside_installed_package", lambda path: True)
    assert cli.main(["agents", "canary", "--update"]) == 2
    assert "inside the installed package" in capsys.readouterr().err

"""The README's agent matrix is generated from the committed results file, never typed
(issue 17): it fails when the README is stale, when a pinned version was never measured,
and the generator refuses a README without its markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_conformance import cli
from gateway_conformance.agents import matrix

REPO = Path(__file__).resolve().parent.parent


def test_readme_matrix_is_the_generated_one() -> None:
    block = matrix.current_block((REPO / "README.md").read_text(encoding="utf-8"))
    assert block is not None, "README.md lost its agents-matrix markers"
    assert block == matrix.markdown(matrix.load()), (
        "README.md's agent matrix is stale: run `gateway-conformance agents matrix --readme README.md`")


def test_every_pinned_version_was_measured() -> None:
    measured = {row.key for row in matrix.load()}
    missing = [f"{agent} {v}" for agent, versions in matrix.pinned(REPO / "package.json").items()
               for v in versions if (agent, v) not in measured]
    assert not missing, (f"package.json pins {', '.join(missing)} but fixtures/agents/matrix.json has no "
                         "measured row: run `./tasks canary` (or `gateway-conformance agents canary --pinned "
                         "--update` with those versions installed)")


def test_generator_rewrites_only_its_block_and_needs_the_markers(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    results = matrix.save([matrix.Row("codex", "0.171.0", "fail", "pass"),
                           matrix.Row("codex", "0.133.0", "pass", "pass")], tmp_path / "m.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"# before\n{matrix.BEGIN}\nold table\n{matrix.END}\nafter\n")
    assert cli.main(["agents", "matrix", "--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# before\n") and text.endswith(f"{matrix.END}\nafter\n")
    table = matrix.current_block(text) or ""
    assert "old table" not in table
    lines = [line for line in table.splitlines() if line.startswith("| Codex")]
    assert lines[0].startswith("| Codex CLI | 0.133.0 | pass | pass |")
    assert lines[1].startswith("| Codex CLI | 0.171.0 | **fail**: `profile")  # note from agent.toml
    assert "--profile default" in lines[1]
    readme.write_text("no markers\n")
    assert cli.main(["agents", "matrix", "--results", str(results), "--readme", str(readme)]) == 2
    assert "marker" in capsys.readouterr().err

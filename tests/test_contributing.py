"""CONTRIBUTING.md, followed literally (issue 15): every block it marks ``<!-- run by
tests/test_contributing.py -->`` runs as written, in order, in a copy of the checkout, from
scaffolding a new agent to its cassettes replayed in the suite's results and shown by
``git diff``. The contributor's own agent is a small scripted client, ``./run-acme.sh``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MARK = "<!-- run by tests/test_contributing.py -->"

# What a contributor's agent does: one chat completion through the recorder's proxy (a 429
# is retried once, as an agent must), the reply read to the end.
CLIENT = '''#!{python}
import os, sys, time, httpx
base, token = os.environ["GATEWAY_CONFORMANCE_BASE_URL"], os.environ["GATEWAY_CONFORMANCE_TOKEN"]
for attempt in range(2):
    with httpx.stream("POST", base + "/chat/completions", headers={{"authorization": "Bearer " + token}},
                      json={{"model": "databricks-gpt-5-2", "stream": True,
                            "messages": [{{"role": "user", "content": sys.argv[1]}}]}}) as resp:
        body = resp.read().decode()
    if resp.status_code != 429:
        break
    time.sleep(0.2)
sys.exit(0 if resp.status_code == 200 and body.rstrip().endswith("data: [DONE]") else 1)
'''


def marked_blocks(text: str) -> list[str]:
    return re.findall(re.escape(MARK) + r"\n```bash\n(.*?)```", text, re.DOTALL)


def _checkout_copy(root: Path) -> None:
    """The files a contributor's checkout has that the steps touch, committed in a fresh repo."""
    for folder in ("plugins", "conformance", "fixtures"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tests").mkdir()
    for name in ("test_fixture_secrets.py", "conftest.py"):
        shutil.copy(REPO / "tests" / name, root / "tests" / name)
    for name in ("pyproject.toml", "CONTRIBUTING.md", "package.json", "package-lock.json"):
        shutil.copy(REPO / name, root / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "checkout"], cwd=root, check=True)


def test_contributing_steps_run_as_written(tmp_path: Path) -> None:
    blocks = marked_blocks((REPO / "CONTRIBUTING.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4, "CONTRIBUTING.md lost its marked steps (scaffold, record, run, review)"
    root = tmp_path / "checkout"
    _checkout_copy(root)
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, module in (("gateway-conformance", "gateway_conformance.cli"), ("pytest", "pytest")):
        (tools / name).write_text(f'#!/bin/sh\nexec {sys.executable} -m {module} "$@"\n')
        (tools / name).chmod(0o755)
    client = root / "run-acme.sh"
    client.write_text(CLIENT.format(python=sys.executable))
    client.chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(root / "plugins"), "PYTEST_ADDOPTS": "-p no:cacheprovider -rA",
           "GIT_PAGER": "cat"}
    outputs = []
    for n, block in enumerate(blocks, 1):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=root, env=env,
                              capture_output=True, text=True, timeout=600)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, f"CONTRIBUTING.md block {n} failed:\n{block}\n{outputs[-1][-3000:]}"
    cassettes = sorted(p.stem for p in (root / "fixtures/agents/acme-coder/cassettes").glob("*.json"))
    assert cassettes == ["error_retry", "plain", "tool_use"]
    run = next(out for out in outputs if "test_cassettes.py" in out)
    for name in cassettes:
        for check in ("test_cassette_is_well_formed", "test_recording_conforms"):
            passed = re.search(rf"PASSED \S*{check}\[acme-coder/{name}\]", run)
            assert passed, f"{check} {name}:\n{run[-3000:]}"
        assert re.search(rf"PASSED \S*\[acme-coder/{name}", run)
    assert "PASSED" in run and "FAILED" not in run
    review = outputs[-1]
    assert "+++ b/fixtures/agents/acme-coder/cassettes/plain.json" in review, "git diff shows the new files"
    assert '"rerecord": "gateway-conformance record --agent acme-coder' in review


@pytest.mark.parametrize("text", ["<!-- x -->\n```bash\nfalse\n```\n"])
def test_only_marked_blocks_are_run(text: str) -> None:
    assert marked_blocks(text) == []
    assert marked_blocks(f"{MARK}\n```bash\necho hi\n```\n") == ["echo hi\n"]

"""``./tasks``: its help is the comment block (no shell lines), and ``bench`` runs every
script, prints every figure, and fails at the end if any script missed its target (issue 15).

``bench`` runs in a copy of the script with stand-in benchmarks and an already-installed
stand-in venv, so the test exercises the task's own loop without installing anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_help_is_the_comment_block_without_shell_lines() -> None:
    proc = subprocess.run([str(REPO / "tasks")], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "./tasks bench" in proc.stdout and "./tasks canary" in proc.stdout
    assert "set -euo" not in proc.stdout and "#" not in proc.stdout, proc.stdout


def test_bench_runs_every_script_and_fails_at_the_end(tmp_path: Path) -> None:
    shutil.copy(REPO / "tasks", tmp_path / "tasks")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "install-jdk.sh").write_text("exit 0\n")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    stamp = tmp_path / ".venv" / ".installed-test,spark"
    stamp.write_text("")
    os.utime(stamp, (os.path.getmtime(tmp_path / "pyproject.toml") + 10,) * 2)
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "a_misses.py").write_text("print('a: ratio 3.0x (target <= 1.2x)'); raise SystemExit(1)\n")
    (bench / "b_meets.py").write_text("print('b: ratio 120x (target >= 100x)')\n")
    proc = subprocess.run([str(tmp_path / "tasks"), "bench"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a: ratio 3.0x" in proc.stdout and "b: ratio 120x" in proc.stdout, "every script ran"
    assert "benchmarks/a_misses.py" in proc.stderr and "b_meets" not in proc.stderr

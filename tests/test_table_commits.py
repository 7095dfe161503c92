"""The shared group commit sizes its commits by load (tables/commits.py)."""

from __future__ import annotations

import random
import threading
import time

import pyarrow as pa

from gateway_conformance.tables.commits import CommitLimits, GroupCommit

ROWS = pa.table({"x": [1]})


def _run_callers(limits: CommitLimits, callers: int, rounds: int) -> list[int]:
    """``callers`` threads that each prepare (1-4 ms, like decoding and mapping) and append,
    ``rounds`` times, against a commit that costs 15 ms; returns the appends per commit."""
    sizes: list[int] = []

    def commit(tables: list[pa.Table], appends: int) -> None:
        sizes.append(appends)
        time.sleep(0.015)

    group = GroupCommit(commit, name="t", limits=limits)
    rng = random.Random(7)
    delays = [[rng.uniform(0.001, 0.004) for _ in range(rounds)] for _ in range(callers)]

    def caller(index: int) -> None:
        for delay in delays[index]:
            time.sleep(delay)
            group.submit(ROWS).result(30)

    threads = [threading.Thread(target=caller, args=(index,)) for index in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    group.close()
    assert sum(sizes) == callers * rounds
    return sizes


def test_under_load_a_commit_carries_about_every_caller() -> None:
    sizes = _run_callers(CommitLimits(), callers=8, rounds=12)
    unlingered = _run_callers(CommitLimits(max_linger_seconds=0), callers=8, rounds=12)
    mean, plain = sum(sizes) / len(sizes), sum(unlingered) / len(unlingered)
    assert mean >= 5, f"commits carried {mean:.1f} of 8 callers on average: {sizes}"
    assert mean > plain, f"waiting for the usual concurrency gained nothing ({mean:.1f} vs {plain:.1f})"


def test_a_lone_caller_is_committed_alone_at_once() -> None:
    began = time.monotonic()
    sizes = _run_callers(CommitLimits(), callers=1, rounds=10)
    assert sizes == [1] * 10
    assert time.monotonic() - began < 10 * (0.015 + 0.004) + 1.0  # no linger on top of the commits

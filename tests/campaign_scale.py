"""The size of the bounded campaigns under tests/campaigns (contract C6), their tally and figures.

``GWC_CAMPAIGN_SCALE`` is a positive number multiplying every campaign's case count: unset
or 1 is the CI size, ``./tasks fuzz`` and ``./tasks load`` run larger (e.g. 10). A value
that is not a positive number stops the run with one line rather than running a size
nobody asked for; so does a ``GWC_CAMPAIGN_SEED`` (which cases: 14 unless set) that is not a
whole number. Every campaign prints its figures through :func:`publish`.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

SCALE_ENV = "GWC_CAMPAIGN_SCALE"
SEED_ENV = "GWC_CAMPAIGN_SEED"
FIGURES_ENV = "GWC_CAMPAIGN_FIGURES"


def campaign_scale() -> float:
    text = os.environ.get(SCALE_ENV, "").strip() or "1"
    try:
        scale = float(text)
    except ValueError:
        raise pytest.UsageError(f"{SCALE_ENV}={text!r} is not a number: give 1 or e.g. 10") from None
    if not scale > 0:
        raise pytest.UsageError(f"{SCALE_ENV}={text!r} must be more than 0")
    return scale


def campaign_seed() -> int:
    """The seed every campaign draws its cases from: ``GWC_CAMPAIGN_SEED``, 14 unless set."""
    text = os.environ.get(SEED_ENV, "").strip() or "14"
    try:
        return int(text)
    except ValueError:
        raise pytest.UsageError(f"{SEED_ENV}={text!r} is not a whole number: give e.g. 14") from None


def count(base: int) -> int:
    """A campaign's case count at this run's scale (at least one)."""
    return max(1, round(base * campaign_scale()))


@dataclass
class Figures:
    """What a bad-input campaign sent and got, shared by its client threads. ``excused`` are the
    statuses >= 500 the protocol allows as an answer (the sink's 503 + Retry-After under load)."""

    excused: frozenset[int] = frozenset()
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    over_500: int = 0
    hangs: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, case: Any, status: int | None, problem: str | None) -> None:
        """One answer (``status`` None: none came in time) to a case with ``family`` and ``what``."""
        with self.lock:
            self.requests += 1
            if status is None:
                self.hangs += 1
            else:
                self.statuses[status] += 1
                self.over_500 += status >= 500 and status not in self.excused
            if problem is not None:
                self.problems.append(f"[{case.family}] {case.what}: {problem}")

    def summary(self, campaign: str) -> list[str]:
        """The two lines a bad-input campaign prints: its totals, then the count of each status."""
        excused = "".join(f" ({status} with Retry-After excluded)" for status in sorted(self.excused))
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return [f"{campaign} bad-input campaign (scale {campaign_scale():g}, seed {campaign_seed()}): "
                f"{self.requests} requests, {self.over_500} answers >= 500{excused}, {self.hangs} hangs, "
                f"{len(self.problems)} rule violations",
                f"{campaign} bad-input campaign statuses: {statuses}"]

    def assert_no_problems(self, family: str) -> None:
        """Fail with the first cases of ``family`` that broke a rule."""
        mine = [problem for problem in self.problems if problem.startswith(f"[{family}]")]
        assert not mine, f"{len(mine)} {family} cases broke a rule; the first ones:\n" + "\n".join(mine[:10])


def run_concurrently(send: Callable[[httpx.Client, Any], None], cases: Sequence[Any], clients: int,
                     parallel: int) -> None:
    """Every case sent by ``parallel`` threads over ``clients`` pooled connections, so cases meet
    a server that is busy with others, as a real one is."""
    pool_clients = [httpx.Client() for _ in range(clients)]
    try:
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda pair: send(pool_clients[pair[0] % clients], pair[1]), enumerate(cases)))
    finally:
        for client in pool_clients:
            client.close()


def publish(lines: Sequence[str]) -> None:
    """Print a campaign's figures, and append them to the file ``GWC_CAMPAIGN_FIGURES`` names,
    if set: ``./tasks fuzz`` and ``./tasks load`` print that file last, after pytest's own output."""
    print("\n".join(lines))
    figures_file = os.environ.get(FIGURES_ENV)
    if figures_file:
        with Path(figures_file).open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")

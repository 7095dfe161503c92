"""Which run is which: the labels ``diff`` and ``report`` print above their tables.

A results document names the implementation it tested (``name``, ``version``, from the
target profile or the wire) and when the run finished. A document written without a profile
(or by an older version) may carry neither; ``--target FILE.toml`` then supplies the labels
from the profile the run used, so two versions of one gateway can still be told apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from gateway_conformance.report.results import Report, ReportError


def with_profiles(reports: Sequence[Report], profiles: Sequence[str]) -> list[Report]:
    """The reports, each labelled from its profile where it has no name or version of its
    own: one profile labels every report, several label the reports in order. A profile
    that cannot be read is a :class:`ReportError` (the commands' exit 2)."""
    from gateway_conformance.target_file import TargetFileError, load_target_file

    if not profiles:
        return list(reports)
    if len(profiles) not in (1, len(reports)):
        raise ReportError(f"give --target once (for every run) or once per run ({len(reports)}), "
                         f"not {len(profiles)} times")
    labelled = []
    for index, report in enumerate(reports):
        path = Path(profiles[0] if len(profiles) == 1 else profiles[index])
        try:
            target = load_target_file(path)
        except TargetFileError as exc:
            raise ReportError(str(exc)) from None
        impl = report.implementation
        named = dataclasses.replace(impl, name=impl.name or target.name,
                                    version=impl.version or target.version)
        labelled.append(dataclasses.replace(report, implementation=named))
    return labelled


def run_table(reports: Sequence[Report], roles: Sequence[str]) -> str:
    """One line per run: role, name, version, when, where, and how many checks it measured."""
    rows = [("run", "name", "version", "finished", "gateway", "results")]
    for role, report in zip(roles, reports, strict=True):
        impl = report.implementation
        measured = sum(1 for r in report.results if r.outcome != "skip")
        rows.append((role, impl.name or "(unnamed)", impl.version or "(no version)",
                     str(report.run.get("finished") or report.created or "(no time)"),
                     impl.gateway_url or "embedded mock", f"{measured} measured of {len(report.results)}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)

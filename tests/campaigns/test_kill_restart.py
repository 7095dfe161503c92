"""Campaign (a): ``serve`` SIGKILLed mid-export and restarted on the same tables folder.

Issue 14 asks that no kill bricks a table and that every acknowledged record survives. Each
round starts ``serve`` on one tables folder with maintenance running often (compaction every
3 commits, so kills also land in compactions), lets exporters post OTLP log exports whose
records each carry a unique id, and SIGKILLs the process after a random moment. The first
round kills ``serve`` while it creates its tables (the moment the first ``_delta_log/``
appears: issue 14 item 5). After the last round ``serve`` must start once more, and then:

- every record of every acknowledged export is stored exactly once;
- no record is stored twice (every id is sent once, so a stored id appears once);
- an export is stored whole or not at all (a commit is atomic).

Size: ``GWC_CAMPAIGN_SCALE`` (default 1: 4 kills on deltalake, 2 on Spark) multiplies the
kills; ``GWC_CAMPAIGN_SEED`` changes the moments. The figures are printed, and appended to
the file named by ``GWC_CAMPAIGN_FIGURES`` if set.
"""

from __future__ import annotations

import json
import random
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from campaign_scale import campaign_scale, campaign_seed, publish
from gateway_conformance.tables.delta import read_table

SCALE = campaign_scale()
SEED = campaign_seed()
RECORDS = 20  # per export
EXPORTERS = 4
PREFIX = "kill"
#: Seconds a start may take: the Spark engine starts a JVM on a shared 2-core machine.
START_WITHIN = {"deltalake": 60.0, "spark": 240.0}
KILLS = {"deltalake": max(2, round(4 * SCALE)), "spark": max(2, round(2 * SCALE))}
#: How long exporters run after the first acknowledgement before the kill (seconds, at random).
EXPORT_FOR = {"deltalake": (0.2, 2.5), "spark": (1.0, 5.0)}


def _serve(tables: Path, engine: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", "--tables-dir", str(tables),
         "--table-prefix", PREFIX, "--engine", engine, "--compact-every", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _startup_line(process: subprocess.Popen[str], within: float) -> dict[str, Any]:
    """The JSON line ``serve`` prints once it serves, or a failure naming what it printed."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(within):
            process.kill()
            pytest.fail(f"serve did not start within {within:.0f} s on a folder a SIGKILL left behind")
    line = process.stdout.readline()
    if not line:
        assert process.stderr is not None
        pytest.fail(f"serve exited {process.wait(10)} on restart after a SIGKILL, so the tables folder "
                    f"is bricked: {process.stderr.read()[-600:]}")
    return json.loads(line)


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def _export(ids: list[str]) -> bytes:
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for n, record_id in enumerate(ids):
        record = records.add(time_unix_nano=1_700_000_000_000_000_000 + n)
        record.body.string_value = record_id
    return request.SerializeToString()


def _exporters(line: dict[str, Any], round_: int, stop: threading.Event, acknowledged: list[str],
               sent: list[str], first_ack: threading.Event) -> list[threading.Thread]:
    url = f"{line['workspace_url']}/api/2.0/otel/v1/logs"
    headers = {"content-type": "application/x-protobuf", "x-databricks-uc-table-name": line["tables"]["logs"],
               "authorization": f"Bearer {next(iter(line['tokens'].values()))}"}
    lock = threading.Lock()

    def run(exporter: int) -> None:
        with httpx.Client(timeout=30) as client:
            for n in range(1_000_000):
                if stop.is_set():
                    return
                ids = [f"r{round_}-e{exporter}-x{n}-{i}" for i in range(RECORDS)]
                with lock:
                    sent.extend(ids)
                try:
                    answer = client.post(url, headers=headers, content=_export(ids))
                except httpx.TransportError:
                    return  # the process is gone: this export was never acknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged.extend(ids)
                    first_ack.set()

    threads = [threading.Thread(target=run, args=(exporter,), daemon=True) for exporter in range(EXPORTERS)]
    for thread in threads:
        thread.start()
    return threads


def _kill_while_creating(tables: Path, engine: str) -> bool:
    """Start on an empty folder and SIGKILL once the first ``_delta_log/`` appears."""
    process = _serve(tables, engine)
    deadline = time.monotonic() + START_WITHIN[engine]
    while time.monotonic() < deadline and process.poll() is None:
        if any(tables.glob("*/*/*/_delta_log")):
            break
        time.sleep(0.005)
    caught = any(tables.glob("*/*/*/_delta_log"))
    _kill(process)
    return caught


@pytest.mark.parametrize("engine", ["deltalake", pytest.param("spark", marks=pytest.mark.gwc_spark)])
@pytest.mark.timeout(1800)
def test_every_acknowledged_record_survives_sigkill_exactly_once(engine: str, tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    moments = random.Random(SEED)
    caught_creating = _kill_while_creating(tables, engine)
    acknowledged: list[str] = []
    sent: list[str] = []
    for round_ in range(KILLS[engine]):
        process = _serve(tables, engine)
        line = _startup_line(process, START_WITHIN[engine])
        stop, first_ack = threading.Event(), threading.Event()
        threads = _exporters(line, round_, stop, acknowledged, sent, first_ack)
        # The kill comes a random moment after the first acknowledgement: a Spark engine's first
        # commit warms the JVM up for seconds, and a kill before it would test nothing.
        first_ack.wait(START_WITHIN[engine])
        time.sleep(moments.uniform(*EXPORT_FOR[engine]))
        _kill(process)
        stop.set()
        for thread in threads:
            thread.join(60)
    final = _serve(tables, engine)
    _startup_line(final, START_WITHIN[engine])  # the folder still serves after every kill
    final.send_signal(signal.SIGTERM)
    assert final.wait(120) == 0

    stored = Counter(read_table(tables / "main" / "otel" / f"{PREFIX}_otel_logs", ["body"])
                     .column("body").to_pylist())
    lost = sorted(set(acknowledged) - set(stored))
    twice = sorted(record for record, count in stored.items() if count > 1)
    exports = Counter(record.rsplit("-", 1)[0] for record in stored)
    torn = sorted(export for export, count in exports.items() if count != RECORDS)
    figures = (f"kill -9 campaign ({engine}): {KILLS[engine]} kills mid-export + 1 while creating tables "
               f"({'caught' if caught_creating else 'missed'} the creation); {len(sent):,} records sent, "
               f"{len(acknowledged):,} acknowledged, {sum(stored.values()):,} stored; lost {len(lost)}, "
               f"twice {len(twice)}, torn exports {len(torn)}")
    publish([figures])
    assert acknowledged, "no export was acknowledged: the campaign measured nothing"
    assert not lost, f"acknowledged records lost to SIGKILL + restart: {lost[:5]} ({len(lost)} all told)"
    assert not twice, f"records stored more than once: {twice[:5]} ({len(twice)} in all)"
    assert not torn, f"exports stored in part: {torn[:5]} ({len(torn)} in all)"

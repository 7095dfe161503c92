"""Replay speed: a recorded session replayed accelerated against its real duration.

A session of paced streams (the mock gateway with an injected delay between events, the
rhythm of a real model) is recorded through the recording proxy in this process; its wall
time is the baseline. The cassette is then served by the mock's replay layer and the same
requests are replayed as a client, at full speed (``speed=inf``) and at ``--speed``. Every
replay is checked byte for byte against the recording, so speed never comes from skipping
work. Target: real duration / accelerated replay >= 100x.

    python benchmarks/replay_speed.py [--requests 4] [--events 60] [--gap-ms 15] [--speed 1000]
"""

from __future__ import annotations

import argparse
import math
import time

import httpx

from gateway_conformance.gateway.app import GatewayConfig, create_gateway
from gateway_conformance.gateway.faults import Fault
from gateway_conformance.server import ServerHandle
from gateway_conformance.traffic.cassette import Cassette, Metadata
from gateway_conformance.traffic.record import recording
from gateway_conformance.traffic.replay import mount, outgoing_headers

TOKEN = "gwc-bench-token"
PATH = "/anthropic/v1/messages"
TARGET = 100.0


def _session(client: httpx.Client, root: str, requests: int) -> list[bytes]:
    bodies = []
    for n in range(requests):
        body = {"model": "databricks-claude-opus-4-6", "max_tokens": 4096, "stream": True,
                "messages": [{"role": "user", "content": f"turn {n}"}]}
        with client.stream("POST", root + PATH, json=body, headers={"authorization": f"Bearer {TOKEN}"}) as r:
            bodies.append(r.read())
    return bodies


def _replay(client: httpx.Client, root: str, cassette: Cassette) -> list[bytes]:
    out = []
    for inter in cassette.interactions:
        req = inter.request
        with client.stream(req.method, root + req.path, headers=outgoing_headers(req, TOKEN),
                           content=req.body_bytes()) as r:
            out.append(r.read())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--events", type=int, default=60, help="text words per answer (one event each)")
    parser.add_argument("--gap-ms", type=float, default=15.0, help="injected delay between events")
    parser.add_argument("--speed", type=float, default=1000.0)
    args = parser.parse_args()

    core = create_gateway(GatewayConfig(tokens={TOKEN: "bench"}))
    with ServerHandle(core, name="gateway") as gw, httpx.Client(timeout=120) as client:
        for n in range(args.requests):
            core.script.text(" ".join(f"w{n}_{i}" for i in range(args.events)))
            core.faults.add(Fault(delay_between_events=args.gap_ms / 1000))
        with recording(gw.url) as (proxy, ph):
            t0 = time.perf_counter()
            recorded_bodies = _session(client, ph.url, args.requests)
            real_s = time.perf_counter() - t0
            cassette = proxy.cassette(Metadata(agent="bench", surface="anthropic", rerecord="benchmark"),
                                      known_secrets=[TOKEN])
        events = sum(len(i.response.events or []) for i in cassette.interactions)

        results = {}
        for label, speed in (("inf", math.inf), (f"{args.speed:g}x", args.speed)):
            mount(core, [cassette], speed=speed)
            t0 = time.perf_counter()
            replayed = _replay(client, gw.url, cassette)
            results[label] = time.perf_counter() - t0
            if replayed != recorded_bodies:
                print(f"replay at speed {label}: bytes differ from the recording")
                return 1
        core.replay = None

    print(f"recorded session: {args.requests} streams, {events} events, real duration {real_s * 1000:.0f} ms")
    ok = True
    for label, seconds in results.items():
        ratio = real_s / seconds
        ok = ok and ratio >= TARGET
        print(f"replay speed={label:>6}: {seconds * 1000:7.1f} ms  -> {ratio:6.1f}x faster than real "
              f"(target >= {TARGET:.0f}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

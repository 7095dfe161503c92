"""The upstream's admin client: queue turns and faults for one marker, read its records.

Everything goes over HTTP to ``/_admin`` (the embedded mock is a real server too), so one
code path serves the embedded run and upstream mode. A failed admin call is a broken
harness setup, not a gateway defect: :class:`UpstreamError` says which call, what came back
and what to fix.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from gateway_conformance.secret import Secret, reveal, safe_url

ADMIN_TIMEOUT = 10.0
# A gateway may still be writing the last bytes when its client is done: wait this long
# (bounded) for the upstream's record of a request to appear.
RECORD_WAIT = 3.0


class UpstreamError(Exception):
    """An admin call to the upstream that did not succeed (one sentence, with the fix)."""


class UpstreamAdmin:
    """Steers one upstream (``gateway-conformance serve`` or the embedded mock)."""

    def __init__(self, root_url: str, admin_token: Secret | str, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.root_url = root_url.rstrip("/")
        self._http = httpx.Client(base_url=self.root_url + "/_admin", timeout=ADMIN_TIMEOUT,
                                  headers={"authorization": f"Bearer {reveal(admin_token)}"},
                                  transport=transport)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        where = f"{method} {safe_url(self.root_url + '/_admin' + path)}"
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{where}: the upstream did not answer ({exc}); check [upstream] url "
                                f"in the target profile and that `gateway-conformance serve` runs") from None
        if response.status_code != 200:
            raise UpstreamError(f"{where} -> {response.status_code}: {response.text[:200]!r}; check the "
                                f"upstream's admin token ([upstream] admin_token_env)")
        return response.json()

    def script(self, marker: str, **turn: Any) -> None:
        """The reply (or error) the request carrying ``marker`` gets (``ScriptedTurn`` fields)."""
        self._call("POST", "/script", json={**turn, "marker": marker})

    def fault(self, marker: str, **fault: Any) -> None:
        """A fault for the request carrying ``marker`` (``Fault`` fields)."""
        self._call("POST", "/faults", json={**fault, "marker": marker})

    def records(self, marker: str) -> list[dict[str, Any]]:
        """The upstream's ledger records of requests carrying ``marker``, in arrival order."""
        return list(self._call("GET", "/ledger", params={"marker": marker})["records"])

    def wait_records(self, marker: str, count: int = 1, timeout: float = RECORD_WAIT,
                     ) -> list[dict[str, Any]]:
        """At least ``count`` records for ``marker`` (fewer if they do not come within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records(marker)
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.05)

    def close(self) -> None:
        self._http.close()


def received(records: list[dict[str, Any]], marker: str) -> Mapping[str, Any]:
    """The one record of a marked request; zero is a failure that names the marker."""
    assert records, (f"no request carrying {marker} reached the upstream: the gateway did not forward "
                     f"the prompt text, or sent it to another upstream")
    return records[0]

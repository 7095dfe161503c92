"""Upstream mode: the mock as the provider behind the gateway under test.

The gateway under test is configured (by its own config) to send each surface to a running
``gateway-conformance serve``; the target profile names that upstream (``[upstream] url``,
``admin_token_env``). Checks marked ``upstream`` then steer the upstream through its
``/_admin`` routes and read what reached it, correlated by an in-band marker each check puts
in its prompt (:mod:`gateway_conformance.gateway.markers`), so they stay correct with
concurrency and gateway retries. Without a target they run against the embedded mock, which
is then both the gateway and its own upstream.

- :mod:`.admin`: the admin client (script, faults, ledger by marker);
- :mod:`.wire`: each surface's request, usage and error fields, as the checks send and read them;
- :mod:`.timing`: the per-event delay a gateway adds to a paced stream.
"""

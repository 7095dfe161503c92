"""The surfaces as the judging side knows them: one module per vendor API, keyed by roster name.

Each module (:mod:`.anthropic`, :mod:`.openai`, :mod:`.cursor`, :mod:`.gemini`) holds all
the suite knows of its API: its routes under the base path, where a request names its model,
the request builders (one user turn, streamed or not; a count_tokens request), the stream
grammar and JSON body checks, the error envelope (loose, as any gateway must send it, or
``exact``, as the reference writes it), the model listing, and where an answer keeps its
usage and text. The shape checks (:mod:`gateway_conformance.traffic.shapes`), upstream mode,
the scaffold, replay and the conformance tests all read it; nothing else knows a surface.

The mock (``gateway/``) keeps its own definitions on purpose: the official SDKs and the real
CLIs judge both, so the two must not share one definition and call it verified. The names
and base paths stay in :mod:`gateway_conformance.roster` (layer 0), because the agent
renderers and the target profile, below this layer, need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from types import MappingProxyType

from gateway_conformance.roster import SURFACES as NAMES
from gateway_conformance.surfaces.base import EndpointKind, Finding, Sink, Surface

# One module per name of the roster, named after it; a surface without one fails on import.
SURFACES: Mapping[str, Surface] = MappingProxyType(
    {name: import_module(f"{__name__}.{name}").SURFACE for name in NAMES})


def get(name: str) -> Surface:
    """The surface called ``name``; a name the roster does not know is a bug of the caller."""
    try:
        return SURFACES[name]
    except KeyError:
        raise KeyError(f"unknown surface {name!r}; known: {', '.join(SURFACES)}") from None


__all__ = ["SURFACES", "EndpointKind", "Finding", "Sink", "Surface", "get"]

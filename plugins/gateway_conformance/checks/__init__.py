"""The check catalogue: every requirement the suite enforces, with its source, as data.

``checks/*.toml`` is the registry (see :mod:`gateway_conformance.checks.registry` for why
it is data); :mod:`gateway_conformance.checks.binding` ties tests to it. Other parts of the
harness use only what this module exports.
"""

from gateway_conformance.checks.agents import agent_name, agent_surfaces
from gateway_conformance.checks.binding import (
    MARKER,
    SELF_TEST,
    Identity,
    catalogue_of,
    check_id,
    claimed_profiles,
    identity,
)
from gateway_conformance.checks.registry import (
    LEVELS,
    RUNS,
    SURFACES,
    Catalogue,
    CatalogueError,
    Check,
    Profile,
    Source,
    catalogue,
    load,
)
from gateway_conformance.checks.verdicts import VERDICTS, ProfileVerdict, profile_verdicts

__all__ = [
    "LEVELS",
    "MARKER",
    "RUNS",
    "SELF_TEST",
    "SURFACES",
    "VERDICTS",
    "Catalogue",
    "CatalogueError",
    "Check",
    "Identity",
    "Profile",
    "ProfileVerdict",
    "Source",
    "agent_name",
    "agent_surfaces",
    "catalogue",
    "catalogue_of",
    "check_id",
    "claimed_profiles",
    "identity",
    "load",
    "profile_verdicts",
]

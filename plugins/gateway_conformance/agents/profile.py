"""The target profile: where a platform team's gateway and workspace are, and what to call.

Every renderer takes one profile. The token is never part of it: the profile names the
environment variable that holds it, so a profile can be logged, printed and passed on a
command line, and the token is read only when a file that must contain it is rendered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway_conformance.roster import BASE_PATHS, agent_models, agent_name
from gateway_conformance.secret import Secret

DEFAULT_TOKEN_ENV = "DATABRICKS_TOKEN"

# The gateway path of each surface, as the documentation gives the base URLs.
SURFACE_PREFIXES: Mapping[str, str] = BASE_PATHS

# The model each agent is documented with (Cursor: an endpoint name the docs leave open).
DEFAULT_MODELS: Mapping[str, str] = MappingProxyType(agent_models())  # from agent.toml

OTLP_PATH = "/api/2.0/otel"
SIGNALS = ("metrics", "logs", "spans")


class ProfileError(ValueError):
    """The profile cannot produce a config: a missing token or workspace URL."""


@dataclass(frozen=True)
class TargetProfile:
    """Gateway URL (scheme and host, no surface path), workspace URL, token variable, models,
    Unity Catalog location of the telemetry tables, telemetry on or off."""

    gateway_url: str
    workspace_url: str | None = None
    token_env: str = DEFAULT_TOKEN_ENV
    models: Mapping[str, str] = field(default_factory=dict)  # overrides of DEFAULT_MODELS
    catalog: str = "main"
    schema: str = "otel"
    table_prefix: str = "coding_agents"
    telemetry: bool = False

    def __post_init__(self) -> None:
        for name, url in (("gateway_url", self.gateway_url), ("workspace_url", self.workspace_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ProfileError(f"{name} must start with http:// or https://, got {url!r}")

    def token(self, environ: Mapping[str, str] | None = None) -> Secret:
        """The token from ``token_env``; renderers reveal it only into files written 0600."""
        value = (os.environ if environ is None else environ).get(self.token_env, "")
        if not value:
            raise ProfileError(f"${self.token_env} is not set: export the gateway token there "
                               f"(tokens are never taken from the command line)")
        return Secret(value)

    def surface_url(self, surface: str) -> str:
        return self.gateway_url.rstrip("/") + SURFACE_PREFIXES[surface]

    def model(self, agent: str) -> str:
        """The model for ``agent`` (either spelling), the override first."""
        models = {**DEFAULT_MODELS, **{agent_name(name): model for name, model in self.models.items()}}
        return models[agent_name(agent)]

    def otlp_base(self) -> str:
        """``<workspace>/api/2.0/otel``: the OTLP/HTTP root; signals live under ``/v1/...``."""
        if not self.workspace_url:
            raise ProfileError("telemetry needs the workspace URL (--workspace-url)")
        return self.workspace_url.rstrip("/") + OTLP_PATH

    def otlp_url(self, signal: str) -> str:
        """The OTLP/HTTP path of a signal: ``metrics``, ``logs`` or ``traces``."""
        return f"{self.otlp_base()}/v1/{signal}"

    def table(self, signal: str) -> str:
        """``catalog.schema.<prefix>_otel_<signal>`` for ``metrics``, ``logs`` or ``spans``."""
        if signal not in SIGNALS:
            raise ValueError(f"unknown signal {signal!r}; one of {SIGNALS}")
        return f"{self.catalog}.{self.schema}.{self.table_prefix}_otel_{signal}"

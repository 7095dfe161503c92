"""Codex CLI: ``~/.codex/config.toml`` (and ``default.config.toml`` from 0.134.0 on).

Documented layout: a top-level ``profile = "default"`` selecting ``[profiles.default]``.
Codex 0.134.0 dropped that ("legacy `profile = \"default\"` config is no longer supported"):
a profile is now the file ``$CODEX_HOME/<name>.config.toml`` layered on ``config.toml``
and chosen with ``--profile <name>``. The generated layout follows the installed version
(which version range needs which layout is data: ``[[compat.layouts]]`` in agent.toml),
and also switches off Codex's own update checks, analytics and plugin/app lookups (with
them on it resolves outside hosts on every run; measured with strace on 0.171.0).
The token never enters a file unless telemetry needs it in an exporter header.
"""

from __future__ import annotations

from typing import Any

import tomli_w

from gateway_conformance.agents.base import AgentSpec, ConfigFile, RenderedConfig
from gateway_conformance.agents.profile import TargetProfile

CONFIG = ".codex/config.toml"
PROFILE_NAME = "default"
PROFILE_FILE = f".codex/{PROFILE_NAME}.config.toml"
PROVIDER = "proxy"
TOKEN_VAR = "DATABRICKS_TOKEN"
# The layouts this renderer knows, as agent.toml's [[compat.layouts]] name them.
PROFILE_FILES = "profile-files"  # <name>.config.toml + --profile (0.134.0 rejects the top-level key)
TOP_LEVEL_PROFILE = "top-level-profile"  # the documented `profile = "default"`

QUIET = {
    "check_for_update_on_startup": False,
    "analytics": {"enabled": False},
    "features": {"plugins": False, "apps": False, "tool_suggest": False},
}


def _provider(profile: TargetProfile) -> dict[str, Any]:
    return {PROVIDER: {"name": "Databricks Proxy", "base_url": profile.surface_url("openai"),
                       "env_key": TOKEN_VAR, "wire_api": "responses"}}


def _model(profile: TargetProfile) -> dict[str, str]:
    return {"model_provider": PROVIDER, "model": profile.model("codex")}


def _otel(profile: TargetProfile, token: str) -> dict[str, Any]:
    """Codex's own OTLP export, one exporter per signal, protobuf, routed by table header."""

    def exporter(signal: str, table: str) -> dict[str, Any]:
        return {"otlp-http": {"endpoint": profile.otlp_url(signal), "protocol": "binary",
                              "headers": {"Authorization": f"Bearer {token}",
                                          "X-Databricks-UC-Table-Name": profile.table(table)}}}

    return {"environment": "gateway-conformance", "log_user_prompt": False,
            "exporter": exporter("logs", "logs"), "trace_exporter": exporter("traces", "spans"),
            "metrics_exporter": exporter("metrics", "metrics")}


def uses_profile_files(agent_version: str | None, spec: AgentSpec | None = None) -> bool:
    """Whether this Codex wants ``<name>.config.toml`` + ``--profile`` (unknown: the newest)."""
    layout = (spec or AgentSpec.load("codex")).layout_for(agent_version)
    if layout not in (PROFILE_FILES, TOP_LEVEL_PROFILE):
        raise ValueError(f"agent.toml of codex names layout {layout!r} for {agent_version}; this renderer "
                         f"knows {PROFILE_FILES!r} and {TOP_LEVEL_PROFILE!r}")
    return layout == PROFILE_FILES


def render(profile: TargetProfile, *, agent_version: str | None = None,
           as_documented: bool = False) -> RenderedConfig:
    token_env = {TOKEN_VAR: profile.token_env}
    if as_documented:
        config = {"profile": PROFILE_NAME, "profiles": {PROFILE_NAME: _model(profile)},
                  "model_providers": _provider(profile)}
        return RenderedConfig(agent="codex", layout="documented", agent_version=agent_version,
                              files=(ConfigFile(CONFIG, tomli_w.dumps(config)),), token_env=token_env)
    token = profile.token().reveal()  # fail at render time, not at launch, when the variable is missing
    config: dict[str, Any] = dict(QUIET)
    telemetry = _otel(profile, token) if profile.telemetry else None
    if telemetry:
        config["otel"] = telemetry
    if uses_profile_files(agent_version):
        config["model_providers"] = _provider(profile)
        files = (ConfigFile(CONFIG, tomli_w.dumps(config), secret=bool(telemetry)),
                 ConfigFile(PROFILE_FILE, tomli_w.dumps(_model(profile))))
        args: tuple[str, ...] = ("--profile", PROFILE_NAME)
    else:
        config = {"profile": PROFILE_NAME, **config, "profiles": {PROFILE_NAME: _model(profile)},
                  "model_providers": _provider(profile)}
        files = (ConfigFile(CONFIG, tomli_w.dumps(config), secret=bool(telemetry)),)
        args = ()
    return RenderedConfig(agent="codex", layout="generated", agent_version=agent_version,
                          files=files, token_env=token_env, args=args)

"""Cursor: a desktop app, so its "config" is a description a person follows, not a file it reads.

The rendered JSON names the three settings of the documented steps (base URL override, API
key field, custom model); the key field says which variable holds the token instead of
holding it, so the file is safe to share. Cursor's traffic is covered by replayed cassettes.
"""

from __future__ import annotations

import json

from gateway_conformance.agents.base import ConfigFile, RenderedConfig
from gateway_conformance.agents.profile import TargetProfile

SETTINGS = "cursor/gateway-settings.json"


def steps(base_url: str, token_env: str, model: str) -> tuple[str, ...]:
    return (
        f'Settings > Cursor Settings > Models > API Keys: switch on "Override OpenAI Base URL" and '
        f'enter {base_url}; paste the token from ${token_env} into the "OpenAI API Key" field.',
        f'"+ Add Custom Model": name it {model} (the AI Gateway endpoint) and switch it on.',
        "Open Ask mode (Cmd+L / Ctrl+L), pick the model, send a message: "
        "all requests now go through the gateway.",
    )


def render(profile: TargetProfile, *, agent_version: str | None = None,
           as_documented: bool = False) -> RenderedConfig:
    base_url, model = profile.surface_url("cursor"), profile.model("cursor")
    description = {
        "protocol": "openai-chat-completions",
        "openai_base_url_override": {"enabled": True, "url": base_url},
        "openai_api_key": {"from_env": profile.token_env},
        "custom_models": [{"name": model, "enabled": True}],
        "steps": list(steps(base_url, profile.token_env, model)),
    }
    return RenderedConfig(agent="cursor", layout="documented" if as_documented else "generated",
                          agent_version=agent_version,
                          files=(ConfigFile(SETTINGS, json.dumps(description, indent=2) + "\n"),),
                          steps=steps(base_url, profile.token_env, model))

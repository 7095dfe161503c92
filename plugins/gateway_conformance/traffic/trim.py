"""A recorded session trimmed for a real model: the same requests, a fraction of the tokens.

Replayed as a client against a gateway with a real model behind it (an external target
without ``[upstream]``), a cassette resends what the agent sent: Claude Code's ~26,000-token
system prompt and tool descriptions in every request, ~93% of a full run's tokens. What the
replay check judges is that the gateway accepts each request *form* (the fields, content
block kinds, tool schemas, ids and the paths the agent uses) and answers in the surface's
shape; the length of the prose inside, and how many tools of one form are offered, change
neither. So the tool list keeps the tools the session calls (any ``name`` outside ``tools``)
and the first :data:`KEPT_TOOLS`, each with its schema; the free text is cut to
:data:`KEPT_CHARACTERS` (values of :data:`FREE_TEXT_KEYS`: the system prompt and
instructions, message and tool-result texts, tool and schema descriptions); and the output
limits are capped at :data:`OUTPUT_CAP`. Every other key, list element, name, id, schema,
signature and number is sent as recorded. The check's evidence says the requests were trimmed
(docs/platform-teams.md, "Cost of a run"); ``--replay-full`` sends them whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway_conformance.traffic.cassette import Cassette

FREE_TEXT_KEYS = frozenset({"text", "description", "content", "instructions", "system", "output"})
KEPT_CHARACTERS = 32
KEPT_TOOLS = 2
OUTPUT_CAP = 256
OUTPUT_KEYS = ("max_tokens", "max_output_tokens", "max_completion_tokens", "maxOutputTokens")


@dataclass
class Trimmed:
    """A trimmed copy of a cassette and what was cut (for the check's evidence)."""

    cassette: Cassette
    characters_cut: int = 0
    limits_capped: int = 0
    tools_offered: int = 0
    tools_kept: int = 0

    def evidence(self) -> str:
        return (f"requests trimmed for a real model: {self.tools_kept} of {self.tools_offered} tools kept "
                f"(those called and the first {KEPT_TOOLS}), {self.characters_cut} characters of free "
                f"text cut (each text kept to {KEPT_CHARACTERS}), {self.limits_capped} output limits "
                f"capped at {OUTPUT_CAP}; every other field sent as recorded")


def trim(cassette: Cassette) -> Trimmed:
    """A copy of ``cassette`` whose JSON request bodies are trimmed as the module says."""
    result = Trimmed(copy.deepcopy(cassette))
    for interaction in result.cassette.interactions:
        request = interaction.request
        if isinstance(request.body, dict):
            _shorten_tools(request.body, result)
            request.body = _trim(request.body, result, free=False)
            _cap(request.body, result)
            request.body_text = None  # the exact recorded text is no longer what is sent
    return result


def _names(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "name" and isinstance(item, str):
                yield item
            yield from _names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _names(item)


def _tool_name(tool: Any) -> str | None:
    """A function tool's name in each protocol's form (Chat nests it under ``function``)."""
    if not isinstance(tool, dict):
        return None
    function = tool.get("function")
    name = tool.get("name") or (function.get("name") if isinstance(function, dict) else None)
    return name if isinstance(name, str) else None


def _keep(tools: list[Any], called: set[str], result: Trimmed) -> list[Any]:
    """The tools called and the first :data:`KEPT_TOOLS` named ones; unnamed entries (a
    built-in tool, Gemini's ``functionDeclarations`` holder) stay."""
    kept, named = [], 0
    for tool in tools:
        name = _tool_name(tool)
        if name is not None:
            result.tools_offered += 1
            named += 1
            if name not in called and named > KEPT_TOOLS:
                continue
            result.tools_kept += 1
        kept.append(tool)
    return kept


def _shorten_tools(body: dict[str, Any], result: Trimmed) -> None:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return
    called = {name for key, value in body.items() if key != "tools" for name in _names(value)}
    body["tools"] = _keep(tools, called, result)
    for holder in body["tools"]:  # Gemini: [{"functionDeclarations": [...]}]
        if isinstance(holder, dict) and isinstance(holder.get("functionDeclarations"), list):
            holder["functionDeclarations"] = _keep(holder["functionDeclarations"], called, result)


def _trim(value: Any, result: Trimmed, *, free: bool) -> Any:
    """``free``: the value sits under a free-text key, so its strings are prose."""
    if isinstance(value, str):
        if free and len(value) > KEPT_CHARACTERS:
            result.characters_cut += len(value) - KEPT_CHARACTERS
            return value[:KEPT_CHARACTERS]
        return value
    if isinstance(value, list):
        return [_trim(item, result, free=free) for item in value]
    if isinstance(value, dict):  # a block under "content" has its own keys: judged by them
        return {key: _trim(item, result, free=key in FREE_TEXT_KEYS) for key, item in value.items()}
    return value


def _cap(body: dict[str, Any], result: Trimmed) -> None:
    """Cap output limits where the request sets them (Gemini's sit in ``generationConfig``);
    an Anthropic thinking budget must stay below ``max_tokens``, so it keeps that room."""
    thinking = body.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    floor = budget + 1 if isinstance(budget, int) else 0
    for holder in (body, body.get("generationConfig")):
        if not isinstance(holder, dict):
            continue
        for key in OUTPUT_KEYS:
            limit = holder.get(key)
            if isinstance(limit, int) and not isinstance(limit, bool) and limit > max(OUTPUT_CAP, floor):
                holder[key] = max(OUTPUT_CAP, floor)
                result.limits_capped += 1

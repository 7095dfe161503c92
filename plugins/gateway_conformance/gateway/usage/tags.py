"""Request tags: ``Databricks-Ai-Gateway-Request-Tags``, a JSON object of string values.

Databricks documents that header and writes its value to ``request_tags`` in both the usage
table and the inference table. The mock also takes ``x-databricks-request-tags``, the name
it used before the documented one was known, in the same JSON form or as ``key=value``
pairs separated by commas (its old second form). Anything else is refused with a 400 in the
surface's own envelope, before a model runs: a tag a caller meant to bill by must never be
silently dropped or stored as something else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from gateway_conformance.gateway.turns import GatewayError

REQUEST_TAGS_HEADER = "databricks-ai-gateway-request-tags"
#: The mock's earlier name, still accepted (docs/usage-tables.md).
REQUEST_TAGS_ALIAS = "x-databricks-request-tags"
#: The tag the suite stamps on its own requests (its checks find their rows by it; the
#: dashboard leaves those rows out of real usage).
SUITE_TAG = "gateway_conformance_check"
#: What a platform team can sensibly group by; a longer header is a mistake, not a tag set.
MAX_TAGS = 64
MAX_TAG_CHARS = 256


def _refuse(header: str, why: str) -> GatewayError:
    return GatewayError(400, "invalid_request",
                        f"Invalid {header} header: {why}. Expected a JSON object of string values, "
                        f'e.g. {{"project": "chatbot", "team": "ml-platform"}}.', param=header)


def _checked(header: str, tags: Mapping[object, object]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise _refuse(header, f"{len(tags)} tags (at most {MAX_TAGS})")
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip():
            raise _refuse(header, "a tag key is empty")
        if not isinstance(value, str):
            raise _refuse(header, f"the value of tag {key!r} is {type(value).__name__}, not a string")
        if len(key) > MAX_TAG_CHARS or len(value) > MAX_TAG_CHARS:
            raise _refuse(header, f"tag {key[:40]!r} is longer than {MAX_TAG_CHARS} characters")
    return dict(tags)  # type: ignore[arg-type]  (checked above)


def _json_tags(header: str, value: str) -> dict[str, str]:
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        raise _refuse(header, "the value is not JSON") from None
    if not isinstance(decoded, dict):
        raise _refuse(header, f"the value is a JSON {type(decoded).__name__}, not an object")
    return _checked(header, decoded)


def _legacy_tags(value: str) -> dict[str, str]:
    if value.lstrip().startswith("{"):
        return _json_tags(REQUEST_TAGS_ALIAS, value)
    pairs = [part.partition("=") for part in value.split(",")]
    if not all(sep and key.strip() for key, sep, _ in pairs):
        raise _refuse(REQUEST_TAGS_ALIAS, "neither a JSON object nor key=value pairs")
    return _checked(REQUEST_TAGS_ALIAS, {key.strip(): val.strip() for key, _, val in pairs})


def request_tags(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's tags (``{}`` without either header); both headers given: merged, the
    documented one winning on a shared key. Raises :class:`GatewayError` 400 when malformed."""
    tags: dict[str, str] = {}
    legacy = headers.get(REQUEST_TAGS_ALIAS)
    if legacy is not None and legacy.strip():
        tags.update(_legacy_tags(legacy))
    documented = headers.get(REQUEST_TAGS_HEADER)
    if documented is not None:
        tags.update(_json_tags("Databricks-Ai-Gateway-Request-Tags", documented))
    return tags

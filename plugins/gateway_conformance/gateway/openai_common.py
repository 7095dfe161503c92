"""What the two OpenAI-shaped surfaces (Responses for Codex, Chat Completions for Cursor) share.

Both speak to the same SDK family, so their error envelope, model listing and request
validation must be identical; keeping them here means a fix to one is a fix to both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from gateway_conformance.gateway.turns import ErrorKind, GatewayError

# (type, default code) per neutral error kind, as OpenAI's own API spells them.
_ERROR_SHAPES: dict[ErrorKind, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", "permission_denied"),
    "not_found": ("not_found_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_exceeded", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded": ("server_error", "overloaded"),
}

MODEL_OWNER = "databricks"


def error_body(error: GatewayError) -> dict[str, Any]:
    """OpenAI's envelope; the SDK picks its typed exception from the status, Codex reads ``code``."""
    kind, default_code = _ERROR_SHAPES.get(error.kind, ("server_error", None))
    return {"error": {"message": error.message, "type": kind, "param": error.param,
                      "code": error.code or default_code}}


def models_body(models: Sequence[str]) -> dict[str, Any]:
    """``GET /models`` as OpenAI lists them (``SyncPage[Model]`` in the SDK)."""
    return {"object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": MODEL_OWNER}
                     for m in models]}


def new_id(prefix: str) -> str:
    """An id in OpenAI's style (``resp_…``, ``msg_…``, ``chatcmpl-…``); unique per render."""
    return f"{prefix}{uuid.uuid4().hex}"


def invalid(message: str, param: str | None = None) -> GatewayError:
    """A 400 for a body OpenAI would reject, naming the offending parameter like OpenAI does."""
    return GatewayError(400, "invalid_request", message, param=param)


def require_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise invalid("Missing required parameter: 'model'.", "model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("Invalid type for 'model': expected a non-empty string.", "model")
    return model


def optional_bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"Invalid type for '{key}': expected a boolean, but got {type(value).__name__}.", key)
    return value


def optional_positive_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"Invalid type for '{key}': expected an integer.", key)
    if value < 1:
        raise invalid(f"Invalid '{key}': integer below minimum value. Expected a value >= 1, "
                      f"but got {value} instead.", key)
    return value


def optional_list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"Invalid type for '{key}': expected an array.", key)
    return value


def text_of(content: object, param: str, part_types: frozenset[str]) -> str:
    """The text of a message ``content``: a string, or a list of parts of the given text types.

    Non-text parts (images, files) are accepted and contribute nothing; anything that is
    neither string, list nor null is a 400, as OpenAI answers it.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(f"Invalid type for '{param}': expected a string or an array of content parts.",
                      param)
    texts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise invalid(f"Invalid type for '{param}[{i}]': expected an object.", f"{param}[{i}]")
        kind = part.get("type")
        if isinstance(kind, str) and kind in part_types:
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid(f"Missing required parameter: '{param}[{i}].text'.", f"{param}[{i}].text")
            texts.append(text)
    return "".join(texts)

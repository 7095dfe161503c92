"""The neutral shapes every surface translates to and from.

A surface module parses its protocol's request into a :class:`ChatRequest`, the responder
answers with a :class:`Reply`, and the surface renders that reply back in its own protocol
(JSON or SSE). Policy, ledger and faults only ever see these neutral shapes, so one policy
serves four protocols and each protocol module stays a pure translation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ErrorKind = Literal[
    "invalid_request",  # 400: the body or parameters are wrong
    "authentication",  # 401: missing or unknown token
    "permission",  # 403: token may not use this model
    "not_found",  # 404: unknown model or route
    "request_too_large",  # 413
    "rate_limit",  # 429: QPM/TPM exceeded (retry_after set)
    "api_error",  # 500: injected upstream failure
    "overloaded",  # 503/529: injected upstream overload
]

StopReason = Literal["end_turn", "tool_use", "max_tokens"]


class GatewayError(Exception):
    """An error the gateway answers with; each surface renders it in its own envelope."""

    def __init__(self, status: int, kind: ErrorKind, message: str, *,
                 retry_after: float | None = None, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        # Optional finer detail for envelopes that carry it (OpenAI's ``code`` and ``param``,
        # Google's ErrorInfo reason): e.g. code="model_not_found", param="model".
        self.code = code
        self.param = param
        # The answering request's id, set when the error is rendered (Anthropic's error body
        # carries it as ``request_id``, which its published ErrorResponse schema requires).
        self.request_id: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """A tool (function) call the model asks for; ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """What a model "says" for one turn, independent of protocol."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: StopReason = "end_turn"
    input_tokens: int = 0
    output_tokens: int = 0
    # Seconds between streamed events, as a model generating in real time spaces them; 0
    # sends as fast as the socket takes them (an injected fault's delay overrides it).
    pace: float = 0.0


@dataclass(frozen=True)
class ChatRequest:
    """The neutral view of a generation request, enough for policy, responders and ledger.

    ``prompt`` is the text of the last user turn (what deterministic responders derive
    their answer from); ``tool_results`` are the outputs of earlier tool calls the client sent
    back (a tool-use round trip is visible here); ``raw`` is the decoded request body.
    """

    surface: str
    model: str
    stream: bool
    prompt: str
    tools: tuple[str, ...] = ()
    tool_results: tuple[str, ...] = ()
    max_tokens: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    marker: str | None = None  # the correlation marker in the body (gateway/markers.py)


EndpointKind = Literal["generate", "count_tokens", "models", "probe"]


@dataclass(frozen=True)
class Endpoint:
    """One route of a surface. ``path`` is relative to the surface prefix, starlette syntax.

    For ``generate``, ``stream`` decides streaming: ``"body"`` reads the body's ``stream``
    flag, ``True``/``False`` fix it (Gemini's ``:streamGenerateContent`` vs ``:generateContent``).
    """

    method: str
    path: str
    kind: EndpointKind
    stream: Literal["body"] | bool = "body"


@dataclass(frozen=True)
class Surface:
    """A protocol surface as pure translation functions; the gateway core wires the routes.

    - ``parse_request(body, path_params)`` -> ChatRequest, raising GatewayError(400) on a
      body its protocol would reject; path_params carries e.g. Gemini's ``model``.
    - ``render_json(reply, request)`` -> the non-streamed response body.
    - ``render_stream(reply, request)`` -> the SSE events, each element one event's bytes;
      the core flushes each one as it is produced and lets the fault layer cut or delay them.
    - ``error_body(error)`` -> the protocol's error envelope for ``error.status``.
    - ``models_body(models)`` -> the model listing.
    - ``count_tokens_body(n, request)`` -> the token-count response (surfaces that have one).
    - ``check_headers(headers)`` -> raises GatewayError for protocol headers its upstream
      would refuse (lower-case names), before the model is called.
    """

    name: str
    prefix: str
    endpoints: Sequence[Endpoint]
    parse_request: Callable[[dict[str, Any], dict[str, str]], ChatRequest]
    render_json: Callable[[Reply, ChatRequest], dict[str, Any]]
    render_stream: Callable[[Reply, ChatRequest], Iterator[bytes]]
    error_body: Callable[[GatewayError], dict[str, Any]]
    models_body: Callable[[Sequence[str]], dict[str, Any]]
    count_tokens_body: Callable[[int, ChatRequest], dict[str, Any]] | None = None
    extra_headers: Callable[[GatewayError], dict[str, str]] = field(default=lambda err: {})
    check_headers: Callable[[Mapping[str, str]], None] | None = None


_PIECE = re.compile(r"\s*\S+\s*")


def stream_pieces(text: str) -> list[str]:
    """Cut text into the deltas a stream sends (one word with its spacing each).

    Shared so every surface streams the same pieces of the same reply; joining the pieces
    always gives back ``text`` exactly (whitespace-only text is one piece, empty text none).
    """
    return _PIECE.findall(text) or ([text] if text else [])

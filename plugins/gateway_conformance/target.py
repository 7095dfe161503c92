"""What the suite runs against: the embedded mock, a running gateway, or a gateway image.

One :class:`Target` per run, read from the command line (``target_from_config``):

- embedded (default): the mock and the OTLP sink start in-process on 127.0.0.1;
- ``--gateway-url`` / ``--workspace-url``: a running gateway and OTLP endpoint; the token
  comes from the environment variable named by ``--token-env``, never from argv;
- ``--gateway-image IMAGE``: the image is started with testcontainers (the token passed into
  the container's environment under the same variable name) and its mapped port becomes
  ``--gateway-url``. Without a Docker engine every test is skipped with that reason.

Models are per agent (``--model claude-code=databricks-claude-sonnet-4-5``), because a
workspace serves the endpoints its admins created, not necessarily the documented ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx
import pytest

from gateway_conformance.remote import Timeouts

# agent -> the surface it speaks (gateway/app.py surface names) and its documented model.
AGENT_SURFACES: dict[str, str] = {"claude-code": "anthropic", "codex": "openai", "cursor": "cursor",
                                  "gemini-cli": "gemini"}
DOCUMENTED_MODELS: dict[str, str] = {
    "claude-code": "databricks-claude-opus-4-6",
    "codex": "databricks-gpt-5-2",
    "cursor": "databricks-gpt-5-2",
    "gemini-cli": "databricks-gemini-2-5-flash",
}
IMAGE_START_TIMEOUT = 60.0


def parse_models(values: Iterable[str]) -> dict[str, str]:
    """``AGENT=MODEL`` pairs over the documented defaults; unknown agents are an error."""
    models = dict(DOCUMENTED_MODELS)
    for value in values:
        agent, sep, model = value.partition("=")
        if not sep or not model.strip():
            raise pytest.UsageError(f"--model expects AGENT=MODEL, got {value!r}")
        if agent.strip() not in AGENT_SURFACES:
            raise pytest.UsageError(f"--model: unknown agent {agent!r}; known: {', '.join(AGENT_SURFACES)}")
        models[agent.strip()] = model.strip()
    return models


@dataclass(frozen=True)
class Target:
    gateway_url: str | None = None
    workspace_url: str | None = None
    token_env: str = "GATEWAY_CONFORMANCE_TOKEN"
    models: Mapping[str, str] = field(default_factory=lambda: dict(DOCUMENTED_MODELS))
    table_prefix: str = "coding_agents"
    image: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def external(self) -> bool:
        return self.gateway_url is not None

    def model(self, agent: str) -> str:
        return self.models[agent]


def external_token(config: pytest.Config) -> str:
    """The external target's bearer token, from the variable ``--token-env`` names.

    Called from fixtures: an unset variable skips the checks that need it, with the variable's
    name in the reason, rather than failing them all for one missing export.
    """
    name = config.getoption("token_env")
    token = os.environ.get(name)
    if not token:
        pytest.skip(f"external target: set the bearer token in ${name} (named by --token-env)")
    return token


def target_from_config(config: pytest.Config) -> Target:
    option = config.getoption
    read = float(option("remote_timeout"))
    return Target(gateway_url=option("gateway_url"), workspace_url=option("workspace_url"),
                  token_env=option("token_env"), models=parse_models(option("model")),
                  table_prefix=option("table_prefix"), image=option("gateway_image"),
                  timeouts=Timeouts(read=read, total=max(read * 3, Timeouts.total)))


class ContainerTarget:
    """Starts ``--gateway-image`` before collection and stops it at the end of the run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.container: object | None = None
        self.skip_reason: str | None = None

    def start(self) -> None:
        image = self.config.getoption("gateway_image")
        try:
            from docker.errors import DockerException
            from testcontainers.core.container import DockerContainer
        except ImportError as exc:
            self.skip_reason = f"--gateway-image needs testcontainers ({exc}); pip install testcontainers"
            return
        port = int(self.config.getoption("gateway_image_port"))
        token_env = self.config.getoption("token_env")
        try:  # the client connects to the engine as soon as the container object exists
            container = DockerContainer(image).with_exposed_ports(port)
            if os.environ.get(token_env):
                container = container.with_env(token_env, os.environ[token_env])
            container.start()
        except DockerException as exc:
            self.skip_reason = f"--gateway-image {image}: no Docker engine reachable ({exc})"
            return
        try:
            url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(port)}"
            _wait_for_http(url, IMAGE_START_TIMEOUT)
        except BaseException:
            container.stop()
            raise
        self.container = container
        self.config.option.gateway_url = url  # from here on the run is an external-target run

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if self.skip_reason is not None:
            skip = pytest.mark.skip(reason=self.skip_reason)
            for item in items:
                item.add_marker(skip)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.container is not None:
            self.container.stop()  # type: ignore[attr-defined]


def _wait_for_http(url: str, timeout: float) -> None:
    """Until the container answers any HTTP at all (its app may 404 the root)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError as exc:
            if time.monotonic() > deadline:
                raise pytest.UsageError(f"--gateway-image: nothing answered on {url} "
                                        f"within {timeout:g} s ({exc})") from exc
            time.sleep(0.5)


def configure(config: pytest.Config) -> None:
    """From ``pytest_configure``: validate the target options, start the image if one is given."""
    parse_models(config.getoption("model"))  # fail early on a malformed --model
    if config.getoption("gateway_image") and not config.getoption("gateway_url"):
        container = ContainerTarget(config)
        config.pluginmanager.register(container, "gateway-conformance-container")
        container.start()

"""What the suite runs against: the embedded mock, a running gateway, or a gateway image.

One :class:`Target` per run, resolved once in ``pytest_configure`` (:func:`configure`) and
kept in the config's stash (:func:`target_of`). It is merged from, lowest first:

1. the defaults (the embedded mock's layout, the documented models);
2. the ini file's ``gwc_*`` keys (:data:`INI_OPTIONS`, one per option below: pytest.ini,
   ``[tool.pytest.ini_options]``...), so a project can name its gateway once;
3. the target profile, ``--target FILE.toml`` (or ini ``gwc_target``; :mod:`gateway_conformance.target_file`,
   format in docs/platform-teams.md): every key it sets to other than the default wins over the ini;
4. the command line (``--gateway-url``, ``--workspace-url``, ``--token-env``, ``--model``,
   ``--table-prefix``, ``--remote-timeout``, ``--gateway-image``...): an option given wins.

The merged values are written back into ``config.option``, so code that reads an option
(``config.getoption("gateway_url")``) sees the same target as code that reads the stash.

- embedded (no URL): the mock and the OTLP sink start in-process on 127.0.0.1;
- a URL: a running gateway; its token comes from the environment variable the profile (or
  ``--token-env``) names, never from a file or argv;
- ``--gateway-image IMAGE``: the image is started with testcontainers (the token passed into
  the container's environment under the same variable name) and its mapped port becomes the
  gateway URL.

Models are per agent (``--model claude-code=databricks-claude-sonnet-4-5``), because a
workspace serves the endpoints its admins created, not necessarily the documented ones.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

from gateway_conformance.remote import AuthScheme, Timeouts
from gateway_conformance.roster import BASE_PATHS, agent_models, agent_name, agent_surfaces
from gateway_conformance.roster import SURFACES as SURFACES  # re-exported: target.SURFACES
from gateway_conformance.secret import Secret

AUTH_SCHEMES: tuple[AuthScheme, ...] = get_args(AuthScheme)
# agent -> the surface it speaks and its documented model: read from fixtures/agents/*/agent.toml,
# the only list of agents (gateway_conformance.roster).
AGENT_SURFACES: dict[str, str] = agent_surfaces()
# Where the embedded mock (and `gateway-conformance serve`) serves each surface.
DEFAULT_BASE_PATHS: dict[str, str] = dict(BASE_PATHS)
DOCUMENTED_MODELS: dict[str, str] = agent_models()
DEFAULT_TOKEN_ENV = "GATEWAY_CONFORMANCE_TOKEN"
DEFAULT_TABLE_PREFIX = "coding_agents"
DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "otel"
DEFAULT_REMOTE_TIMEOUT = 60.0
DEFAULT_IMAGE_PORT = 8080
IMAGE_START_TIMEOUT = 60.0


def parse_models(values: Iterable[str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``AGENT=MODEL`` pairs over ``base`` (default: the documented models); unknown agents are an error."""
    models = dict(DOCUMENTED_MODELS if base is None else base)
    for value in values:
        agent, sep, model = value.partition("=")
        if not sep or not model.strip():
            raise pytest.UsageError(f"--model expects AGENT=MODEL, got {value!r}")
        name = agent_name(agent)  # claude_code and claude-code are one agent
        known = {**AGENT_SURFACES, **models}  # the base names the --agents-dir agents too
        if name not in known:
            raise pytest.UsageError(f"--model: unknown agent {agent!r}; known: {', '.join(known)}")
        models[name] = model.strip()
    return models


@dataclass(frozen=True)
class SurfaceProfile:
    """How the gateway serves one surface: where, with which credential form, which headers."""

    base_path: str
    auth: AuthScheme = "bearer"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OtlpProfile:
    """The OTLP/HTTP workspace root (endpoints under ``/api/2.0/otel/v1``) and its own token."""

    url: str | None = None
    token_env: str | None = None  # None: the gateway's token variable
    table_prefix: str = DEFAULT_TABLE_PREFIX
    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA


@dataclass(frozen=True)
class Claims:
    """What the gateway says it serves; None means "everything". Checks outside it are
    reported "not claimed", never failed (:mod:`gateway_conformance.expectations`)."""

    agents: tuple[str, ...] | None = None
    surfaces: tuple[str, ...] | None = None
    profiles: tuple[str, ...] | None = None

    def claims_agent(self, agent: str) -> bool:
        """An agent is claimed when the agents list (if any) names it and the surfaces list
        (if any) names its surface; the gateway's own checks (agent ``gateway``) always are."""
        surface = AGENT_SURFACES.get(agent)
        if surface is None:
            return True
        return ((self.agents is None or agent in self.agents)
                and (self.surfaces is None or surface in self.surfaces))


@dataclass(frozen=True)
class UpstreamProfile:
    """A ``gateway-conformance serve`` the gateway under test uses as its provider (upstream mode)."""

    url: str
    admin_token_env: str


@dataclass(frozen=True)
class VersionProbe:
    """Where the gateway says its version: a header of, or a dotted JSON key in, ``GET path``."""

    path: str
    header: str | None = None
    json: str | None = None


@dataclass(frozen=True)
class Target:
    name: str | None = None
    version: str | None = None
    version_from: VersionProbe | None = None
    gateway_url: str | None = None
    surfaces: Mapping[str, SurfaceProfile] = field(
        default_factory=lambda: {s: SurfaceProfile(p) for s, p in DEFAULT_BASE_PATHS.items()})
    token_env: str = DEFAULT_TOKEN_ENV
    models: Mapping[str, str] = field(default_factory=lambda: dict(DOCUMENTED_MODELS))
    otlp: OtlpProfile = field(default_factory=OtlpProfile)
    claims: Claims = field(default_factory=Claims)
    expected_failures: Path | None = None
    upstream: UpstreamProfile | None = None
    image: str | None = None
    image_port: int = DEFAULT_IMAGE_PORT
    timeouts: Timeouts = field(default_factory=Timeouts)
    source: Path | None = None  # the profile file, for messages

    @property
    def external(self) -> bool:
        return self.gateway_url is not None

    @property
    def workspace_url(self) -> str | None:
        return self.otlp.url

    @property
    def otlp_token_env(self) -> str:
        return self.otlp.token_env or self.token_env

    @property
    def table_prefix(self) -> str:
        return self.otlp.table_prefix

    def model(self, agent: str) -> str:
        return self.models[agent]

    def surface(self, surface: str) -> SurfaceProfile:
        return self.surfaces.get(surface) or SurfaceProfile(DEFAULT_BASE_PATHS[surface])

    def surface_url(self, surface: str) -> str:
        """The surface's base URL at the gateway (an SDK's ``base_url``)."""
        if self.gateway_url is None:
            raise ValueError("the embedded mock's URLs come from the running mock")
        return (self.gateway_url.rstrip("/") + self.surface(surface).base_path).rstrip("/")

    def label(self) -> str:
        """``name version`` for reports and messages."""
        return " ".join(part for part in (self.name, self.version) if part) or "unnamed gateway"


def external_token(config: pytest.Config, env: str | None = None) -> Secret:
    """The external target's token, from the variable the profile (or ``--token-env``) names.

    The preflight (:mod:`gateway_conformance.preflight`) already stopped a run whose variable
    is unset; this skip only covers a fixture asked for outside such a run.
    """
    name = env or target_of(config).token_env
    token = os.environ.get(name)
    if not token:
        pytest.skip(f"external target: set the token in ${name} (named by the target profile or --token-env)")
    return Secret(token)


_TARGET_KEY = pytest.StashKey["Target"]()


def target_of(config: pytest.Config) -> Target:
    """The run's target, resolved once by :func:`configure`."""
    target = config.stash.get(_TARGET_KEY, None)
    if target is None:
        target = resolve(config)
        config.stash[_TARGET_KEY] = target
    return target


def set_target(config: pytest.Config, target: Target) -> None:
    """Replace the run's target (the image's mapped port, a version read from the gateway)."""
    config.stash[_TARGET_KEY] = target
    _write_back(config, target)


# ini key -> (the option it stands for, its ini type). Same meaning and format as the option.
INI_OPTIONS: dict[str, tuple[str, str]] = {
    "gwc_target": ("target", "string"),
    "gwc_gateway_url": ("gateway_url", "string"),
    "gwc_workspace_url": ("workspace_url", "string"),
    "gwc_token_env": ("token_env", "string"),
    "gwc_model": ("model", "linelist"),
    "gwc_remote_timeout": ("remote_timeout", "string"),
    "gwc_table_prefix": ("table_prefix", "string"),
    "gwc_uc_catalog": ("uc_catalog", "string"),
    "gwc_uc_schema": ("uc_schema", "string"),
    "gwc_gateway_image": ("gateway_image", "string"),
    "gwc_gateway_image_port": ("gateway_image_port", "string"),
}


def add_ini_options(parser: pytest.Parser) -> None:
    """Register :data:`INI_OPTIONS` (from ``pytest_addoption``)."""
    for name, (option, kind) in INI_OPTIONS.items():
        parser.addini(name, f"like --{option.replace('_', '-')}; the command line and the target file "
                            f"win over it (docs/platform-teams.md)", type=kind)  # type: ignore[arg-type]


def _ini(config: pytest.Config, option: str) -> Any:
    """The ini value standing for ``option`` (None when the ini file does not set it)."""
    name = next(key for key, (dest, _) in INI_OPTIONS.items() if dest == option)
    try:
        value = config.getini(name)
    except ValueError:  # the plugin's addoption did not run (a bare Config)
        return None
    return value or None


def _ini_number(config: pytest.Config, option: str, kind: type[int] | type[float]) -> Any:
    value = _ini(config, option)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise pytest.UsageError(f"ini gwc_{option} = {value!r} is not a number; "
                                f"write e.g. gwc_{option} = 60") from None


def _ini_path(config: pytest.Config) -> str | None:
    value = _ini(config, "target")
    if value is None or config.inipath is None:
        return value
    return str(config.inipath.parent / value)  # relative to the ini file, like pytest's own paths


def resolve(config: pytest.Config) -> Target:
    """Defaults < the ini file's ``gwc_*`` keys < the ``--target`` file < the command line."""
    from gateway_conformance.target_file import load_target_file

    option = config.getoption
    path = option("target", None) or _ini_path(config)
    extra_roots = [Path(p) for p in option("agents_dir", None) or []]
    defaults = Target(models=agent_models(extra_roots))  # the --agents-dir agents' models too
    loaded = load_target_file(Path(path)) if path else defaults

    def below_cli(file_value: Any, default: Any, ini: Any) -> Any:
        """The file's value where it sets one, else the ini's, else the default."""
        return file_value if file_value != default else (default if ini is None else ini)

    def text(dest: str, file_value: Any, default: Any) -> Any:
        return option(dest, None) or below_cli(file_value, default, _ini(config, dest))

    ini_read = _ini_number(config, "remote_timeout", float)
    read = option("remote_timeout", None)
    timeouts = (_read_timeouts(read) if read is not None else below_cli(
        loaded.timeouts, defaults.timeouts, None if ini_read is None else _read_timeouts(ini_read)))
    ini_models = parse_models(_ini(config, "model") or (), defaults.models)
    file_models = {agent: model for agent, model in loaded.models.items()
                   if defaults.models.get(agent) != model}
    return dataclasses.replace(
        loaded,
        gateway_url=text("gateway_url", loaded.gateway_url, defaults.gateway_url),
        token_env=text("token_env", loaded.token_env, defaults.token_env),
        models=parse_models(option("model", None) or (), {**ini_models, **file_models}),
        otlp=dataclasses.replace(
            loaded.otlp,
            url=text("workspace_url", loaded.otlp.url, defaults.otlp.url),
            table_prefix=text("table_prefix", loaded.otlp.table_prefix, defaults.otlp.table_prefix),
            catalog=text("uc_catalog", loaded.otlp.catalog, defaults.otlp.catalog),
            schema=text("uc_schema", loaded.otlp.schema, defaults.otlp.schema)),
        image=text("gateway_image", loaded.image, defaults.image),
        image_port=option("gateway_image_port", None) or below_cli(
            loaded.image_port, defaults.image_port, _ini_number(config, "gateway_image_port", int)),
        timeouts=timeouts)


def _read_timeouts(read: float | str) -> Timeouts:
    """``--remote-timeout SECONDS``: the read timeout, and a total of three reads (at least the default)."""
    return Timeouts(read=float(read), total=max(float(read) * 3, Timeouts.total))


def _write_back(config: pytest.Config, target: Target) -> None:
    """The merged values as options, for code that reads ``config.getoption``."""
    opt = config.option
    for name, value in (("gateway_url", target.gateway_url), ("workspace_url", target.otlp.url),
                        ("token_env", target.token_env), ("table_prefix", target.otlp.table_prefix),
                        ("uc_catalog", target.otlp.catalog), ("uc_schema", target.otlp.schema),
                        ("gateway_image", target.image), ("gateway_image_port", target.image_port),
                        ("remote_timeout", target.timeouts.read)):
        if hasattr(opt, name):
            setattr(opt, name, value)


class ContainerTarget:
    """Starts ``--gateway-image`` before collection and stops it at the end of the run.

    Fails closed: without testcontainers or a Docker engine the run stops before it starts
    (a run that skipped everything would look like one that passed).
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.container: object | None = None

    def start(self) -> None:
        target = target_of(self.config)
        image = target.image
        try:
            from docker.errors import DockerException
            from testcontainers.core.container import DockerContainer
        except ImportError as exc:
            raise pytest.UsageError(f"--gateway-image needs testcontainers ({exc}): "
                                    f"pip install 'gateway-conformance[containers]'") from None
        try:  # the client connects to the engine as soon as the container object exists
            container = DockerContainer(image).with_exposed_ports(target.image_port)
            if os.environ.get(target.token_env):
                container = container.with_env(target.token_env, os.environ[target.token_env])
            container.start()
        except DockerException as exc:
            raise pytest.UsageError(f"--gateway-image {image}: no Docker engine reachable ({exc}); "
                                    f"start Docker (or set DOCKER_HOST) or run without --gateway-image",
                                    ) from None
        try:
            url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(target.image_port)}"
            _wait_for_http(url, IMAGE_START_TIMEOUT)
        except BaseException:
            container.stop()
            raise
        self.container = container
        set_target(self.config, dataclasses.replace(target, gateway_url=url))

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
    """From ``pytest_configure``: resolve the target (fails early on a bad profile or
    ``--model``), write it back into the options, start the image if one is given."""
    target = resolve(config)
    set_target(config, target)
    if target.image and not target.gateway_url:
        container = ContainerTarget(config)
        config.pluginmanager.register(container, "gateway-conformance-container")
        container.start()

"""The one small interface every coding agent sits behind.

An agent is two things: an :class:`AgentSpec` (what it speaks, how it is launched, what its
traffic must show) read from ``fixtures/agents/<name>/agent.toml``, and a renderer that turns
a :class:`~gateway_conformance.agents.profile.TargetProfile` into the files of a HOME. The
spec is data so adding an agent is mostly a TOML file. Which layout each version range
needs is data too (``[[compat.layouts]]``: the first range whose ``since`` is not above the
version applies); the renderers hold the layouts themselves, by name, so a new version that
needs a known layout is a change to ``agent.toml`` plus a recorded cassette.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway_conformance.agents.profile import TargetProfile
from gateway_conformance.resources import data_dir

Layout = Literal["documented", "generated"]

SECRET_FILE_MODE = 0o600
PLAIN_FILE_MODE = 0o644
DIR_MODE = 0o700


def parse_version(version: str) -> tuple[int, ...]:
    """``"0.133.0"`` -> ``(0, 133, 0)``; a pre-release suffix (``-nightly``) is ignored."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)", version.strip())
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part) for part in match.group(1).split("."))


@dataclass(frozen=True)
class ConfigFile:
    """One file of a rendered HOME. ``secret``: it holds the token, so it is written 0600."""

    path: str  # relative to HOME, POSIX separators
    content: str
    secret: bool = False

    @property
    def mode(self) -> int:
        return SECRET_FILE_MODE if self.secret else PLAIN_FILE_MODE

    def __repr__(self) -> str:  # a token file's content never reaches a traceback
        content = f"<{len(self.content)} characters, holds the token>" if self.secret else repr(self.content)
        return f"ConfigFile(path={self.path!r}, content={content}, secret={self.secret})"


@dataclass(frozen=True)
class RenderedConfig:
    """Everything an agent needs to reach the gateway: files, environment, launch arguments.

    Exported variables that carry the token are kept as references (``token_env``: exported
    name -> the variable that holds the token), so a rendered config can be printed or
    logged without ever containing the token outside the files that must hold it.
    """

    agent: str
    layout: Layout
    agent_version: str | None
    files: tuple[ConfigFile, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    token_env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()

    def file(self, path: str) -> ConfigFile:
        return next(f for f in self.files if f.path == path)

    def write(self, home: Path) -> list[Path]:
        """Write the files under ``home``: folders 0700, token files 0600, nothing group-readable
        at any moment (the mode is set before the content goes in)."""
        written = []
        home.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for item in self.files:
            target = home / item.path
            for folder in reversed(target.relative_to(home).parents[:-1]):
                (home / folder).mkdir(mode=DIR_MODE, exist_ok=True)
                os.chmod(home / folder, DIR_MODE)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, item.mode)
            os.fchmod(fd, item.mode)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(item.content)
            written.append(target)
        return written

    def environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The variables to export, token references resolved from ``environ``."""
        resolved = dict(self.env)
        for name, source in self.token_env.items():
            if not environ.get(source):
                raise KeyError(f"${source} is not set: it must hold the gateway token")
            resolved[name] = environ[source]
        return resolved

    def export_lines(self) -> list[str]:
        """Shell lines a person pastes; a token only ever appears as ``"$VAR"``."""
        lines = [f"export {name}={shlex.quote(value)}" for name, value in self.env.items()]
        lines += [f'export {name}="${source}"' for name, source in self.token_env.items()
                  if name != source]
        return lines


@dataclass(frozen=True)
class ToolSpec:
    """The tool an agent uses to write a file, and its arguments as a template."""

    name: str
    arguments: Mapping[str, str]

    def call_arguments(self, path: str, text: str) -> dict[str, str]:
        return {key: value.replace("{path}", path).replace("{text}", text)
                for key, value in self.arguments.items()}


@dataclass(frozen=True)
class Traits:
    """What the agent's traffic must show at the gateway."""

    path: str
    user_agent_prefix: str
    session_header: str | None
    headers: Mapping[str, str]


@dataclass(frozen=True)
class LayoutRange:
    """``[[compat.layouts]]``: from version ``since`` on, the generated config uses ``layout``."""

    since: str
    layout: str
    note: str = ""  # what the layout does differently, for the matrix


@dataclass(frozen=True)
class AgentSpec:
    """An agent as data (``fixtures/agents/<name>/agent.toml``)."""

    name: str
    display_name: str
    surface: str
    npm_package: str | None
    bin: str | None
    launch_args: tuple[str, ...]
    tool_args: tuple[str, ...]
    prompt_flag: str | None
    launch_env: Mapping[str, str]
    traits: Traits
    tool: ToolSpec | None
    documented_max: str | None
    documented_note: str | None = None  # why the documented config fails past documented_max
    matrix_note: str | None = None  # the matrix row of an agent without a CLI (Cursor)
    layouts: tuple[LayoutRange, ...] = ()  # newest first

    @classmethod
    def load(cls, name: str, root: Path | None = None) -> AgentSpec:
        path = (root or data_dir() / "agents") / name / "agent.toml"
        with path.open("rb") as handle:
            raw: dict[str, Any] = tomllib.load(handle)
        launch, traits, tool = raw.get("launch", {}), raw["traits"], raw.get("tool")
        compat = raw.get("compat", {})
        layouts = sorted((LayoutRange(str(r["since"]), str(r["layout"]), str(r.get("note", "")))
                          for r in compat.get("layouts", ())),
                         key=lambda r: parse_version(r.since), reverse=True)
        return cls(
            name=raw["name"], display_name=raw["display_name"], surface=raw["surface"],
            npm_package=raw.get("npm_package") or None, bin=raw.get("bin") or None,
            launch_args=tuple(launch.get("args", ())), tool_args=tuple(launch.get("tool_args", ())),
            prompt_flag=launch.get("prompt_flag") or None, launch_env=dict(launch.get("env", {})),
            traits=Traits(path=traits["path"], user_agent_prefix=traits.get("user_agent_prefix", ""),
                          session_header=traits.get("session_header") or None,
                          headers=dict(traits.get("headers", {}))),
            tool=ToolSpec(tool["name"], dict(tool["arguments"])) if tool else None,
            documented_max=compat.get("documented_max") or None,
            documented_note=compat.get("documented_note") or None,
            matrix_note=compat.get("matrix_note") or None, layouts=tuple(layouts),
        )

    @property
    def runnable(self) -> bool:
        """Whether there is a CLI to launch (Cursor is a desktop app)."""
        return self.npm_package is not None and self.bin is not None

    def documented_works(self, version: str) -> bool:
        """The expected outcome of the documented config on ``version`` (SPEC section 5)."""
        return self.documented_max is None or parse_version(version) <= parse_version(self.documented_max)

    def layout_range(self, version: str | None) -> LayoutRange | None:
        """The ``[[compat.layouts]]`` entry for ``version`` (unknown: the newest)."""
        if not self.layouts:
            return None
        if version is None:
            return self.layouts[0]
        return next((r for r in self.layouts if parse_version(r.since) <= parse_version(version)), None)

    def layout_for(self, version: str | None) -> str | None:
        found = self.layout_range(version)
        return found.layout if found else None

    def layout_note(self, version: str) -> str | None:
        found = self.layout_range(version)
        return found.note or None if found else None

    def argv(self, prompt: str, rendered: RenderedConfig, *, allow_tools: bool = False) -> list[str]:
        """The CLI arguments (after the executable) that answer ``prompt`` and exit."""
        tail = [self.prompt_flag, prompt] if self.prompt_flag else [prompt]
        return [*self.launch_args, *rendered.args, *(self.tool_args if allow_tools else ()), *tail]


class Renderer(Protocol):
    def __call__(self, profile: TargetProfile, *, agent_version: str | None,
                 as_documented: bool) -> RenderedConfig: ...


@dataclass(frozen=True)
class Agent:
    spec: AgentSpec
    render: Renderer

    @property
    def name(self) -> str:
        return self.spec.name

"""The target profile file (``--target FILE.toml``): one gateway, described once.

A platform team writes one file per gateway (format and a walk-through in
docs/platform-teams.md; examples in ``examples/targets/``). The file never holds a token:
it names the environment variables that do. Every key is checked, and an unknown key or a
wrong type stops the run with the file, the key and what was expected, because a typo in a
profile would otherwise quietly test the defaults instead of the gateway.

Relative paths in the file (``expected_failures``) are relative to the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from gateway_conformance.remote import Timeouts
from gateway_conformance.target import (
    AGENT_SURFACES,
    AUTH_SCHEMES,
    DEFAULT_BASE_PATHS,
    DEFAULT_CATALOG,
    DEFAULT_IMAGE_PORT,
    DEFAULT_SCHEMA,
    DEFAULT_TABLE_PREFIX,
    DEFAULT_TOKEN_ENV,
    DOCUMENTED_MODELS,
    SURFACES,
    AuthScheme,
    Claims,
    OtlpProfile,
    SurfaceProfile,
    Target,
    UpstreamProfile,
    VersionProbe,
)

TOP_KEYS = {"name", "version", "version_from", "url", "token_env", "timeout", "image", "image_port",
            "surfaces", "models", "otlp", "claims", "expected_failures", "upstream"}


class TargetFileError(pytest.UsageError):
    """A profile that cannot be used: one line naming the file, the key and the fix."""


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, message: str) -> TargetFileError:
        return TargetFileError(f"--target {self.path}: {key} {message}")

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str], where: str = "",
              ) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(where + key, f"must be a table, got {type(value).__name__}")
        self.known(value, allowed, where + key)
        return value

    def known(self, data: Mapping[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            prefix = f"{where}." if where else ""
            known = ", ".join(sorted(allowed))
            raise self.error(prefix + unknown[0], f"is not a profile key; known: {known}")

    def string(self, data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str | None:
        value = data.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(f"{where}{key}", f"must be a non-empty string, got {value!r}")
        return value

    def strings(self, data: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...] = (),
                ) -> tuple[str, ...] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"{where}{key}", f"must be a list of strings, got {value!r}")
        bad = [v for v in value if choices and v not in choices]
        if bad:
            raise self.error(f"{where}{key}", f"names {bad[0]!r}; known: {', '.join(choices)}")
        return tuple(value)

    def env_name(self, data: Mapping[str, Any], key: str, where: str, default: str | None = None,
                 ) -> str | None:
        """A variable's name; a value that looks like a token is refused (tokens never go in the file)."""
        value = self.string(data, key, where, default)
        if value is not None and not value.replace("_", "").isalnum():
            raise self.error(f"{where}{key}", "must name an environment variable (letters, digits, _), "
                                              "not hold a token: export the token and name its variable here")
        return value

    def url(self, data: Mapping[str, Any], key: str, where: str) -> str | None:
        value = self.string(data, key, where)
        if value is not None and not value.startswith(("http://", "https://")):
            raise self.error(f"{where}{key}", f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value else value


def load_target_file(path: Path) -> Target:
    """Read and validate a profile; any problem raises :class:`TargetFileError` (one line)."""
    reader = _Reader(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TargetFileError(f"--target {path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetFileError(f"--target {path}: not TOML: {exc}") from None
    reader.known(data, TOP_KEYS, "")
    token_env = reader.env_name(data, "token_env", "", DEFAULT_TOKEN_ENV) or DEFAULT_TOKEN_ENV
    timeout = data.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or isinstance(timeout, bool)
                                or timeout <= 0):
        raise reader.error("timeout", f"must be a positive number of seconds, got {timeout!r}")
    port = data.get("image_port", DEFAULT_IMAGE_PORT)
    if not isinstance(port, int) or isinstance(port, bool):
        raise reader.error("image_port", f"must be an integer, got {port!r}")
    expected = reader.string(data, "expected_failures", "")
    return Target(
        name=reader.string(data, "name", ""),
        version=reader.string(data, "version", ""),
        version_from=_version_probe(reader, data),
        gateway_url=reader.url(data, "url", ""),
        surfaces=_surfaces(reader, data),
        token_env=token_env,
        models=_models(reader, data),
        otlp=_otlp(reader, data),
        claims=_claims(reader, data),
        expected_failures=(path.parent / expected).resolve() if expected else None,
        upstream=_upstream(reader, data),
        image=reader.string(data, "image", ""),
        image_port=port,
        timeouts=(Timeouts(read=float(timeout), total=max(float(timeout) * 3, Timeouts.total))
                  if timeout is not None else Timeouts()),
        source=path,
    )


def _version_probe(reader: _Reader, data: Mapping[str, Any]) -> VersionProbe | None:
    if "version_from" not in data:
        return None
    table = reader.table(data, "version_from", {"path", "header", "json"})
    path = reader.string(table, "path", "version_from.")
    if not path or not path.startswith("/"):
        raise reader.error("version_from.path", f"must be a path starting with /, got {path!r}")
    header = reader.string(table, "header", "version_from.")
    key = reader.string(table, "json", "version_from.")
    if (header is None) == (key is None):
        raise reader.error("version_from", "needs exactly one of header = \"NAME\" or json = \"dotted.key\"")
    return VersionProbe(path=path, header=header, json=key)


def _surfaces(reader: _Reader, data: Mapping[str, Any]) -> dict[str, SurfaceProfile]:
    tables = reader.table(data, "surfaces", set(SURFACES))
    surfaces = {}
    for surface in SURFACES:
        where = f"surfaces.{surface}."
        table = (reader.table(tables, surface, {"base_path", "auth", "headers"}, "surfaces.")
                 if surface in tables else {})
        base_path = reader.string(table, "base_path", where, DEFAULT_BASE_PATHS[surface]) or ""
        if not base_path.startswith("/"):
            raise reader.error(f"{where}base_path", f"must start with /, got {base_path!r}")
        auth = reader.string(table, "auth", where, "bearer")
        if auth not in AUTH_SCHEMES:
            raise reader.error(f"{where}auth", f"must be one of {', '.join(AUTH_SCHEMES)}, got {auth!r}")
        headers = table.get("headers", {})
        if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
            raise reader.error(f"{where}headers", f"must be a table of strings, got {headers!r}")
        surfaces[surface] = SurfaceProfile(base_path=base_path.rstrip("/") or "/",
                                           auth=cast(AuthScheme, auth), headers=dict(headers))
    return surfaces


def _models(reader: _Reader, data: Mapping[str, Any]) -> dict[str, str]:
    table = reader.table(data, "models", set(AGENT_SURFACES))
    models = dict(DOCUMENTED_MODELS)
    for agent in table:
        models[agent] = reader.string(table, agent, "models.") or models[agent]
    return models


def _otlp(reader: _Reader, data: Mapping[str, Any]) -> OtlpProfile:
    table = reader.table(data, "otlp", {"url", "token_env", "table_prefix", "catalog", "schema"})
    return OtlpProfile(url=reader.url(table, "url", "otlp."),
                       token_env=reader.env_name(table, "token_env", "otlp."),
                       table_prefix=reader.string(table, "table_prefix", "otlp.", DEFAULT_TABLE_PREFIX)
                       or DEFAULT_TABLE_PREFIX,
                       catalog=reader.string(table, "catalog", "otlp.", DEFAULT_CATALOG) or DEFAULT_CATALOG,
                       schema=reader.string(table, "schema", "otlp.", DEFAULT_SCHEMA) or DEFAULT_SCHEMA)


def _claims(reader: _Reader, data: Mapping[str, Any]) -> Claims:
    table = reader.table(data, "claims", {"agents", "surfaces", "profiles"})
    return Claims(agents=reader.strings(table, "agents", "claims.", tuple(AGENT_SURFACES)),
                  surfaces=reader.strings(table, "surfaces", "claims.", SURFACES),
                  profiles=reader.strings(table, "profiles", "claims."))


def _upstream(reader: _Reader, data: Mapping[str, Any]) -> UpstreamProfile | None:
    if "upstream" not in data:
        return None
    table = reader.table(data, "upstream", {"url", "admin_token_env"})
    url = reader.url(table, "url", "upstream.")
    if url is None:
        raise reader.error("upstream.url", "is required in an [upstream] table")
    admin = reader.env_name(table, "admin_token_env", "upstream.", "GATEWAY_CONFORMANCE_ADMIN_TOKEN")
    return UpstreamProfile(url=url, admin_token_env=admin or "GATEWAY_CONFORMANCE_ADMIN_TOKEN")

"""A TOML file read for a caller that reports problems in its own one-line error type.

The check catalogue, agent folders and real-gateway launches each read TOML files and each
fail with their own exception (so the CLI and pytest print one line naming the file); what
they share, turning an unreadable or malformed file into that line, is written here once.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path, where: str, error: type[Exception]) -> dict[str, Any]:
    """The document in ``path``; if it cannot be read or is not TOML, ``error("<where>: <why>")``."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{where}: {exc}") from None

"""Repository-wide check: nothing under ``fixtures/`` looks like a token.

Every text file is scanned with the same patterns the recorder refuses to save, and every
cassette gets the full structural check (credential headers and key query parameters must
hold the placeholder). The scanner is first shown to catch a planted token, so an empty
result means something.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_conformance.resources import data_dir
from gateway_conformance.traffic.cassette import Cassette
from gateway_conformance.traffic.redact import find_secrets, scan_text

TEXT_SUFFIXES = {".json", ".toml", ".sql", ".md", ".txt", ".env", ".sh", ".py", ".yaml", ".yml", ""}


def scan_tree(root: Path) -> list[str]:
    """``path: pattern`` for each token-shaped string in the text files under ``root``."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix not in TEXT_SUFFIXES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(root)}: {kind}" for kind in scan_text(text)]
        if path.suffix == ".json" and path.parent.name == "cassettes":
            found += [f"{path.relative_to(root)}: {f}" for f in find_secrets(Cassette.load(path))]
    return found


def test_scanner_catches_a_planted_token(tmp_path: Path) -> None:
    (tmp_path / "agents" / "x").mkdir(parents=True)
    (tmp_path / "agents" / "x" / "notes.md").write_text("key: " + "AIza" + "Q" * 35 + "\n")
    (tmp_path / "clean.toml").write_text('surface = "gemini"\n')
    assert scan_tree(tmp_path) == ["agents/x/notes.md: google-api-key"]


def test_fixtures_hold_no_token_shaped_strings() -> None:
    root = data_dir()
    if not any(root.rglob("*")):
        pytest.fail(f"{root} is empty: the scan would prove nothing")
    assert scan_tree(root) == []

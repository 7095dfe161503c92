"""The Secret type and the scrubber behind it (contract C1; issue 14 item 1)."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass

import pytest

from gateway_conformance.agents.base import ConfigFile
from gateway_conformance.secret import REDACTED, Secret, known_values, reveal, scrub

VALUE = "gwc-unit-test-value-4f9a2c"


@dataclass
class Holder:
    token: Secret


def test_every_way_of_formatting_hides_the_value() -> None:
    token = Secret(VALUE)
    percent = "%s" % (token,)  # noqa: UP031  (old-style formatting must hide it too)
    shown = [repr(token), str(token), f"{token}", f"{token!r}", percent, repr(Holder(token)),
             repr({"t": token}), f"{token:>20}"]
    assert all(VALUE not in text for text in shown), shown
    assert repr(token) == "Secret('***')" and repr(Secret("")) == "Secret('')"
    with pytest.raises(TypeError):
        json.dumps({"token": token})


def test_reveal_equality_truthiness() -> None:
    token = Secret(VALUE)
    assert token.reveal() == VALUE == reveal(token) == reveal(VALUE)
    assert token == Secret(VALUE) and token != Secret(VALUE + "x") and token != VALUE
    assert bool(token) and not Secret("") and not Secret(None) and reveal(None) == ""
    assert Secret(token).reveal() == VALUE and hash(token) == hash(Secret(VALUE))
    assert pickle.loads(pickle.dumps(token)) == token
    with pytest.raises(TypeError):
        Secret(42)  # type: ignore[arg-type]


def test_scrub_replaces_every_remembered_value_and_nothing_short() -> None:
    Secret(VALUE)
    Secret("short")  # too short to scrub: it would mangle ordinary words
    assert VALUE in known_values() and "short" not in known_values()
    assert scrub(f"a {VALUE} b {VALUE}") == f"a {REDACTED} b {REDACTED}"
    assert scrub("short words stay") == "short words stay"


def test_a_token_file_does_not_show_its_content() -> None:
    secret_file = ConfigFile(".claude/settings.json", f'{{"token": "{VALUE}"}}', secret=True)
    plain = ConfigFile("profile.toml", "model = 'x'")
    assert VALUE not in repr(secret_file) and "holds the token" in repr(secret_file)
    assert "model = 'x'" in repr(plain)

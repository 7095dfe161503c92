"""The size of the bounded campaigns under tests/campaigns (contract C6).

``GWC_CAMPAIGN_SCALE`` is a positive number multiplying every campaign's case count: unset
or 1 is the CI size, ``./tasks fuzz`` and ``./tasks load`` run larger (e.g. 10). A value
that is not a positive number stops the run with one line rather than running a size
nobody asked for.
"""

from __future__ import annotations

import os

import pytest

SCALE_ENV = "GWC_CAMPAIGN_SCALE"


def campaign_scale() -> float:
    text = os.environ.get(SCALE_ENV, "").strip() or "1"
    try:
        scale = float(text)
    except ValueError:
        raise pytest.UsageError(f"{SCALE_ENV}={text!r} is not a number: give 1 or e.g. 10") from None
    if not scale > 0:
        raise pytest.UsageError(f"{SCALE_ENV}={text!r} must be more than 0")
    return scale

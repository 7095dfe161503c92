"""The gateway conformance suite: what `pytest --conformance` collects and runs."""

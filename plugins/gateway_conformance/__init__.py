"""gateway-conformance: prove an AI gateway for coding agents works.

The pytest plugin lives in :mod:`gateway_conformance.plugin`; the command line in
:mod:`gateway_conformance.cli`. Everything else is importable on its own.
"""

__version__ = "0.1.0"

"""Agents as the checks see them (re-exported from :mod:`gateway_conformance.roster`, the list)."""

from gateway_conformance.roster import agent_models, agent_name, agent_surfaces

__all__ = ["agent_models", "agent_name", "agent_surfaces"]

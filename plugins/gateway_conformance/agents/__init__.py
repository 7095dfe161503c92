"""Coding agents behind one interface: specs, renderers, installations and launching.

See :mod:`.registry` for the list, :mod:`.base` for the interface, :mod:`.launch` to run one.
"""

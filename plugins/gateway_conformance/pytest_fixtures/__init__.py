"""The plugin's fixtures, one module per server they stand up (registered by plugin.py).

plugin.py imports helpers from these modules before pytest registers them as plugins, so
they are marked for assertion rewriting here, first: else pytest warns on every run that
they were imported too early to be rewritten.
"""

import pkgutil

import pytest

pytest.register_assert_rewrite(*(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__)))

"""The suite's pytest plugin: the only place with hooks and fixtures.

Registered by the ``pytest11`` entry point named ``se_dualstack.plugins`` (``pip install .``) and
by the project's one-line ``conftest.py``; pytest skips a plugin already registered under its
module name, so the two never register it twice. Each module below is one concern of the wiring;
each imports :mod:`.state` and :mod:`.outcomes` and never a sibling
(:mod:`.invocation`, the command line as typed, imports neither).
"""

pytest_plugins = [
    "se_dualstack.plugins.invocation",
    "se_dualstack.plugins.state",
    "se_dualstack.plugins.outcomes",
    "se_dualstack.plugins.hosts",
    "se_dualstack.plugins.groups",
    "se_dualstack.plugins.report",
    "se_dualstack.plugins.results",
    "se_dualstack.plugins.waivers",
    "se_dualstack.plugins.transfers",
    "se_dualstack.plugins.families",
]

"""The project's own tests: pytester drives the plugin in throw-away pytest runs."""

pytest_plugins = ["pytester"]

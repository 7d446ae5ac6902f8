pytest_plugins = ["se_dualstack.plugin"]

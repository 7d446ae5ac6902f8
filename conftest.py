pytest_plugins = ["se_dualstack.plugins"]

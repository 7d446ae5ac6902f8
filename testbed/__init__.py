"""Site in a box: a dual-stack grid storage element built from Linux namespaces.

Command line: ``python -m testbed [--name NAME] up|status|exec|run|fault|faults|down``
(testbed/cli.py). The acceptance suite (se_dualstack, tests/) never imports this package; it
only reads what `up` generates: inventory.yml, ssh_config, x509/ under /run/se-testbed/<name>/.
"""

"""gfal2 transfer runner: real files copied to and from the SE, one address family per process.

Never imports pytest: the transfers plugin wires it into a run, the benchmarks drive it directly.
Each module owns its names; import from the owner (no re-exports here):

* :mod:`~se_dualstack.transfer.protocols`: the protocol registry, one module per protocol (scheme,
  port, services, forcing, credentials, third-party copy, redirects, gfal-copy pieces)
* :mod:`~se_dualstack.transfer.cases`: settings, SE URLs and the path guard, one case per test
* :mod:`~se_dualstack.transfer.evidence`: which family a worker really used
* :mod:`~se_dualstack.transfer.shim`: the LD_PRELOAD family shim
* :mod:`~se_dualstack.transfer.proxy`: is the grid proxy usable
* :mod:`~se_dualstack.transfer.worker`, :mod:`~se_dualstack.transfer.gfal_worker`: the gfal2
  processes (parent side, child side)
* :mod:`~se_dualstack.transfer.files`: the local random file, ADLER32, compare
* :mod:`~se_dualstack.transfer.outcome`: steps and results as plain data
* :mod:`~se_dualstack.transfer.steps`: the round trip and the third-party copy, step by step
* :mod:`~se_dualstack.transfer.commands`: the gfal-copy lines to repeat a transfer by hand
* :mod:`~se_dualstack.transfer.stats`, :mod:`~se_dualstack.transfer.render`: figures and HTML
* :mod:`~se_dualstack.transfer.pool`: transfers side by side, each slot with its own warm workers
* :mod:`~se_dualstack.transfer.tokens`: WLCG bearer tokens (discovery, claims)
* :mod:`~se_dualstack.transfer.addresses`: one round trip per address of a name, who is at fault
"""

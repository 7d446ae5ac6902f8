"""Monitoring outputs over result files: a Nagios/Icinga probe, a Prometheus textfile, the
nightly history page, and their ``se-dualstack`` subcommands (:mod:`.cli`).

Why a floor of its own: sites look at the nightly result where they look at everything else
(Nagios, Icinga, Checkmk, ETF/ARGO probes; Prometheus). These renderers read the result file's
records through :class:`~se_dualstack.reporting.resultfile.ResultDoc` (no second parser) and the
transfer figures through :mod:`se_dualstack.transfer.stats`, so they sit above both, as
:mod:`se_dualstack.compare` does.
"""

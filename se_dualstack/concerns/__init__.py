"""Pure logic per concern (one module per pytest marker): parsed outputs in, verdicts out, no I/O."""

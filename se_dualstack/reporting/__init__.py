"""Pure renderers over a run's outcomes (records in, HTML/text out); no pytest, no I/O."""

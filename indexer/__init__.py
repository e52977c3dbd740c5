"""xmodal's command line: index, remove, search, serve, stats, eval, models."""

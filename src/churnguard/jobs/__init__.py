"""Jobs: wire configuration, files and progress around the pure stage functions."""

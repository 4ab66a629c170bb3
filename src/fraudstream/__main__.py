"""``python -m fraudstream``: the ``fraudstream`` command (what the stream demo starts workers with)."""

from fraudstream.cli import main

main()

"""Run the data pipeline in-process, as `churnguard pipeline` does (for schedulers that call scripts).

Usage:
    python scripts/run_pipeline.py [--source SOURCE] [--offline-fallback]
"""

from __future__ import annotations

import sys

from churnguard.cli import main

if __name__ == "__main__":
    main(["pipeline", *sys.argv[1:]])

"""Monitoring: online drift (river), delayed-label quality, metrics (issue 16)."""

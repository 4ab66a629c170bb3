"""Data stages: ingest, validate, preprocess, and the synthetic generator."""

"""Monitoring: prediction log, drift, quality from delayed labels, reports and the retraining trigger."""

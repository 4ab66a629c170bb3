"""Model stages: estimators, training, tuning, evaluation, registry."""

"""Training: the data stages and the batch-trained model, registered behind a gate.

The data stages: ingest → validate → features. The model: protocol, selection, metrics, MLflow
tracking, registry, gate, audit, rollback. Import the modules themselves
(``fraudstream.training.pipeline``, ``…train``, ``…registry``); this package file imports
nothing, so reading one part never loads MLflow or LightGBM.
"""

__all__: list[str] = []

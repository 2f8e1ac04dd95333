"""Floor 4, deployment next to a machine: the inference form, ONNX export, decision thresholds, the monitor.

Modules: ``inference`` (BatchNorm folded, exportable log-Mel, per-class scores), ``export`` (ONNX
files with metadata, ``load_scorer``), ``thresholds`` (per-ID gamma fits on training normals),
``monitor`` (scoring clips as they arrive). Imports only the floors below it.
Explained in notebook 08_deployment.
"""

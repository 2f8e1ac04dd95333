"""Floor 3, the engine: run configurations, training, checkpoints, evaluation, metrics, complexity, threads.

Modules: ``config`` (``RunConfig``), ``checkpoints`` (the checkpoint format, the safe loader, the
errors), ``authors_checkpoint`` (the authors' released weights), ``train`` (seeded, resumable,
DDP), ``evaluate`` (scoring and the three selection protocols), ``metrics`` (official, pooled and
global AUC/pAUC), ``complexity`` (parameters, MACs, latency), ``cpu`` (threads). Imports only the
floors below it. Explained in notebooks 03_training and 04_evaluation.
"""

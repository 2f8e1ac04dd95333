"""asdlib: the library behind the notebooks reproducing Neri & Carli (IEEE Sensors Letters 2024).

The package is built in floors, each a subpackage that imports only the floors below it
(docs/architecture.md; tests/test_layering.py checks it):

- ``paths``, ``outputs``, ``validate``  floor 0: every path and ``ASD_*`` setting; saving tables and
  figures; checks of settings
- ``data``      DCASE 2020 Task 2 facts, WAV loading, clip tables and stores, synthetic sounds, downloads
- ``nets``      features, layers, MobileFaceNet, loss, the proposed model, the peers, the authors' network
- ``engine``    run configurations, checkpoints, training, evaluation, metrics, complexity, threads
- ``deploy``    the inference form, ONNX export, decision thresholds, the monitor
- ``study``     profiles and runs, the paper's tables built once, attention analysis, preflight,
  REPORT.md, the paper's numbers, the authors' score arrays, peer comparison, measured run times
- ``teaching``  the exercises' solutions, the student edition's checkers and every figure
- ``cli``       ``python -m asdlib <command>``

Each module's docstring names the notebook that explains it. Importing asdlib changes no global
state (the command line and the notebooks set the thread count themselves).
"""

__version__ = "0.1.0"

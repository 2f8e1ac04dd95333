"""Floor 1, the data: DCASE 2020 Task 2 facts, WAV loading, clip tables, clip stores, synthetic sounds, downloads.

Modules: ``dcase`` (machine types, IDs, label maps, archives, file counts), ``audio`` (WAV
loading with soundfile), ``dataset`` (a DCASE-layout folder as a clip table), ``store`` (decoded
clips kept as int16), ``synthetic`` (deterministic machine sounds for the smoke profile),
``download`` (checksum-verified downloads and extraction), ``local_data`` (accepting a tree you
already have). Imports only ``asdlib.paths`` / ``asdlib.outputs`` below it (docs/architecture.md).
Explained in notebook 01_data.
"""

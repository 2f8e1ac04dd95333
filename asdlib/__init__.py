"""asdlib: the library behind the notebooks reproducing Neri & Carli (IEEE Sensors Letters 2024).

Modules, each named for what it holds (the notebook that explains each is given in its docstring):

- ``paths``        where data, results and configurations live (one place)
- ``dcase``        DCASE 2020 Task 2 facts: machine types, IDs, label maps, archives, file counts
- ``audio``        WAV loading with soundfile, cut/pad to a fixed length
- ``dataset``      scanning a folder in the DCASE layout into a clip table
- ``synthetic``    a deterministic generator of synthetic machine sounds in the DCASE layout
- ``download``     checksum-verified, resumable download and extraction of the DCASE archives
- ``layers``       separable convolutions exactly as the authors' ``separableconv-torch`` builds them
- ``features``     log-Mel spectrogram and the separable Wavegram
- ``mobilefacenet``the MobileFaceNet classifier
- ``model``        the proposed network and its ablation variants (``ModelConfig``)
- ``authors_checkpoint`` loading the authors' released Lightning checkpoint
- ``loss``         ArcFace head, waveform mixup, Noisy-ArcMix loss, anomaly score
- ``metrics``      AUC/pAUC per machine ID (official) and the authors' pooled per-type protocol
- ``complexity``   parameters per part, multiply-accumulates, CPU latency
- ``inference``    the inference form: BatchNorm folded, exportable log-Mel, per-class scores
- ``export``       ONNX export with metadata; scorers for ``.onnx`` files and checkpoints
- ``thresholds``   per-ID decision thresholds (gamma fit on the training normals' scores)
- ``monitor``      scoring clips as they arrive (watched folder, long WAV, stdin), JSON lines
- ``authors_network`` the authors' network in plain eager PyTorch: the speed baseline
- ``cpu``          threads from the usable cores (affinity, cgroup quota, ``ASD_THREADS``)
- ``exercises``    solutions of the notebooks' exercises
- ``peers``        the peer methods: STgram-MFN, TASTgram-MFN, IDNN, the DCASE 2020 autoencoder
- ``methods``      the peers in the engine: building them from a config, their training step
- ``comparison``   methods compared over seeds: Tables 1 and 2 with measured rows beside quoted ones
"""

__version__ = "0.1.0"

"""Floor 2, the networks: features, layers, MobileFaceNet, the loss, the proposed model, the peers, the authors' network.

Modules: ``features`` (log-Mel, separable Wavegram), ``layers`` (separable convolutions),
``mobilefacenet``, ``loss`` (ArcFace, mixup, Noisy-ArcMix, anomaly score), ``model``
(``ModelConfig``, ``ASDNet``, ``build_model``), ``peers/`` (STgram-MFN, TASTgram-MFN, IDNN, the
DCASE autoencoder; ``peers.build``), ``methods`` (what differs per method in training),
``authors_network`` (the authors' network and key names). Imports only ``asdlib.data`` and floor 0.
Explained in notebooks 02_features, 03_training and 07_peers.
"""

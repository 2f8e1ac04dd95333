"""The inference form, under its deployment name: ``asdlib.nets.inference`` (where it lives, so that the
engine scores checkpoints with it too) re-exported for export, monitoring and notebook 08.

Explained in notebook 08_deployment.
"""

from __future__ import annotations

from asdlib.nets.inference import (ENGINE_SCORE_TOLERANCE, SCORE_TOLERANCE, ChannelAffine,
                                   ExportableLogMel, FoldedMobileFaceNet, InferenceNet, PReLUAsMax,
                                   class_scores, fold_batchnorm, inference_form)

__all__ = ["ENGINE_SCORE_TOLERANCE", "SCORE_TOLERANCE", "ChannelAffine", "ExportableLogMel",
           "FoldedMobileFaceNet", "InferenceNet", "PReLUAsMax", "class_scores", "fold_batchnorm",
           "inference_form"]

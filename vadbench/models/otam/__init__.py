"""OTAM (Cao et al., CVPR 2020): ordered temporal alignment for few-shot action recognition (no official
code; reference: tobyperrett/few-shot-action-recognition)."""

from vadbench.models.otam.lightning_model import OTAM
from vadbench.models.otam.loss import OTAMLoss, otam_loss
from vadbench.models.otam.torch_model import (OTAMHeadConfig, OTAMModel, frame_cosine_distance,
                                              otam_cumulative_distance, otam_video_distance)

__all__ = ["OTAM", "OTAMHeadConfig", "OTAMLoss", "OTAMModel", "frame_cosine_distance", "otam_cumulative_distance",
           "otam_loss", "otam_video_distance"]

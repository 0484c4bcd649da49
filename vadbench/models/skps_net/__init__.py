"""SKPS-Net: spatio-temporal key patch selection for few-shot anomalous action recognition."""

from vadbench.models.skps_net.lightning_model import SKPSNet
from vadbench.models.skps_net.loss import SKPSLoss, skps_loss
from vadbench.models.skps_net.torch_model import (LongShortRelation, MotionMapRelation, SKPSNetModel, SKPSOutputs,
                                                  TemporalMapRelation, crop_patches, hausdorff_distance,
                                                  select_centres, shift_vectors, shift_weights)

__all__ = ["LongShortRelation", "MotionMapRelation", "SKPSNet", "SKPSLoss", "SKPSNetModel", "SKPSOutputs",
           "TemporalMapRelation", "crop_patches", "hausdorff_distance", "select_centres", "shift_vectors",
           "shift_weights", "skps_loss"]

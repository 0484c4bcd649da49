from vadbench.models.ssrl.lightning_model import SSRL, StagedMILModule
from vadbench.models.ssrl.loss import SSRLLoss
from vadbench.models.ssrl.staging import StageCheckpointError, load_stage
from vadbench.models.ssrl.torch_model import PatchAggregation, SSRLModel, mpa_conv_geometry

__all__ = ["SSRL", "SSRLLoss", "SSRLModel", "PatchAggregation", "StagedMILModule", "StageCheckpointError",
           "load_stage", "mpa_conv_geometry"]

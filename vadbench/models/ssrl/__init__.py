from vadbench.models.ssrl.lightning_model import SSRL
from vadbench.models.ssrl.torch_model import PatchAggregation, SSRLModel, mpa_conv_geometry

__all__ = ["SSRL", "SSRLModel", "PatchAggregation", "mpa_conv_geometry"]
